//! The media thread: owns the UDP socket, the ICE-TCP listener and its connections, and runs
//! the sans-IO core. It sleeps on readiness (mio: epoll on Linux) until a socket has data, a
//! command is queued (the handle wakes it through a [`mio::Waker`]) or the core's next timer
//! is due, so an idle server costs nothing and a command waits for no polling interval.
//!
//! Each turn does a bounded amount of every kind of work, so no kind starves another: up to
//! [`READ_BURST`] datagrams, the TCP connections that are ready, commands for at most
//! [`COMMAND_BUDGET`] (at least one), then due timers. A flood of publish commands (each
//! builds an `Rtc`, ~3 ms) therefore cannot stop the thread from reading live peers' packets,
//! and opening peers is paced to a quarter of the thread's time ([`OpenPacer`]): an open that
//! finds no credit waits (with everything queued behind it, in order) until there is some.
//! A turn that still runs long (or a process that was suspended) is reported to the core as
//! a stall ([`Sfu::note_stall`]), so live peers are not failed for the server's own silence.

use std::io::ErrorKind;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use huddle_room::{MediaCommand, MediaEvent, PeerId};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use str0m::net::Protocol;
use tokio::sync::mpsc::UnboundedSender;

use crate::ingest::IngestFrame;
use crate::open_pacer::OpenPacer;
use crate::record::RecorderQueue;
use crate::sendbatch::{Sender, BATCH};
use crate::sfu::{Sfu, Transmit};
use crate::tcp::{SendOutcome, TcpConns};
use crate::{MAX_QUEUED_FRAMES, MAX_QUEUED_OPENS};

const UDP: Token = Token(0);
const WAKER: Token = Token(1);
const LISTENER: Token = Token(2);

/// Datagrams read in one turn before commands and timers get a turn.
const READ_BURST: usize = 256;
/// Datagrams of a backlog read between two sends (see `read_udp`).
const SEND_EVERY: usize = 8;
/// Time per turn for queued commands (at least one command is applied per turn).
const COMMAND_BUDGET: Duration = Duration::from_millis(2);
/// A turn this long, or a wait that overran its timeout by this much, is a stall.
const STALL: Duration = Duration::from_millis(250);
/// How often ICE-TCP connections are checked for the handshake and idle limits.
const TCP_SWEEP: Duration = Duration::from_secs(1);

pub(crate) enum Msg {
    Command(MediaCommand),
    /// A frame for this ingest publisher.
    Ingest(PeerId, IngestFrame),
    /// Run the callback once every earlier command is applied and its recordings finished.
    Settle(Box<dyn FnOnce() + Send>),
    /// Add a frame tap on a source ([`Sfu::tap`]).
    Tap(PeerId, crate::tap::TapId, Box<dyn crate::sfu::FrameSink>),
    /// Remove a frame tap ([`Sfu::untap`]).
    Untap(PeerId, crate::tap::TapId),
    Shutdown,
}

/// Whether a command opens a new peer (and so counts against [`MAX_QUEUED_OPENS`]).
pub(crate) fn opens_peer(cmd: &MediaCommand) -> bool {
    cmd.opens_peer()
}

/// How many bounded messages wait in the channel (the channel itself is unbounded so that
/// closes, settles and shutdown are never refused and keep their order).
#[derive(Default)]
pub(crate) struct QueueGauge {
    pub opens: AtomicUsize,
    pub frames: AtomicUsize,
}

impl QueueGauge {
    fn admit(counter: &AtomicUsize, max: usize) -> bool {
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    pub fn admit_open(&self) -> bool {
        QueueGauge::admit(&self.opens, MAX_QUEUED_OPENS)
    }

    pub fn admit_frame(&self) -> bool {
        QueueGauge::admit(&self.frames, MAX_QUEUED_FRAMES)
    }
}

/// What the media thread waits on.
pub(crate) struct Sources {
    poll: Poll,
    udp: UdpSocket,
    tcp: Option<TcpConns>,
}

impl Sources {
    pub fn new(udp: UdpSocket, mut tcp: Option<TcpConns>) -> std::io::Result<Sources> {
        let poll = Poll::new()?;
        udp.set_nonblocking(true)?;
        poll.registry()
            .register(&mut SourceFd(&udp.as_raw_fd()), UDP, Interest::READABLE)?;
        if let Some(tcp) = tcp.as_mut() {
            poll.registry()
                .register(tcp.listener(), LISTENER, Interest::READABLE)?;
        }
        Ok(Sources { poll, udp, tcp })
    }

