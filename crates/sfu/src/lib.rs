//! Huddle's media plane: one UDP port (and one ICE-TCP port), one str0m `Rtc` per WebRTC
//! peer, and the forwarding graph from publishers to their players.
//!
//! * [`Sfu`] is the sans-IO core (commands, packets and time in; packets and events out).
//! * [`start`] runs it on a thread that owns the sockets and returns a [`MediaHandle`].
//!
//! The server is ICE-lite: the browser (always the offerer, never trickling) sends STUN to
//! the host candidates in our answer: a UDP one per announced IP and, when ICE-TCP is on, a
//! passive TCP one (RFC 6544) beside it, for browsers whose UDP is blocked.
//!
//! Modules, one job each: `codecs` (which codec a publisher may send, what a player is
//! offered), `sdp_fixups` (one msid stream id per play answer), `candidates` (announced
//! addresses, wildcard-bind destination), `peer` (an `Rtc` with its role and liveness timers),
//! `forward` (graph publisher -> players, frame-mode forwarding, keyframe relay), `ingest`
//! (publishers without an Rtc, fed frames by the RTMP edge), `sfu` (the
//! sans-IO core), `driver` (socket thread, readiness loop), `tcp` + `framing` (ICE-TCP
//! connections, RFC 4571), `udp_first` (keeps peers that can use UDP off TCP), `record`
//! (recorder thread), `stats` (atomics), `bandwidth` (per-player estimate, video paused when
//! the link is too slow), `keyframes` (keyframe requests coalesced per publisher),
//! `keyframe_hold` (a publisher's recent keyframe given to a player connecting just after
//! it), `quality` (per-peer stats from str0m), `simulcast` + `layers` (a publisher's
//! simulcast layers, one chosen per player by its estimate and switched on keyframes),
//! `early_nomination` (DTLS need not wait for the browser's nomination), `dtls_client` (the
//! server starts the DTLS handshake), `open_pacer` (opening peers limited to a share of the
//! media thread's time).

mod bandwidth;
mod candidates;
mod codecs;
mod deadlines;
mod driver;
mod dtls_client;
mod early_nomination;
mod fanout_time;
mod forward;
mod framing;
mod h264_profile;
mod headroom;
mod ingest;
mod keyframe_hold;
mod keyframes;
mod layer_probe;
mod layers;
mod open_pacer;
mod peer;
mod playout;
mod quality;
mod record;
mod rtp;
mod sdp_fixups;
mod sendbatch;
mod sfu;
mod simulcast;
mod source;
mod stats;
mod tap;
mod tcp;
mod udp_first;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use huddle_room::{MediaCommand, MediaEvent, PeerId};
use tokio::sync::mpsc::UnboundedSender;

pub use crate::candidates::detect_local_ipv4;
pub use crate::codecs::{h264_receive_profiles, SourceCodecs};
pub use crate::fanout_time::{FanoutTimes, FANOUT_BOUNDS_US};
pub use crate::forward::Frame;
pub use crate::h264_profile::{
    check_player as check_h264_player, profile_of as h264_profile_of, H264Profile,
};
pub use crate::ingest::{source_codecs, IngestFrame, LatencyStats};
pub use crate::record::DEFAULT_RECORDING_QUEUE_BYTES;
pub use crate::rtp::Forwarding;
pub use crate::sdp_fixups::{check_answer, unify_stream_id};
/// The media thread's batched UDP sender, also used by the benchmark's machine floor.
pub use crate::sendbatch::{Sender as BatchSender, BATCH};
pub use crate::sfu::{FrameSink, RecorderFactory, Sfu, Transmit};
pub use crate::stats::{MediaStats, PeerQuality};
pub use crate::tap::{TapId, Taps};

/// A map keyed by peer ids, looked up per packet and per player (a publisher's packet finds each
/// of its players here). The ids are ours, sequential, never chosen by a client, so a fast
/// non-keyed hash (Fx: one multiply) cannot be flooded with collisions; std's SipHash was ~700
/// instructions per forwarded packet (tests/instructions.rs). Maps keyed by what a client
/// controls (remote addresses) keep SipHash.
pub(crate) type IdMap<V> = rustc_hash::FxHashMap<PeerId, V>;
/// A set of peer ids, as [`IdMap`].
pub(crate) type IdSet = rustc_hash::FxHashSet<PeerId>;
pub use crate::tcp::TcpLimits;

