//! What nodes say to each other over Redis pub/sub (JSON), and the names of the keys and
//! channels. Commands travel as the client's own frame (the owner parses it again with
//! `huddle_protocol`), and events come back already encoded for the socket: neither side
//! needs a second serialization of the room core's types.

use huddle_room::Grants;
use serde::{Deserialize, Serialize};

/// Every key and channel starts with this, so a Redis shared with other software is safe.
const PREFIX: &str = "huddle";

/// The heartbeat key of a node (its [`NodeInfo`], with a TTL).
pub(crate) fn node_key(node: &str) -> String {
    format!("{PREFIX}:node:{node}")
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
    /// The node's HTTP (WebSocket) address.
    pub http: String,
    /// The node's UDP media address.
    pub media: String,
    pub started_unix_ms: u64,
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
    /// A message for the socket, already encoded. `settles`: the mediaSessionId of a
    /// stream status (the edge's media admission counts it as settled).
    Message {
        text: String,
        settles: Option<String>,
    },
    /// The owner dropped the session (too slow to read): the edge closes the socket.
    Closed,
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
}
