//! The thread that owns the UDP socket and runs the sans-IO core. No lock per packet: commands
//! arrive over a channel that is checked between reads; reads time out after at most
//! `MAX_WAIT`, which bounds command latency.

use std::io::ErrorKind;
use std::net::UdpSocket;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use huddle_room::{MediaCommand, MediaEvent};
use tokio::sync::mpsc::UnboundedSender;

use crate::ingest::IngestFrame;
use crate::record::RecorderQueue;
use crate::sendbatch::{Sender, BATCH};
use crate::sfu::{Sfu, Transmit};

const MAX_WAIT: Duration = Duration::from_millis(5);
const MIN_WAIT: Duration = Duration::from_micros(500);
/// Datagrams read in one go before commands and timers get a turn.
const READ_BURST: usize = 64;

pub(crate) enum Msg {
    Command(MediaCommand),
    /// A frame for the ingest publisher of this stream name.
    Ingest(String, IngestFrame),
    /// Run the callback once every earlier command is applied and its recordings finished.
    Settle(Box<dyn FnOnce() + Send>),
    Shutdown,
}

pub(crate) fn run(
    socket: UdpSocket,
    mut sfu: Sfu,
    recorder: RecorderQueue,
    commands: Receiver<Msg>,
    events: UnboundedSender<MediaEvent>,
) {
    let local = match socket.local_addr() {
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
    let mut current_wait = Duration::ZERO;
    loop {
        // Commands first: answers should not wait behind media.
        loop {
            match commands.try_recv() {
                Ok(Msg::Command(cmd)) => sfu.handle_command(cmd, Instant::now()),
                Ok(Msg::Ingest(name, frame)) => sfu.handle_ingest(&name, frame, Instant::now()),
                Ok(Msg::Settle(done)) => recorder.settle(done),
                Ok(Msg::Shutdown) | Err(TryRecvError::Disconnected) => {
                    sfu.shutdown(Instant::now());
                    flush(&mut sfu, &socket, &events, &mut out);
                    tracing::info!("media thread stopped");
                    return;
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        let now = Instant::now();
        if sfu.poll_timeout() <= now {
            sfu.handle_timeout(now);
        }
        flush(&mut sfu, &socket, &events, &mut out);

        let wait = sfu
            .poll_timeout()
            .saturating_duration_since(Instant::now())
            .clamp(MIN_WAIT, MAX_WAIT);
        if wait != current_wait {
            if let Err(e) = socket.set_read_timeout(Some(wait)) {
                tracing::warn!("set_read_timeout: {e}");
            }
            current_wait = wait;
        }
        for _ in 0..READ_BURST {
            match socket.recv_from(&mut buf) {
                Ok((n, source)) => {
                    sfu.handle_datagram(Instant::now(), source, local, &buf[..n]);
                    flush(&mut sfu, &socket, &events, &mut out);
                    if sfu.poll_timeout() <= Instant::now() {
                        break;
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(e) => {
                    // e.g. ICMP port unreachable reported on a later read: not fatal.
                    tracing::debug!("recv_from: {e}");
                    break;
                }
            }
        }
    }
}

/// The send side of the driver: reused buffers for batched sends.
struct Out {
    sender: Sender,
    batch: Vec<Transmit>,
}

fn flush(sfu: &mut Sfu, socket: &UdpSocket, events: &UnboundedSender<MediaEvent>, out: &mut Out) {
    loop {
        out.batch.clear();
        while out.batch.len() < BATCH {
            match sfu.poll_transmit() {
                Some(t) => out.batch.push(t),
                None => break,
            }
        }
        if out.batch.is_empty() {
            break;
        }
        let mut errors = 0u64;
        out.sender.send(socket, &out.batch, |t, e| {
            tracing::debug!("send_to {}: {e}", t.destination);
            errors += 1;
        });
        for _ in 0..errors {
            sfu.count_send_error();
        }
        if out.batch.len() < BATCH {
            break;
        }
    }
    out.batch.clear();
    while let Some(ev) = sfu.poll_event() {
        // The receiver may be gone during shutdown; nothing to do then.
        let _ = events.send(ev);
    }
}