use crate::driver::{Msg, QueueGauge};
use crate::stats::Counters;

/// Media plane settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SfuConfig {
    /// UDP address for all WebRTC traffic. Default `0.0.0.0:40000`.
    pub bind: SocketAddr,
    /// IPs put into answer candidates (with the bound port). Empty: the local IPv4 addresses.
    pub announce: Vec<IpAddr>,
    /// Where recordings are written.
    pub records_dir: PathBuf,
    /// TCP address of the ICE-TCP listener (passive candidates with its port are announced
    /// beside the UDP ones). `None`: no ICE over TCP. Default `0.0.0.0:40000`.
    pub tcp_bind: Option<SocketAddr>,
    /// Limits of the ICE-TCP listener.
    pub tcp_limits: TcpLimits,
    /// Which media shard this is: names the threads `huddle-media-<shard>` and
    /// `huddle-record-<shard>` (per-thread CPU in benchmarks reads these names).
    pub shard: usize,
    /// Bytes of recorded frames that may wait for the disk (this shard's recorder thread);
    /// over it frames are dropped, video up to the next keyframe (see record.rs).
    /// Default [`DEFAULT_RECORDING_QUEUE_BYTES`] (64 MiB).
    pub recording_queue_bytes: usize,
    /// How publishers' media reaches players: str0m frames re-packetized per player, or RTP
    /// packets forwarded as they are (rtp/). Default [`Forwarding::Frame`] here, so that the
    /// crate's tests that name no mode keep testing frame mode; the server's default (its
    /// `forwarding` setting) is [`Forwarding::Rtp`].
    pub forwarding: Forwarding,
    /// Answer publishers with H.264 (Constrained Baseline first) when their offer has it,
    /// instead of the offer's first codec (browsers list VP8 first), so that RTMP players,
    /// which cannot carry VP8, can play every stream. Default off.
    pub prefer_h264: bool,
    /// Take the DTLS client role when an offer leaves it to us (`a=setup:actpass`): our
    /// ClientHello leaves on the browser's first valid ICE check, one round trip sooner than
    /// waiting for the browser's (dtls_client.rs). Default on (`dtls_client::DEFAULT`).
    pub dtls_client: bool,
}

impl Default for SfuConfig {
    fn default() -> Self {
        SfuConfig {
            bind: SocketAddr::from(([0, 0, 0, 0], 40000)),
            announce: Vec::new(),
            records_dir: PathBuf::from("records"),
            tcp_bind: Some(SocketAddr::from(([0, 0, 0, 0], 40000))),
            tcp_limits: TcpLimits::default(),
            shard: 0,
            recording_queue_bytes: DEFAULT_RECORDING_QUEUE_BYTES,
            forwarding: Forwarding::Frame,
            prefer_h264: false,
            dtls_client: dtls_client::DEFAULT,
        }
    }
}

/// Publish, play and ingest commands that may wait for the media thread at once. Opening a
/// peer costs the thread ~3 ms (a str0m `Rtc` and its answer), so this is ~1 s of work;
/// beyond it the sender is told the server is busy instead of queueing without bound.
pub const MAX_QUEUED_OPENS: usize = 256;

/// Ingest (RTMP) frames that may wait for the media thread; newer ones are dropped (counted
/// in [`MediaStats::ingest_dropped`]) rather than queued without bound.
pub const MAX_QUEUED_FRAMES: usize = 2048;

/// Why [`MediaHandle::send`] did not queue a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// Too many new peers are waiting to be opened ([`MAX_QUEUED_OPENS`]); try later.
    Busy,
    /// The media plane has stopped.
    Stopped,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SendError::Busy => "server busy",
            SendError::Stopped => "media plane stopped",
        })
    }
}

impl std::error::Error for SendError {}

/// Handle to the running media plane. Cheap to clone; all clones drive the same thread.
#[derive(Clone)]
pub struct MediaHandle {
    inner: Arc<Inner>,
}

