//! What nodes say to each other over Redis pub/sub (JSON), and the names of the keys and
//! channels. Commands travel as the client's own frame (the owner parses it again with
//! `huddle_protocol`), and events come back already encoded for the socket: neither side
//! needs a second serialization of the room core's types.

use huddle_room::{Grants, StreamState, StreamStatus};
use serde::{Deserialize, Serialize};

/// Every key and channel starts with this, so a Redis shared with other software is safe.
const PREFIX: &str = "huddle";

/// The heartbeat key of a node (its [`NodeInfo`], with a TTL).
pub(crate) fn node_key(node: &str) -> String {
    format!("{PREFIX}:node:{node}")
}

/// The sorted set of registered nodes (member: node id, score: its last heartbeat in Unix
/// ms), so `GET /admin/nodes` reads the registry without scanning the key space.
pub(crate) fn nodes_key() -> String {
    format!("{PREFIX}:nodes")
}

/// The hash of the rooms a node owns (field: room name, value: [`RoomLoad`] JSON), rewritten
/// at each lease refresh, with the lease's TTL.
pub(crate) fn rooms_of_key(node: &str) -> String {
    format!("{PREFIX}:rooms-of:{node}")
}

/// The lease key of a room (value: the owner's node id, with a TTL).
pub(crate) fn room_key(room: &str) -> String {
    format!("{PREFIX}:room:{room}")
}

/// Inputs for the rooms a node owns ([`ToOwner`]).
pub(crate) fn inputs_channel(node: &str) -> String {
    format!("{PREFIX}:node:{node}:in")
}

/// Events for the sessions a node relays ([`ToEdge`]).
pub(crate) fn events_channel(node: &str) -> String {
    format!("{PREFIX}:node:{node}:out")
}

/// What a node announces in its heartbeat key.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NodeInfo {
    pub id: String,
    /// Where operators reach the node's HTTP API (`public_url`, or derived from the
    /// announced IP and the HTTP port).
    pub url: String,
    /// The node's UDP media address, as announced in its ICE candidates.
    pub media: String,
    pub started_unix_ms: u64,
}

/// What the owner publishes of each room it holds (cheap to count from its snapshot).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RoomLoad {
    pub participants: usize,
    pub streams: usize,
}

/// Edge → owner: one input of a session the edge relays.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ToOwner {
    /// The edge node.
    pub from: String,
    /// The session's id on the edge node.
    pub session: u64,
    pub body: OwnerBody,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum OwnerBody {
    /// Opens the session on the owner, with the login the edge established.
    Connect {
        login: String,
        grants: Option<WireGrants>,
    },
    /// A client frame (`sendData`, `publishStream`, ...), exactly as the client sent it.
    Command { text: String },
    /// The client is gone.
    Disconnect,
}

/// Owner → edge: an event for one relayed session.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ToEdge {
    pub session: u64,
    pub body: EdgeBody,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum EdgeBody {
    /// A message for the socket, already encoded. `status`: the message is a stream
    /// status, given again as fields: the edge settles its media admission with it and tells
    /// the WCS `StreamStatusEvent` hook, as for a local stream.
    Message {
        text: String,
        status: Option<WireStreamStatus>,
    },
    /// The owner dropped the session (too slow to read): the edge closes the socket.
    Closed,
}

/// [`StreamStatus`] on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WireStreamStatus {
    pub media_session_id: String,
    pub name: String,
    pub published: bool,
    pub has_audio: bool,
    pub has_video: bool,
    pub record: bool,
    /// [`StreamState::as_str`].
    pub status: String,
    pub info: String,
    pub record_name: Option<String>,
}

impl From<&StreamStatus> for WireStreamStatus {
    fn from(s: &StreamStatus) -> Self {
        Self {
            media_session_id: s.media_session_id.clone(),
            name: s.name.clone(),
            published: s.published,
            has_audio: s.has_audio,
            has_video: s.has_video,
            record: s.record,
            status: s.status.as_str().to_string(),
            info: s.info.clone(),
            record_name: s.record_name.clone(),
        }
    }
}

impl WireStreamStatus {
    /// The status back; `None` for a state this node does not know.
    pub(crate) fn into_status(self) -> Option<StreamStatus> {
        let status = [
            StreamState::Publishing,
            StreamState::Playing,
            StreamState::Unpublished,
            StreamState::Stopped,
            StreamState::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == self.status)?;
        Some(StreamStatus {
            media_session_id: self.media_session_id,
            name: self.name,
            published: self.published,
            has_audio: self.has_audio,
            has_video: self.has_video,
            record: self.record,
            status,
            info: self.info,
            record_name: self.record_name,
        })
    }
}

/// [`Grants`] on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WireGrants {
    pub room: String,
    pub publish: bool,
    pub record: bool,
}

impl From<&Grants> for WireGrants {
    fn from(g: &Grants) -> Self {
        Self {
            room: g.room.clone(),
            publish: g.publish,
            record: g.record,
        }
    }
}

impl From<WireGrants> for Grants {
    fn from(g: WireGrants) -> Self {
        Self {
            room: g.room,
            publish: g.publish,
            record: g.record,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip() {
        let text = "{\"message\":\"sendData\",\"data\":[{\"x\":\"é\\\"\"}]}";
        let env = ToOwner {
            from: "n1".into(),
            session: 7,
            body: OwnerBody::Command { text: text.into() },
        };
        let json = serde_json::to_string(&env).unwrap();
        let back: ToOwner = serde_json::from_str(&json).unwrap();
        match back.body {
            OwnerBody::Command { text: t } => assert_eq!(t, text),
            other => panic!("{other:?}"),
        }
        assert_eq!((back.from.as_str(), back.session), ("n1", 7));
        let grants = Grants {
            room: "r".into(),
            publish: false,
            record: true,
        };
        assert_eq!(Grants::from(WireGrants::from(&grants)), grants);
    }

    #[test]
    fn stream_statuses_round_trip_and_unknown_states_are_dropped() {
        let status = StreamStatus {
            media_session_id: "m1".into(),
            name: "R-bob-cam".into(),
            published: true,
            has_audio: true,
            has_video: false,
            record: true,
            status: StreamState::Unpublished,
            info: "bye".into(),
            record_name: Some("R/bob.mkv".into()),
        };
        let json = serde_json::to_string(&WireStreamStatus::from(&status)).unwrap();
        let back: WireStreamStatus = serde_json::from_str(&json).unwrap();
        assert_eq!(back.into_status(), Some(status.clone()));
        let mut odd = WireStreamStatus::from(&status);
        odd.status = "RESIZE".into();
        assert_eq!(odd.into_status(), None);
    }
}
