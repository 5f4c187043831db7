//! The port to the media plane. The real one is `huddle-sfu`; tests may plug in another.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use huddle_room::{MediaCommand, MediaEvent, PeerId};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::oneshot;

/// What the service needs from a media plane.
pub trait MediaPlane: Send + Sync + 'static {
    /// Queue a command; never blocks.
    fn send(&self, command: MediaCommand);
    /// Queue a command, or say the plane is too busy to take it (then the room core fails
    /// the stream with the reason). A plane without back-pressure takes everything.
    fn try_send(&self, command: MediaCommand) -> Result<(), Busy> {
        self.send(command);
        Ok(())
    }
    /// The bound UDP address.
    fn local_addr(&self) -> SocketAddr;
    /// The bound ICE-TCP address, if the plane takes ICE over TCP.
    fn tcp_addr(&self) -> Option<SocketAddr> {
        None
    }
    /// Every shard's bound UDP address and ICE-TCP address, in shard order (one entry for a
    /// plane without shards).
    fn shard_addrs(&self) -> Vec<(SocketAddr, Option<SocketAddr>)> {
        vec![(self.local_addr(), self.tcp_addr())]
    }
    /// Live WebRTC peers (publishers + players).
    fn peers(&self) -> u64;
    /// Counters for `/metrics`; a media plane without them reports its peers only.
    fn stats(&self) -> huddle_sfu::MediaStats {
        huddle_sfu::MediaStats {
            peers: self.peers(),
            ..Default::default()
        }
    }
    /// Counters per media shard, in shard order (`/metrics` label `shard`).
    fn shard_stats(&self) -> Vec<huddle_sfu::MediaStats> {
        vec![self.stats()]
    }
    /// A frame for the ingest (RTMP) publisher `peer` opened by a `MediaCommand::Ingest`;
    /// never blocks. A media plane without ingest drops it.
    fn ingest(&self, peer: PeerId, frame: huddle_sfu::IngestFrame) {
        let _ = (peer, frame);
    }
    /// Adds a frame tap on the source `source` (see `huddle_sfu::Sfu::tap`): the sink is told
    /// the source's codecs (it may refuse them) and then gets every frame the source publishes,
    /// on the media thread (it must never block). An unknown source closes the sink. Never
    /// blocks. A media plane without taps closes the sink at once.
    fn tap(&self, source: PeerId, id: huddle_sfu::TapId, sink: Box<dyn huddle_sfu::FrameSink>) {
        let (_, mut sink) = (id, sink);
        let _ = source;
        sink.close();
    }
    /// Removes (and closes) a tap added by [`MediaPlane::tap`].
    fn untap(&self, source: PeerId, id: huddle_sfu::TapId) {
        let _ = (source, id);
    }
    /// Per-peer quality (bit rates, estimate, loss, RTT, NACKs, keyframe requests, paused
    /// video); a media plane without it reports none.
    fn peer_stats(&self) -> Vec<huddle_sfu::PeerQuality> {
        Vec::new()
    }
    /// Stop: close every peer and recording. May block; idempotent.
    fn shutdown(&self);
    /// Resolves once every command sent before this call has been applied, including the
    /// finishing of the recordings those commands closed. The room mix waits on it.
    fn settled(&self) -> oneshot::Receiver<()> {
        let (done, settled) = oneshot::channel();
        let _ = done.send(());
        settled
    }
}

/// The media plane refused a command (its queue is full); shown to the client as the reason
/// its stream FAILED.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("server busy")]
pub struct Busy;

/// Where and how the media plane runs.
#[derive(Clone, Debug)]
pub struct MediaSettings {
    pub bind: SocketAddr,
    /// Resolved announce IPs (never empty).
    pub announce: Vec<IpAddr>,
    pub records_dir: PathBuf,
    /// TCP address of the ICE-TCP listener; `None`: no ICE over TCP.
    pub tcp_bind: Option<SocketAddr>,
    /// Media shards to run (at least 1): shard `i` binds `bind` and `tcp_bind` with the port
    /// plus `i` (port 0: each its own ephemeral port).
    pub shards: usize,
    /// Bytes of recorded frames that may wait for the disk, per shard.
    pub recording_queue_bytes: usize,
    /// Frame or RTP-mode forwarding (`forwarding` setting).
    pub forwarding: huddle_sfu::Forwarding,
    /// Publishers answered with H.264 when they offer it (`prefer_h264` setting).
    pub prefer_h264: bool,
    /// The server takes the DTLS client role when the offer leaves it (`dtls_client` setting).
    pub dtls_client: bool,
}

