//! Where the server delivers publishes, media and closes.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};

use crate::{CloseReason, ConnId, Media, PlayerFeed};

/// A publish or play request that passed URL validation (one URL parser for both):
/// `rtmp://HOST/live/<room>/<login>` (or app `live/<room>` with stream key `<login>`, or app
/// `live` with stream key `<room>/<login>`), optionally `?token=…` on the stream key. For a
/// publish, `login` is the encoder's own participant; for a play, the participant whose
/// stream is asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtmpRequest {
    pub conn: ConnId,
    pub peer: SocketAddr,
    /// Room name (from `live/<room>`).
    pub room: String,
    /// Participant login (the stream key without any `?query`).
    pub login: String,
    /// The RTMP application as sent by the client, e.g. `live/room1`.
    pub app: String,
    /// The full stream key as sent by the client, e.g. `alice?token=abc`.
    pub stream_key: String,
    /// Closes this connection from the sink's side, e.g. when the room ended the stream.
    pub close: CloseHandle,
}

/// Closes one RTMP connection from the sink's side: the encoder's TCP connection is closed
/// at once (also while it sends nothing) and the sink gets [`IngestSink::closed`] with
/// [`CloseReason::Closed`]. Cheap to clone; closing twice, or a connection that is already
/// gone, does nothing.
#[derive(Clone, Debug)]
pub struct CloseHandle(Arc<watch::Sender<Option<String>>>);

impl CloseHandle {
    /// A handle and the receiver the connection watches.
    pub(crate) fn new() -> (CloseHandle, watch::Receiver<Option<String>>) {
        let (tx, rx) = watch::channel(None);
        (CloseHandle(Arc::new(tx)), rx)
    }

    /// Asks the connection to close, with the reason it logs and reports.
    pub fn close(&self, reason: impl Into<String>) {
        let reason = reason.into();
        self.0.send_if_modified(|v| {
            if v.is_some() {
                return false;
            }
            *v = Some(reason);
            true
        });
    }

    /// Whether [`CloseHandle::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.0.borrow().is_some()
    }
}

/// A handle of no connection (for tests of a sink): closing it only marks it closed.
impl Default for CloseHandle {
    fn default() -> CloseHandle {
        CloseHandle::new().0
    }
}

/// Handles are equal when they close the same connection.
impl PartialEq for CloseHandle {
    fn eq(&self, other: &CloseHandle) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for CloseHandle {}

/// Receives what RTMP connections produce. One instance serves all connections (it is shared
/// behind an `Arc`), and calls for one connection are made in order from that connection's
/// task; awaiting in a method back-pressures that connection only.
pub trait IngestSink: Send + Sync + 'static {
    /// A client asks to publish. `Ok(())` accepts; `Err(reason)` refuses: the client gets
    /// `NetStream.Publish.Rejected` with the reason and the connection is closed.
    fn publish(&self, req: RtmpRequest) -> impl Future<Output = Result<(), String>> + Send;

    /// Media of an accepted publish, in stream order.
    fn media(&self, conn: ConnId, media: Media) -> impl Future<Output = ()> + Send;

    /// A client asks to play a room participant's stream. `Ok(feed)` accepts: the player gets
    /// `NetStream.Play.Start` and then the feed's tags (usually from
    /// [`crate::LiveFeed::subscribe`]); the play ends when the feed ends. `Err(reason)`
    /// refuses with `NetStream.Play.Failed` and the reason (e.g. [`crate::vp8_refusal`]).
    /// The default refuses every play.
    fn play(&self, req: RtmpRequest) -> impl Future<Output = Result<PlayerFeed, String>> + Send {
        let _ = req;
        async { Err("this server does not serve RTMP play".to_string()) }
    }

    /// The connection is gone. Called exactly once per accepted TCP connection, after every
    /// other call for it — also for connections that never published.
    fn closed(&self, conn: ConnId, reason: CloseReason) -> impl Future<Output = ()> + Send;
}

/// Events delivered by [`ChannelSink`].
#[derive(Debug)]
pub enum IngestEvent {
    /// Answer through `reply` (dropping it refuses the publish).
    Publish {
        request: RtmpRequest,
        reply: PublishReply,
    },
    Media {
        conn: ConnId,
        media: Media,
    },
    Closed {
        conn: ConnId,
        reason: CloseReason,
    },
}

/// The answer to an [`IngestEvent::Publish`].
#[derive(Debug)]
pub struct PublishReply(oneshot::Sender<Result<(), String>>);

impl PublishReply {
    pub fn accept(self) {
        let _ = self.0.send(Ok(()));
    }

    pub fn refuse(self, reason: impl Into<String>) {
        let _ = self.0.send(Err(reason.into()));
    }
}

/// An [`IngestSink`] that forwards everything into a bounded channel.
#[derive(Clone, Debug)]
pub struct ChannelSink {
    tx: mpsc::Sender<IngestEvent>,
}

/// A [`ChannelSink`] and the receiver of its events. A full channel holds back the
/// connections that produce (TCP back-pressure to the encoder), it never drops events.
pub fn channel(capacity: usize) -> (ChannelSink, mpsc::Receiver<IngestEvent>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (ChannelSink { tx }, rx)
}

impl IngestSink for ChannelSink {
    async fn publish(&self, request: RtmpRequest) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        let ev = IngestEvent::Publish {
            request,
            reply: PublishReply(tx),
        };
        if self.tx.send(ev).await.is_err() {
            return Err("ingest is shutting down".into());
        }
        rx.await
            .unwrap_or_else(|_| Err("publish request dropped unanswered".into()))
    }

    async fn media(&self, conn: ConnId, media: Media) {
        let _ = self.tx.send(IngestEvent::Media { conn, media }).await;
    }

    async fn closed(&self, conn: ConnId, reason: CloseReason) {
        let _ = self.tx.send(IngestEvent::Closed { conn, reason }).await;
    }
}
