//! The queue from the room actor to one session's socket writer, bounded in messages and in
//! bytes: a client that stops reading can hold at most `limit` bytes of the server's memory
//! before it is dropped (counting messages alone let 4,096 big ones pin hundreds of MB).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use huddle_room::{RoomEvent, ServerMessage, StateEntry};
use tokio::sync::mpsc;

/// How many messages may wait for one session, whatever their size.
const CAPACITY: usize = 4096;

/// The actor's end.
///
/// Messages travel boxed: tokio's channel stores them in blocks of 32 slots, allocated as
/// messages pass and kept for reuse, and a `ServerMessage` is ~110 bytes inline, so each
/// session held two ~3.5 KiB blocks for good (heaptrack of the server at fanout:100: ~7 KiB
/// per subscription); with a box a slot is 8 bytes. Signalling messages are few, so one more
/// allocation per message costs nothing that matters.
pub(crate) struct Outbound {
    tx: mpsc::Sender<Box<ServerMessage>>,
    queued: Arc<AtomicUsize>,
    limit: usize,
}

/// The session's end.
pub(crate) struct Inbox {
    rx: mpsc::Receiver<Box<ServerMessage>>,
    queued: Arc<AtomicUsize>,
}

/// Why a message could not be queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The session is too far behind: drop it.
    Full,
    /// The session is gone.
    Closed,
}

/// A queue that holds at most `limit_bytes` (by [`weight`]) and [`CAPACITY`] messages.
pub(crate) fn channel(limit_bytes: usize) -> (Outbound, Inbox) {
    let (tx, rx) = mpsc::channel(CAPACITY);
    let queued = Arc::new(AtomicUsize::new(0));
    (
        Outbound {
            tx,
            queued: queued.clone(),
            limit: limit_bytes,
        },
        Inbox { rx, queued },
    )
}

impl Outbound {
    pub(crate) fn push(&self, message: ServerMessage) -> Result<(), Refused> {
        let weight = weight(&message);
        let before = self.queued.fetch_add(weight, Ordering::AcqRel);
        if before + weight > self.limit {
            self.queued.fetch_sub(weight, Ordering::AcqRel);
            return Err(Refused::Full);
        }
        match self.tx.try_send(Box::new(message)) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.queued.fetch_sub(weight, Ordering::AcqRel);
                Err(match e {
                    mpsc::error::TrySendError::Full(_) => Refused::Full,
                    mpsc::error::TrySendError::Closed(_) => Refused::Closed,
                })
            }
        }
    }
}

impl Inbox {
    /// The next message; `None` once the actor dropped this session's route.
    pub(crate) async fn recv(&mut self) -> Option<ServerMessage> {
        let message = self.rx.recv().await?;
        self.queued.fetch_sub(weight(&message), Ordering::AcqRel);
        Some(*message)
    }
}

/// Bytes a queued message costs, about: its strings plus a fixed overhead (enough to bound
/// memory; the exact JSON size is only known once the writer encodes it).
pub(crate) fn weight(message: &ServerMessage) -> usize {
    const OVERHEAD: usize = 64;
    OVERHEAD
        + match message {
            ServerMessage::Established { login } => login.len(),
            ServerMessage::DataStatus { op, result } => {
                op.len() + result.as_ref().err().map_or(0, String::len)
            }
            ServerMessage::RoomEvent { room, event } => room.len() + event_weight(event),
            ServerMessage::RemoteSdp {
                media_session_id,
                sdp,
            } => media_session_id.len() + sdp.len(),
            ServerMessage::StreamStatus(s) => {
                s.media_session_id.len()
                    + s.name.len()
                    + s.info.len()
                    + s.record_name.as_ref().map_or(0, String::len)
            }
        }
}

fn event_weight(event: &RoomEvent) -> usize {
    match event {
        RoomEvent::State(entries) => entries
            .iter()
            .map(|e| match e {
                StateEntry::Login(l) => l.len() + 16,
                StateEntry::Stream(s) => s.login.len() + s.name.len() + 16,
            })
            .sum(),
        RoomEvent::Joined(l) | RoomEvent::Left(l) => l.len(),
        RoomEvent::Published(s) | RoomEvent::Unpublished(s) | RoomEvent::Failed(s) => {
            s.login.len() + s.name.len()
        }
        RoomEvent::Message { from, text } => from.len() + text.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(room: &str, text: &str) -> ServerMessage {
        ServerMessage::RoomEvent {
            room: room.into(),
            event: RoomEvent::Message {
                from: "a".into(),
                text: text.into(),
            },
        }
    }

    #[tokio::test]
    async fn bounded_in_bytes_and_freed_as_read() {
        let (tx, mut rx) = channel(10_000);
        let big = chat("R", &"x".repeat(4000));
        assert_eq!(tx.push(big.clone()), Ok(()));
        assert_eq!(tx.push(big.clone()), Ok(()));
        assert_eq!(tx.push(big.clone()), Err(Refused::Full), "12 KB > 10 KB");
        // Small ones still fit in what is left.
        assert_eq!(tx.push(chat("R", "hi")), Ok(()));
        assert_eq!(rx.recv().await, Some(big.clone()));
        assert_eq!(tx.push(big.clone()), Ok(()), "reading freed room");
        drop(rx);
        assert_eq!(tx.push(chat("R", "hi")), Err(Refused::Closed));
    }

    #[test]
    fn a_long_room_name_weighs_on_every_message() {
        let short = weight(&chat("R", "x"));
        let long = weight(&chat(&"r".repeat(200_000), "x"));
        assert_eq!(long - short, 200_000 - 1);
    }
}