/// Starts a media plane that reports to `events`.
pub type MediaStarter = Box<
    dyn FnOnce(MediaSettings, UnboundedSender<MediaEvent>) -> io::Result<Arc<dyn MediaPlane>>
        + Send,
>;

/// The production media plane: `huddle-sfu`, one instance per shard (a single shard is
/// used as is; several go behind [`crate::shards::ShardedMedia`]).
pub fn sfu_starter() -> MediaStarter {
    Box::new(|settings, events| {
        let count = settings.shards.max(1);
        let mut shards: Vec<Arc<dyn MediaPlane>> = Vec::with_capacity(count);
        for shard in 0..count {
            let config = huddle_sfu::SfuConfig {
                bind: shard_addr(settings.bind, shard)?,
                announce: settings.announce.clone(),
                records_dir: settings.records_dir.clone(),
                tcp_bind: settings
                    .tcp_bind
                    .map(|a| shard_addr(a, shard))
                    .transpose()?,
                tcp_limits: huddle_sfu::TcpLimits::default(),
                shard,
                recording_queue_bytes: settings.recording_queue_bytes,
                forwarding: settings.forwarding,
                prefer_h264: settings.prefer_h264,
                dtls_client: settings.dtls_client,
            };
            match huddle_sfu::start(config, events.clone()) {
                Ok(handle) => shards.push(Arc::new(handle)),
                Err(e) => {
                    // Stop the shards already running before reporting.
                    for s in &shards {
                        s.shutdown();
                    }
                    return Err(e);
                }
            }
        }
        if shards.len() == 1 {
            return Ok(shards.remove(0));
        }
        Ok(Arc::new(crate::shards::ShardedMedia::new(shards)) as Arc<dyn MediaPlane>)
    })
}

/// Shard `i`'s address: the port plus `i`, or port 0 (ephemeral) for every shard.
fn shard_addr(base: SocketAddr, shard: usize) -> io::Result<SocketAddr> {
    if base.port() == 0 {
        return Ok(base);
    }
    let port = u16::try_from(usize::from(base.port()) + shard).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("media shard {shard} has no port above {}", base.port()),
        )
    })?;
    Ok(SocketAddr::new(base.ip(), port))
}

impl MediaPlane for huddle_sfu::MediaHandle {
    fn send(&self, command: MediaCommand) {
        let _ = huddle_sfu::MediaHandle::send(self, command);
    }

    fn try_send(&self, command: MediaCommand) -> Result<(), Busy> {
        match huddle_sfu::MediaHandle::send(self, command) {
            Err(huddle_sfu::SendError::Busy) => Err(Busy),
            // A stopped plane only happens during shutdown; nothing to tell the client.
            Ok(()) | Err(huddle_sfu::SendError::Stopped) => Ok(()),
        }
    }

    fn local_addr(&self) -> SocketAddr {
        huddle_sfu::MediaHandle::local_addr(self)
    }

    fn tcp_addr(&self) -> Option<SocketAddr> {
        huddle_sfu::MediaHandle::tcp_addr(self)
    }

    fn peers(&self) -> u64 {
        huddle_sfu::MediaHandle::stats(self).peers
    }

    fn stats(&self) -> huddle_sfu::MediaStats {
        huddle_sfu::MediaHandle::stats(self)
    }

    fn ingest(&self, peer: PeerId, frame: huddle_sfu::IngestFrame) {
        huddle_sfu::MediaHandle::ingest(self, peer, frame);
    }

    fn peer_stats(&self) -> Vec<huddle_sfu::PeerQuality> {
        huddle_sfu::MediaHandle::peer_stats(self)
    }

    fn tap(&self, source: PeerId, id: huddle_sfu::TapId, sink: Box<dyn huddle_sfu::FrameSink>) {
        huddle_sfu::MediaHandle::tap(self, source, id, sink);
    }

    fn untap(&self, source: PeerId, id: huddle_sfu::TapId) {
        huddle_sfu::MediaHandle::untap(self, source, id);
    }

    fn shutdown(&self) {
        huddle_sfu::MediaHandle::shutdown(self);
    }

    fn settled(&self) -> oneshot::Receiver<()> {
        let (done, settled) = oneshot::channel();
        self.settle(move || {
            let _ = done.send(());
        });
        settled
    }
}
