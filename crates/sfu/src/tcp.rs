//! ICE over TCP, passive side (RFC 6544): the media plane's TCP listener and its connections.
//!
//! A browser that cannot use UDP opens a TCP connection to our passive TCP candidate and sends
//! RFC 4571-framed STUN, then DTLS/SRTP over the same connection. Each connection is one
//! "remote address" to the sans-IO core: frames go in as `Protocol::Tcp` receives, and
//! transmits with `Protocol::Tcp` come back here and are written to the connection whose
//! remote address they name.
//!
//! Bad or idle clients cannot hurt others: a connection whose first frame is not STUN is
//! closed; one that never completes a STUN frame is closed after [`TcpLimits::handshake`];
//! a silent one after [`TcpLimits::idle`]; the number of connections is capped in total and
//! per source IP; and what waits to be written to a slow reader is capped in bytes (packets
//! beyond it are dropped, as a congested UDP path would drop them — the thread never blocks).

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use crate::framing::{self, FrameReader};

/// Limits of the ICE-TCP listener.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpLimits {
    /// Open connections in total; more are accepted and closed at once.
    pub max_connections: usize,
    /// Open connections from one source IP.
    pub max_per_ip: usize,
    /// Bytes waiting to be written to one connection; packets beyond are dropped.
    pub max_buffered: usize,
    /// A connection must deliver its first STUN frame within this.
    pub handshake: Duration,
    /// A connection that sends nothing for this long is closed (browsers send ICE consent
    /// checks every few seconds).
    pub idle: Duration,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_connections: 1000,
            max_per_ip: 64,
            max_buffered: 512 * 1024,
            handshake: Duration::from_secs(10),
            idle: Duration::from_secs(30),
        }
    }
}

/// Bytes read from one connection per readiness event before others get a turn; the rest
/// is read on a later turn (the connection stays in the backlog).
const READ_BUDGET: usize = 256 * 1024;

/// The first connection token; lower tokens belong to the driver's other sources.
pub const FIRST_CONN_TOKEN: usize = 16;

struct Conn {
    stream: TcpStream,
    remote: SocketAddr,
    local: SocketAddr,
    reader: FrameReader,
    /// Framed bytes not yet written; `out[written..]` is pending.
    out: Vec<u8>,
    written: usize,
    opened: Instant,
    last_rx: Instant,
    /// The first frame was STUN: this is an ICE connection.
    ice: bool,
}

impl Conn {
    fn pending_out(&self) -> usize {
        self.out.len() - self.written
    }
}

/// What happened to the packets handed to [`TcpConns::send`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SendOutcome {
    pub queued: u64,
    /// No connection to that address, a full write buffer, or an unframable packet.
    pub dropped: u64,
}

pub struct TcpConns {
    listener: TcpListener,
    local: SocketAddr,
    limits: TcpLimits,
    conns: HashMap<Token, Conn>,
    by_remote: HashMap<SocketAddr, Token>,
    per_ip: HashMap<IpAddr, usize>,
    next_token: usize,
    /// Connections with unread input left over from a turn (edge-triggered readiness will
    /// not report them again).
    backlog: Vec<Token>,
    /// Connections with queued output to try writing at the end of the turn.
    dirty: Vec<Token>,
    /// Connections refused or closed for breaking a rule (not for a normal close).
    pub rejected: u64,
}

