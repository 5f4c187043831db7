//! Huddle's media plane: one UDP port, one str0m `Rtc` per WebRTC peer, and the forwarding
//! graph from publishers to their players.
//!
//! * [`Sfu`] is the sans-IO core (commands, datagrams and time in; datagrams and events out).
//! * [`start`] runs it on a thread that owns the UDP socket and returns a [`MediaHandle`].
//!
//! The server is ICE-lite: the browser (always the offerer, never trickling) sends STUN to
//! the host candidates in our answer.
//!
//! Modules, one job each: `codecs` (which codec a publisher may send, what a player is
//! offered), `sdp_fixups` (one msid stream id per play answer), `candidates` (announced
//! addresses, wildcard-bind destination), `peer` (an `Rtc` with its role and liveness timers),
//! `forward` (graph publisher -> players, frame-mode forwarding, keyframe relay), `ingest`
//! (publishers without an Rtc, fed frames by the RTMP edge), `sfu` (the
//! sans-IO core), `driver` (socket thread), `record` (recorder thread), `stats` (atomics).

mod candidates;
mod codecs;
mod driver;
mod forward;
mod ingest;
mod peer;
mod record;
mod sdp_fixups;
mod sendbatch;
mod sfu;
mod stats;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use huddle_room::{MediaCommand, MediaEvent};
use tokio::sync::mpsc::UnboundedSender;

pub use crate::candidates::detect_local_ipv4;
pub use crate::codecs::SourceCodecs;
pub use crate::forward::Frame;
pub use crate::ingest::{codecs_from_description, IngestFrame, LatencyStats};
pub use crate::sdp_fixups::{check_answer, unify_stream_id};
pub use crate::sfu::{FrameSink, RecorderFactory, Sfu, Transmit};
pub use crate::stats::MediaStats;

use crate::driver::Msg;
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
}

impl Default for SfuConfig {
    fn default() -> Self {
        SfuConfig {
            bind: SocketAddr::from(([0, 0, 0, 0], 40000)),
            announce: Vec::new(),
            records_dir: PathBuf::from("records"),
        }
    }
}

/// Handle to the running media plane. Cheap to clone; all clones drive the same thread.
#[derive(Clone)]
pub struct MediaHandle {
    inner: Arc<Inner>,
}

struct Inner {
    tx: mpsc::Sender<Msg>,
    local_addr: SocketAddr,
    counters: Arc<Counters>,
    /// The media thread, then the recorder thread (joined in that order).
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl MediaHandle {
    /// Queues a command for the media thread. Never blocks.
    pub fn send(&self, cmd: MediaCommand) {
        if self.inner.tx.send(Msg::Command(cmd)).is_err() {
            tracing::warn!("media plane is stopped; command dropped");
        }
    }

    /// Queues a frame for the ingest (RTMP) publisher registered under stream `name` by a
    /// [`MediaCommand::Ingest`]. Frames for an unknown name are dropped and counted
    /// ([`MediaStats::ingest_dropped`]). Never blocks.
    pub fn ingest(&self, name: &str, frame: IngestFrame) {
        let _ = self.inner.tx.send(Msg::Ingest(name.to_string(), frame));
    }

    /// The bound UDP address (the port is the real one when `bind` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    pub fn stats(&self) -> MediaStats {
        self.inner.counters.snapshot()
    }

    /// Runs `done` once every command sent before this call has been applied and every
    /// recording those commands closed is finished on disk (the room mix waits on this).
    /// If the media plane is stopped, `done` runs at once.
    pub fn settle(&self, done: impl FnOnce() + Send + 'static) {
        if let Err(mpsc::SendError(Msg::Settle(done))) =
            self.inner.tx.send(Msg::Settle(Box::new(done)))
        {
            done();
        }
    }

    /// Stops the media thread: closes all peers, finishes all recordings, joins the threads.
    /// Idempotent.
    pub fn shutdown(&self) {
        let _ = self.inner.tx.send(Msg::Shutdown);
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

/// Binds the UDP socket and starts the media thread. Events (answers, connected, failed) are
/// sent to `events`.
pub fn start(
    config: SfuConfig,
    events: UnboundedSender<MediaEvent>,
) -> std::io::Result<MediaHandle> {
    let socket = UdpSocket::bind(config.bind)?;
    enlarge_buffers(&socket);
    let local_addr = socket.local_addr()?;
    let announce = if config.announce.is_empty() {
        detect_local_ipv4()
    } else {
        config.announce.clone()
    };
    let candidates = candidates::candidate_addrs(&announce, local_addr.port());
    tracing::info!("media plane on udp {local_addr}, candidates {candidates:?}");

    let counters = Arc::new(Counters::default());
    let mut sfu = Sfu::new(candidates, counters.clone(), Instant::now());
    let (factory, queue, recorder) = record::spawn(config.records_dir.clone())?;
    sfu.set_recorder_factory(factory);
    let (tx, rx) = mpsc::channel();
    let media = std::thread::Builder::new()
        .name("huddle-media".into())
        .spawn(move || driver::run(socket, sfu, queue, rx, events))?;
    Ok(MediaHandle {
        inner: Arc::new(Inner {
            tx,
            local_addr,
            counters,
            threads: Mutex::new(vec![media, recorder]),
        }),
    })
}
