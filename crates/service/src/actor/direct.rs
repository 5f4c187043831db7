//! Entry points of the room actor for clients that are not the SDK (the RTMP edge).
//!
//! An SDK client talks in operations: it sends a command with an operation id and reads
//! the matching `DataStatus` / `StreamStatus` from its socket. An encoder has no socket of
//! messages, so its edge asks the actor directly and gets typed replies on channels (as
//! the admin API does): joined or refused, the peer its frames go to, and the reason when
//! the room ends its stream. The messages the hub addresses to such a session are read
//! here for that last purpose and otherwise dropped.

use std::collections::HashMap;

use huddle_room::{
    Grants, IngestCodecs, Input, PeerId, ServerMessage, SessionId, StreamRequest, StreamState,
};
use tokio::sync::oneshot;
use tracing::info;

use super::{now, RoomActor};

/// Resolves with the reason once the room ends the session's stream (kick, room closed,
/// media failure, refused ingest); fails (sender dropped) once the session is gone.
pub(crate) type Ended = oneshot::Receiver<String>;

/// What a non-SDK client asks of the room actor.
pub(crate) enum DirectMsg {
    /// Opens `session` as `login` and joins it to `room`, in one step.
    Join {
        session: SessionId,
        login: String,
        grants: Option<Grants>,
        room: String,
        reply: oneshot::Sender<Result<Ended, String>>,
    },
    /// Publishes the session's ingest stream. The reply is the peer its frames are
    /// addressed to; the media plane has its `Ingest` command before the reply is sent.
    Ingest {
        session: SessionId,
        request: StreamRequest,
        codecs: IngestCodecs,
        reply: oneshot::Sender<Result<PeerId, String>>,
    },
    /// Leaves the room cleanly (its stream UNPUBLISHED, LEFT to the others) and closes the
    /// session.
    Leave { session: SessionId, room: String },
}

/// The open non-SDK sessions, each with the sender of its [`Ended`].
#[derive(Default)]
pub(crate) struct DirectSessions {
    ended: HashMap<SessionId, Option<oneshot::Sender<String>>>,
}

impl DirectSessions {
    pub(crate) fn contains(&self, session: SessionId) -> bool {
        self.ended.contains_key(&session)
    }

    /// A message the hub addressed to a direct session: a stream that FAILED or was
    /// UNPUBLISHED resolves the session's [`Ended`]; the rest has no reader.
    pub(crate) fn deliver(&mut self, session: SessionId, message: ServerMessage) {
        let Some(ended) = self.ended.get_mut(&session) else {
            return;
        };
        if let ServerMessage::StreamStatus(st) = message {
            if matches!(st.status, StreamState::Failed | StreamState::Unpublished) {
                if let Some(tx) = ended.take() {
                    let why = if st.info.is_empty() {
                        st.status.as_str().to_string()
                    } else {
                        format!("{}: {}", st.status.as_str(), st.info)
                    };
                    let _ = tx.send(format!("stream {} {why}", st.name));
                }
            }
        }
    }

    pub(crate) fn remove(&mut self, session: SessionId) {
        self.ended.remove(&session);
    }
}

impl RoomActor {
    pub(super) fn handle_direct(&mut self, msg: DirectMsg) {
        match msg {
            DirectMsg::Join {
                session,
                login,
                grants,
                room,
                reply,
            } => {
                let (tx, ended) = oneshot::channel();
                self.direct.ended.insert(session, Some(tx));
                self.input(Input::Connect {
                    session,
                    login: Some(login),
                    grants,
                });
                let result = self.hub.join_direct(now(), session, &room);
                self.drain();
                match result {
                    Ok(()) => {
                        let _ = reply.send(Ok(ended));
                    }
                    Err(reason) => {
                        info!(%session, %room, %reason, "direct join refused");
                        self.close_direct(session);
                        let _ = reply.send(Err(reason));
                    }
                }
            }
            DirectMsg::Ingest {
                session,
                request,
                codecs,
                reply,
            } => {
                let result = self.hub.ingest_direct(now(), session, request, codecs);
                // The Ingest command goes to the media plane before the edge sends frames.
                self.drain();
                let _ = reply.send(result);
            }
            DirectMsg::Leave { session, room } => {
                if let Err(reason) = self.hub.leave_direct(now(), session, &room) {
                    tracing::debug!(%session, %room, %reason, "direct leave");
                }
                self.drain();
                self.close_direct(session);
            }
        }
    }

    fn close_direct(&mut self, session: SessionId) {
        self.input(Input::Disconnect { session });
        self.drain();
        self.direct.remove(session);
    }
}