struct Inner {
    tx: mpsc::Sender<Msg>,
    /// Wakes the media thread when a message is queued (it sleeps on its sockets).
    waker: mio::Waker,
    gauge: Arc<QueueGauge>,
    local_addr: SocketAddr,
    tcp_addr: Option<SocketAddr>,
    counters: Arc<Counters>,
    /// The media thread, then the recorder thread (joined in that order).
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl MediaHandle {
    /// Queues a command for the media thread. Never blocks. A command that opens a peer
    /// (publish, play, ingest) is refused with [`SendError::Busy`] while
    /// [`MAX_QUEUED_OPENS`] of them wait; a close is always queued (it frees resources).
    pub fn send(&self, cmd: MediaCommand) -> Result<(), SendError> {
        let opens = driver::opens_peer(&cmd);
        if opens && !self.inner.gauge.admit_open() {
            return Err(SendError::Busy);
        }
        if self.inner.tx.send(Msg::Command(cmd)).is_err() {
            if opens {
                self.inner.gauge.opens.fetch_sub(1, Ordering::Relaxed);
            }
            tracing::debug!("media plane is stopped; command dropped");
            return Err(SendError::Stopped);
        }
        self.wake();
        Ok(())
    }

    /// Queues a frame for the ingest (RTMP) publisher `peer` opened by a
    /// [`MediaCommand::Ingest`]. Frames for an unknown peer, and frames beyond
    /// [`MAX_QUEUED_FRAMES`] waiting, are dropped and counted
    /// ([`MediaStats::ingest_dropped`]). Never blocks.
    pub fn ingest(&self, peer: PeerId, frame: IngestFrame) {
        if !self.inner.gauge.admit_frame() {
            stats::Counters::add(&self.inner.counters.ingest_dropped, 1);
            return;
        }
        if self.inner.tx.send(Msg::Ingest(peer, frame)).is_err() {
            self.inner.gauge.frames.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        self.wake();
    }

    /// Adds a frame tap on the source `source` (see [`Sfu::tap`]): the sink is told the
    /// source's codecs, may refuse them, and then gets every frame on the media thread (it must
    /// never block). An unknown source closes the sink. Never blocks; a stopped plane drops
    /// the sink (closing it).
    pub fn tap(&self, source: PeerId, id: TapId, sink: Box<dyn FrameSink>) {
        if let Err(mpsc::SendError(Msg::Tap(_, _, mut sink))) =
            self.inner.tx.send(Msg::Tap(source, id, sink))
        {
            sink.close();
            return;
        }
        self.wake();
    }

    /// Removes (and closes) a tap added by [`MediaHandle::tap`].
    pub fn untap(&self, source: PeerId, id: TapId) {
        if self.inner.tx.send(Msg::Untap(source, id)).is_ok() {
            self.wake();
        }
    }

    fn wake(&self) {
        if let Err(e) = self.inner.waker.wake() {
            tracing::warn!("cannot wake the media thread: {e}");
        }
    }

    /// The bound UDP address (the port is the real one when `bind` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// The bound ICE-TCP address, if ICE over TCP is on.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.inner.tcp_addr
    }

    pub fn stats(&self) -> MediaStats {
        self.inner.counters.snapshot()
    }

    /// Per-peer quality (bit rates, estimate, loss, RTT, NACKs, keyframe requests, paused
    /// video), as the media thread last published it (every 0.5 s), sorted by peer id.
    pub fn peer_stats(&self) -> Vec<PeerQuality> {
        self.inner.counters.quality()
    }

    /// Runs `done` once every command sent before this call has been applied and every
    /// recording those commands closed is finished on disk (the room mix waits on this).
    /// If the media plane is stopped, `done` runs at once.
    pub fn settle(&self, done: impl FnOnce() + Send + 'static) {
        if let Err(mpsc::SendError(Msg::Settle(done))) =
            self.inner.tx.send(Msg::Settle(Box::new(done)))
        {
            done();
            return;
        }
        self.wake();
    }

    /// Stops the media thread: closes all peers, finishes all recordings, joins the threads.
    /// Idempotent.
    pub fn shutdown(&self) {
        let _ = self.inner.tx.send(Msg::Shutdown);
        self.wake();
        let threads =
            std::mem::take(&mut *self.inner.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for h in threads {
            let name = h.thread().name().unwrap_or("?").to_string();
            if h.join().is_err() {
                tracing::error!("thread {name} panicked");
            }
        }
    }
}

/// Socket buffer size asked for (the kernel caps it at net.core.rmem_max / wmem_max).
const UDP_BUFFER_BYTES: usize = 4 << 20;

/// One socket carries every peer: the default ~200 KB receive buffer overflows in bursts
/// (a keyframe fan-out, a busy moment of the media thread) and audio, which has no NACK,
/// is lost. Larger buffers absorb the bursts.
fn enlarge_buffers(socket: &UdpSocket) {
    let sock = socket2::SockRef::from(socket);
    if let Err(e) = sock.set_recv_buffer_size(UDP_BUFFER_BYTES) {
        tracing::warn!("cannot enlarge the UDP receive buffer: {e}");
    }
    if let Err(e) = sock.set_send_buffer_size(UDP_BUFFER_BYTES) {
        tracing::warn!("cannot enlarge the UDP send buffer: {e}");
    }
    tracing::info!(
        "media socket buffers: receive {:?}, send {:?}",
        sock.recv_buffer_size().ok(),
        sock.send_buffer_size().ok()
    );
}

/// Binds the UDP socket (and the ICE-TCP listener) and starts the media thread. Events
/// (answers, connected, failed) are sent to `events`.
pub fn start(
    config: SfuConfig,
    events: UnboundedSender<MediaEvent>,
) -> std::io::Result<MediaHandle> {
    // The error names the socket: the caller reports the shard's UDP address, and a clash on
    // the ICE-TCP port (a fixed default, 40000) must not read as one on the UDP port.
    let named = |what: &'static str, addr: SocketAddr| {
        move |e: std::io::Error| std::io::Error::new(e.kind(), format!("{what} {addr}: {e}"))
    };
    let socket = UdpSocket::bind(config.bind).map_err(named("UDP", config.bind))?;
    enlarge_buffers(&socket);
    let local_addr = socket.local_addr()?;
    let tcp = match config.tcp_bind {
        Some(addr) => {
            let listener = mio::net::TcpListener::bind(addr).map_err(named("ICE-TCP", addr))?;
            Some(tcp::TcpConns::new(listener, config.tcp_limits.clone())?)
        }
        None => None,
    };
    let tcp_addr = tcp.as_ref().map(|t| t.local_addr());
    let announce = if config.announce.is_empty() {
        detect_local_ipv4()
    } else {
        config.announce.clone()
    };
    let candidates = candidates::candidate_addrs(&announce, local_addr.port());
    let tcp_candidates = tcp_addr
        .map(|a| candidates::candidate_addrs(&announce, a.port()))
        .unwrap_or_default();
    tracing::info!(
        "media plane on udp {local_addr}, tcp {tcp_addr:?}, candidates {candidates:?}, tcp candidates {tcp_candidates:?}"
    );

    let counters = Arc::new(Counters::default());
    let mut sfu = Sfu::new(candidates, counters.clone(), Instant::now());
    sfu.set_tcp_candidates(tcp_candidates);
    sfu.set_forwarding(config.forwarding);
    sfu.set_prefer_h264(config.prefer_h264);
    sfu.set_dtls_client(config.dtls_client);
    let (factory, queue, recorder) = record::spawn(
        config.records_dir.clone(),
        config.shard,
        config.recording_queue_bytes,
        counters.clone(),
        events.clone(),
    )?;
    sfu.set_recorder_factory(factory);
    let (tx, rx) = mpsc::channel();
    let gauge = Arc::new(QueueGauge::default());
    let sources = driver::Sources::new(socket, tcp)?;
    let waker = sources.waker()?;
    let driver_gauge = gauge.clone();
    let media = std::thread::Builder::new()
        .name(format!("huddle-media-{}", config.shard))
        .spawn(move || driver::run(sources, sfu, queue, rx, driver_gauge, events))?;
    Ok(MediaHandle {
        inner: Arc::new(Inner {
            tx,
            waker,
            gauge,
            local_addr,
            tcp_addr,
            counters,
            threads: Mutex::new(vec![media, recorder]),
        }),
    })
}