impl TcpConns {
    pub fn new(listener: TcpListener, limits: TcpLimits) -> std::io::Result<TcpConns> {
        let local = listener.local_addr()?;
        Ok(TcpConns {
            listener,
            local,
            limits,
            conns: HashMap::new(),
            by_remote: HashMap::new(),
            per_ip: HashMap::new(),
            next_token: FIRST_CONN_TOKEN,
            backlog: Vec::new(),
            dirty: Vec::new(),
            rejected: 0,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn listener(&mut self) -> &mut TcpListener {
        &mut self.listener
    }

    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether some connection still has unread input from an earlier turn.
    pub fn has_backlog(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// Accepts every waiting connection (the listener is edge-triggered).
    pub fn accept(&mut self, registry: &Registry, now: Instant) {
        loop {
            let (mut stream, remote) = match self.listener.accept() {
                Ok(v) => v,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => {
                    // e.g. EMFILE: leave the rest in the kernel's queue for a later turn.
                    tracing::warn!("ICE-TCP accept: {e}");
                    return;
                }
            };
            let from_ip = self.per_ip.get(&remote.ip()).copied().unwrap_or(0);
            if self.conns.len() >= self.limits.max_connections || from_ip >= self.limits.max_per_ip
            {
                self.rejected += 1;
                tracing::debug!("ICE-TCP connection from {remote} refused: too many");
                continue; // dropping the stream closes it
            }
            let local = stream.local_addr().unwrap_or(self.local);
            let _ = stream.set_nodelay(true);
            let token = Token(self.next_token);
            self.next_token += 1;
            if let Err(e) =
                registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            {
                tracing::warn!("ICE-TCP register: {e}");
                continue;
            }
            *self.per_ip.entry(remote.ip()).or_default() += 1;
            self.by_remote.insert(remote, token);
            self.conns.insert(
                token,
                Conn {
                    stream,
                    remote,
                    local,
                    reader: FrameReader::default(),
                    out: Vec::new(),
                    written: 0,
                    opened: now,
                    last_rx: now,
                    ice: false,
                },
            );
            // Data may already be waiting; the first readiness event reports it.
            self.backlog.push(token);
        }
    }

    /// Reads what `token`'s connection has (up to a budget) and hands every complete frame
    /// to `on_frame(remote, local, frame)`.
    pub fn readable(
        &mut self,
        registry: &Registry,
        token: Token,
        now: Instant,
        mut on_frame: impl FnMut(SocketAddr, SocketAddr, &[u8]),
    ) {
        let mut buf = [0u8; 16 * 1024];
        let mut read = 0usize;
        let mut close = false;
        let mut more = false;
        {
            let Some(conn) = self.conns.get_mut(&token) else {
                return;
            };
            loop {
                if read >= READ_BUDGET {
                    more = true;
                    break;
                }
                match conn.stream.read(&mut buf) {
                    Ok(0) => {
                        close = true;
                        break;
                    }
                    Ok(n) => {
                        read += n;
                        conn.last_rx = now;
                        conn.reader.push(&buf[..n]);
                        while let Some(frame) = conn.reader.next_frame() {
                            if !conn.ice {
                                if !framing::is_stun(frame) {
                                    close = true;
                                    break;
                                }
                                conn.ice = true;
                            }
                            on_frame(conn.remote, conn.local, frame);
                        }
                        if close {
                            self.rejected += 1;
                            tracing::debug!("ICE-TCP {}: not ICE, closed", conn.remote);
                            break;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => {
                        tracing::debug!("ICE-TCP {} read: {e}", conn.remote);
                        close = true;
                        break;
                    }
                }
            }
        }
        if close {
            self.close(registry, token);
        } else if more && !self.backlog.contains(&token) {
            self.backlog.push(token);
        }
    }

    /// Takes the connections that had input left over, to be read again this turn.
    pub fn take_backlog(&mut self) -> Vec<Token> {
        std::mem::take(&mut self.backlog)
    }

    /// Queues one packet for the connection whose remote address is `destination`.
    pub fn send(&mut self, destination: SocketAddr, packet: &[u8], outcome: &mut SendOutcome) {
        let Some(&token) = self.by_remote.get(&destination) else {
            outcome.dropped += 1;
            return;
        };
        let Some(conn) = self.conns.get_mut(&token) else {
            outcome.dropped += 1;
            return;
        };
        if conn.pending_out() + packet.len() + 2 > self.limits.max_buffered {
            outcome.dropped += 1;
            return;
        }
        if conn.written > 0 && conn.written == conn.out.len() {
            conn.out.clear();
            conn.written = 0;
        }
        if !framing::write_frame(&mut conn.out, packet) {
            outcome.dropped += 1;
            return;
        }
        outcome.queued += 1;
        if !self.dirty.contains(&token) {
            self.dirty.push(token);
        }
    }

    /// Writes what is queued on every connection that got packets this turn.
    pub fn flush(&mut self, registry: &Registry) {
        let dirty = std::mem::take(&mut self.dirty);
        for token in &dirty {
            self.writable(registry, *token);
        }
        self.dirty = dirty;
        self.dirty.clear();
    }

    /// Writes as much of the connection's queue as the socket takes now; the rest waits for
    /// the next writable event.
    pub fn writable(&mut self, registry: &Registry, token: Token) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        let mut close = false;
        while conn.written < conn.out.len() {
            match conn.stream.write(&conn.out[conn.written..]) {
                Ok(0) => {
                    close = true;
                    break;
                }
                Ok(n) => conn.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::debug!("ICE-TCP {} write: {e}", conn.remote);
                    close = true;
                    break;
                }
            }
        }
        if conn.written == conn.out.len() {
            conn.out.clear();
            conn.written = 0;
            // Do not keep a large buffer of a past burst for the life of the connection.
            if conn.out.capacity() > 64 * 1024 {
                conn.out.shrink_to(16 * 1024);
            }
        } else if conn.written > conn.out.len() / 2 {
            conn.out.drain(..conn.written);
            conn.written = 0;
        }
        if close {
            self.close(registry, token);
        }
    }

    /// Closes connections that broke the handshake or idle rule.
    pub fn sweep(&mut self, registry: &Registry, now: Instant) {
        let expired: Vec<Token> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                (!c.ice && now.saturating_duration_since(c.opened) >= self.limits.handshake)
                    || now.saturating_duration_since(c.last_rx) >= self.limits.idle
            })
            .map(|(t, _)| *t)
            .collect();
        for token in expired {
            if let Some(c) = self.conns.get(&token) {
                tracing::debug!("ICE-TCP {}: timed out", c.remote);
                if !c.ice {
                    self.rejected += 1;
                }
            }
            self.close(registry, token);
        }
    }

    fn close(&mut self, registry: &Registry, token: Token) {
        let Some(mut conn) = self.conns.remove(&token) else {
            return;
        };
        let _ = registry.deregister(&mut conn.stream);
        if self.by_remote.get(&conn.remote) == Some(&token) {
            self.by_remote.remove(&conn.remote);
        }
        if let Some(n) = self.per_ip.get_mut(&conn.remote.ip()) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&conn.remote.ip());
            }
        }
        self.backlog.retain(|t| *t != token);
    }
}