    /// A waker for the command channel's senders.
    pub fn waker(&self) -> std::io::Result<Waker> {
        Waker::new(self.poll.registry(), WAKER)
    }
}

/// Work left over from a turn: the next wait must not sleep.
#[derive(Default)]
struct Backlog {
    udp: bool,
    commands: bool,
    /// An open is held back by the pacer until this time (commands wait behind it).
    paced_until: Option<Instant>,
}

impl Backlog {
    /// Commands that can be applied now.
    fn commands_ready(&self, now: Instant) -> bool {
        self.commands && self.paced_until.is_none_or(|t| t <= now)
    }
}

pub(crate) fn run(
    mut src: Sources,
    mut sfu: Sfu,
    recorder: RecorderQueue,
    commands: Receiver<Msg>,
    gauge: Arc<QueueGauge>,
    events: UnboundedSender<MediaEvent>,
) {
    let local = match src.udp.local_addr() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!("media socket has no local address: {e}");
            return;
        }
    };
    let mut buf = vec![0u8; 2048];
    let mut out = Out {
        sender: Sender::new(),
        batch: Vec::with_capacity(BATCH),
    };
    let mut ready = Events::with_capacity(256);
    // Read and apply whatever is already there on the first turn.
    let mut backlog = Backlog {
        udp: true,
        commands: true,
        paced_until: None,
    };
    let mut pacer = OpenPacer::new(Instant::now());
    // A command taken from the channel that the pacer held back: applied first next time.
    let mut held: Option<Msg> = None;
    let mut next_sweep = Instant::now() + TCP_SWEEP;
    let mut turn_started = Instant::now();
    loop {
        // ---- wait
        let now = Instant::now();
        let busy = backlog.udp
            || backlog.commands_ready(now)
            || src.tcp.as_ref().is_some_and(|t| t.has_backlog());
        let mut deadline = sfu.poll_timeout();
        if let Some(t) = backlog.paced_until {
            deadline = deadline.min(t);
        }
        if src.tcp.as_ref().is_some_and(|t| t.len() > 0) {
            deadline = deadline.min(next_sweep);
        }
        let timeout = if busy {
            Duration::ZERO
        } else {
            deadline.saturating_duration_since(now)
        };
        let turn = now.saturating_duration_since(turn_started);
        if let Err(e) = src.poll.poll(&mut ready, Some(timeout)) {
            if e.kind() != ErrorKind::Interrupted {
                tracing::error!("media poll failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let woke = Instant::now();
        turn_started = woke;
        let overrun = woke.saturating_duration_since(now).saturating_sub(timeout);
        let stalled = turn.max(overrun);
        if stalled >= STALL {
            sfu.note_stall(woke, stalled);
        }

        // ---- readiness
        for ev in ready.iter() {
            match ev.token() {
                UDP => backlog.udp = true,
                WAKER => backlog.commands = true,
                LISTENER => {
                    if let Some(tcp) = src.tcp.as_mut() {
                        tcp.accept(src.poll.registry(), woke);
                    }
                }
                token => {
                    let Some(tcp) = src.tcp.as_mut() else {
                        continue;
                    };
                    if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                        read_tcp(tcp, &src.poll, token, &mut sfu);
                    }
                    if ev.is_writable() {
                        tcp.writable(src.poll.registry(), token);
                    }
                }
            }
        }
        if let Some(tcp) = src.tcp.as_mut() {
            for token in tcp.take_backlog() {
                read_tcp(tcp, &src.poll, token, &mut sfu);
            }
        }
        flush(&mut sfu, &mut src, &events, &mut out);

        // ---- datagrams (bounded)
        if backlog.udp {
            backlog.udp = read_udp(&mut src, local, &mut buf, &mut sfu, &events, &mut out);
        }

        // ---- commands (time-boxed)
        if backlog.commands_ready(Instant::now()) {
            backlog.paced_until = None;
            let mut cx = CommandCx {
                commands: &commands,
                held: &mut held,
                pacer: &mut pacer,
                gauge: &gauge,
                recorder: &recorder,
            };
            match apply_commands(&mut sfu, &mut cx, &mut src, &events, &mut out) {
                Applied::Drained => backlog.commands = false,
                Applied::More => backlog.commands = true,
                Applied::Paced(until) => {
                    backlog.commands = true;
                    backlog.paced_until = Some(until);
                }
                Applied::Shutdown => {
                    sfu.shutdown(Instant::now());
                    flush(&mut sfu, &mut src, &events, &mut out);
                    tracing::info!(
                        "media thread stopped ({} UDP datagrams sent in {} messages{})",
                        out.sender.datagrams,
                        out.sender.messages,
                        if out.sender.gso() { ", GSO" } else { "" }
                    );
                    return;
                }
            }
        }

        // ---- timers
        let now = Instant::now();
        if sfu.poll_timeout() <= now {
            sfu.handle_timeout(now);
        }
        if now >= next_sweep {
            if let Some(tcp) = src.tcp.as_mut() {
                tcp.sweep(src.poll.registry(), now);
            }
            next_sweep = now + TCP_SWEEP;
        }
        flush(&mut sfu, &mut src, &events, &mut out);
    }
}

/// Reads up to [`READ_BURST`] datagrams. Returns whether more may be waiting.
fn read_udp(
    src: &mut Sources,
    local: std::net::SocketAddr,
    buf: &mut [u8],
    sfu: &mut Sfu,
    events: &UnboundedSender<MediaEvent>,
    out: &mut Out,
) -> bool {
    for i in 0..READ_BURST {
        match src.udp.recv_from(buf) {
            Ok((n, source)) => {
                sfu.handle_datagram(Instant::now(), source, local, &buf[..n]);
                // Sent every few datagrams of a backlog, not after each: sendmmsg gets
                // fuller batches. Without a backlog the next read is WouldBlock and
                // everything goes out at once. (RTP mode batches its Rtc work per
                // publisher frame itself: rtp/batch.rs.)
                if i % SEND_EVERY == SEND_EVERY - 1 {
                    flush(sfu, src, events, out);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                flush(sfu, src, events, out);
                return false;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                // e.g. ICMP port unreachable reported on a later read: not fatal.
                tracing::debug!("recv_from: {e}");
            }
        }
    }
    true
}

fn read_tcp(tcp: &mut TcpConns, poll: &Poll, token: Token, sfu: &mut Sfu) {
    tcp.readable(
        poll.registry(),
        token,
        Instant::now(),
        |remote, local, frame| {
            sfu.handle_receive(Instant::now(), Protocol::Tcp, remote, local, frame);
        },
    );
}

enum Applied {
    Drained,
    More,
    /// An open waits for the pacer until then; the commands behind it wait too (in order).
    Paced(Instant),
    Shutdown,
}

/// The command side of the loop.
struct CommandCx<'a> {
    commands: &'a Receiver<Msg>,
    held: &'a mut Option<Msg>,
    pacer: &'a mut OpenPacer,
    gauge: &'a QueueGauge,
    recorder: &'a RecorderQueue,
}

fn apply_commands(
    sfu: &mut Sfu,
    cx: &mut CommandCx,
    src: &mut Sources,
    events: &UnboundedSender<MediaEvent>,
    out: &mut Out,
) -> Applied {
    let (gauge, recorder) = (cx.gauge, cx.recorder);
    let start = Instant::now();
    loop {
        let next = match cx.held.take() {
            Some(msg) => Ok(msg),
            None => cx.commands.try_recv(),
        };
        match next {
            Ok(Msg::Command(cmd)) if opens_peer(&cmd) => {
                let now = Instant::now();
                if let Err(until) = cx.pacer.may_open(now) {
                    *cx.held = Some(Msg::Command(cmd));
                    return Applied::Paced(until);
                }
                gauge.opens.fetch_sub(1, Ordering::AcqRel);
                sfu.handle_command(cmd, now);
                cx.pacer.spent(now.elapsed());
            }
            Ok(Msg::Command(cmd)) => sfu.handle_command(cmd, Instant::now()),
            Ok(Msg::Ingest(peer, frame)) => {
                gauge.frames.fetch_sub(1, Ordering::AcqRel);
                sfu.handle_ingest(peer, frame, Instant::now());
            }
            Ok(Msg::Settle(done)) => recorder.settle(done),
            Ok(Msg::Tap(source, id, sink)) => sfu.tap(source, id, sink, Instant::now()),
            Ok(Msg::Untap(source, id)) => sfu.untap(source, id),
            Ok(Msg::Shutdown) | Err(TryRecvError::Disconnected) => return Applied::Shutdown,
            Err(TryRecvError::Empty) => return Applied::Drained,
        }
        flush(sfu, src, events, out);
        if start.elapsed() >= COMMAND_BUDGET {
            return Applied::More;
        }
    }
}

/// The send side of the driver: reused buffers for batched sends.
struct Out {
    sender: Sender,
    batch: Vec<Transmit>,
}

/// Sends every queued transmit (UDP in batches, TCP framed onto its connection) and passes
/// the core's events on.
fn flush(sfu: &mut Sfu, src: &mut Sources, events: &UnboundedSender<MediaEvent>, out: &mut Out) {
    let mut tcp_outcome = SendOutcome::default();
    loop {
        while out.batch.len() < BATCH {
            match sfu.poll_transmit() {
                Some(t) if t.proto == Protocol::Udp => out.batch.push(t),
                Some(t) => {
                    match src.tcp.as_mut() {
                        Some(tcp) => tcp.send(t.destination, &t.contents, &mut tcp_outcome),
                        None => tcp_outcome.dropped += 1,
                    }
                    t.recycle();
                }
                None => break,
            }
        }
        if out.batch.is_empty() {
            break;
        }
        let mut errors = 0u64;
        out.sender.send(&src.udp, &out.batch, |t, e| {
            tracing::debug!("send_to {}: {e}", t.destination);
            errors += 1;
        });
        for _ in 0..errors {
            sfu.count_send_error();
        }
        let full = out.batch.len() == BATCH;
        out.batch.drain(..).for_each(Transmit::recycle);
        if !full {
            break;
        }
    }
    if let Some(tcp) = src.tcp.as_mut() {
        if tcp_outcome.queued > 0 {
            tcp.flush(src.poll.registry());
        }
    }
    for _ in 0..tcp_outcome.dropped {
        sfu.count_send_error();
    }
    // Everything queued is sent: a fan-out that ended with it is timed (fanout_time.rs).
    if let Some(frame_end) = sfu.take_fanned_out() {
        sfu.record_fanout(frame_end.elapsed());
    }
    while let Some(ev) = sfu.poll_event() {
        // The receiver may be gone during shutdown; nothing to do then.
        let _ = events.send(ev);
    }
}
