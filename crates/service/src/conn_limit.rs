//! Caps on open HTTP(S) connections, in total and per IP address, applied when a TCP
//! connection is accepted (before TLS or any HTTP parsing). Silent or header-trickling
//! sockets once exhausted the process's 1,024 descriptors and locked everyone out (issue 12,
//! finding 4): the header timeouts close them, these caps keep one address from holding
//! more than its share meanwhile, and the soft descriptor limit is raised to the hard one.

use std::collections::HashMap;
use std::future::Ready;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tracing::warn;

/// Descriptors kept for everything that is not an HTTP connection (UDP and TCP media, RTMP,
/// recordings, the mixer's ffmpeg pipes, logs).
const RESERVED_DESCRIPTORS: usize = 512;
/// At most one warning per this long about refused connections (a flood must not flood the log).
const WARN_EVERY: Duration = Duration::from_secs(10);

pub(crate) struct ConnLimits {
    max_total: usize,
    max_per_ip: usize,
    state: Mutex<State>,
    refused: prometheus::IntCounter,
}

struct State {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
    last_warning: Option<Instant>,
    refused_since_warning: u64,
}

/// Holds one connection's place; dropping it (the connection closed) frees it.
pub(crate) struct ConnGuard {
    limits: Arc<ConnLimits>,
    ip: IpAddr,
}

impl ConnLimits {
    /// `0` means unlimited; the total is also kept under the descriptor limit `fd_limit`.
    pub(crate) fn new(
        max_total: usize,
        max_per_ip: usize,
        fd_limit: Option<u64>,
        refused: prometheus::IntCounter,
    ) -> Arc<Self> {
        let unlimited = |n: usize| if n == 0 { usize::MAX } else { n };
        let mut max_total = unlimited(max_total);
        if let Some(fds) = fd_limit {
            let usable = (fds as usize).saturating_sub(RESERVED_DESCRIPTORS).max(64);
            if usable < max_total {
                if max_total != usize::MAX {
                    warn!(
                        max_connections = max_total,
                        descriptors = fds,
                        "max_connections is above the descriptor limit; capped at {usable}"
                    );
                }
                max_total = usable;
            }
        }
        Arc::new(Self {
            max_total,
            max_per_ip: unlimited(max_per_ip),
            state: Mutex::new(State {
                total: 0,
                by_ip: HashMap::new(),
                last_warning: None,
                refused_since_warning: 0,
            }),
            refused,
        })
    }

    /// A place for one more connection from `ip`, or `None` (counted, warned about).
    pub(crate) fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<ConnGuard> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let from_ip = s.by_ip.get(&ip).copied().unwrap_or(0);
        let why = if s.total >= self.max_total {
            Some("max_connections")
        } else if from_ip >= self.max_per_ip {
            Some("max_connections_per_ip")
        } else {
            None
        };
        if let Some(cap) = why {
            self.refused.inc();
            s.refused_since_warning += 1;
            let now = Instant::now();
            if s.last_warning
                .is_none_or(|t| now.duration_since(t) >= WARN_EVERY)
            {
                warn!(%ip, cap, open = s.total, from_ip, refused = s.refused_since_warning, "connection cap reached; refusing connections");
                s.last_warning = Some(now);
                s.refused_since_warning = 0;
            }
            return None;
        }
        s.total += 1;
        *s.by_ip.entry(ip).or_insert(0) += 1;
        Some(ConnGuard {
            limits: self.clone(),
            ip,
        })
    }

    /// Open connections now.
    #[cfg(test)]
    pub(crate) fn open(&self) -> usize {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).total
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut s = self.limits.state.lock().unwrap_or_else(|e| e.into_inner());
        s.total = s.total.saturating_sub(1);
        if let Some(n) = s.by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                s.by_ip.remove(&self.ip);
            }
        }
    }
}

/// The first acceptor of both listeners: a connection over a cap is closed at once.
#[derive(Clone)]
pub(crate) struct CappedAcceptor {
    limits: Arc<ConnLimits>,
}

impl CappedAcceptor {
    pub(crate) fn new(limits: Arc<ConnLimits>) -> Self {
        Self { limits }
    }
}

impl<S> Accept<TcpStream, S> for CappedAcceptor {
    type Stream = Capped<TcpStream>;
    type Service = S;
    type Future = Ready<io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        // Signaling is small messages, often two in a row (an answer, then a status): with
        // Nagle the second waits for the ACK of the first, one round trip (0.2-0.3 s at 200 ms
        // RTT, measured on the join's STATE). Browsers set TCP_NODELAY on their side too.
        let _ = stream.set_nodelay(true);
        let accepted = match stream.peer_addr() {
            Err(e) => Err(e),
            Ok(peer) => match self.limits.try_acquire(peer.ip()) {
                Some(guard) => Ok((
                    Capped {
                        inner: stream,
                        _guard: guard,
                    },
                    service,
                )),
                None => Err(io::Error::other("connection cap reached")),
            },
        };
        std::future::ready(accepted)
    }
}

/// A stream that holds its connection's place until it is dropped.
pub(crate) struct Capped<T> {
    inner: T,
    _guard: ConnGuard,
}

impl<T: AsyncRead + Unpin> AsyncRead for Capped<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Capped<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Raises the soft limit on open descriptors to the hard one (the default soft limit, 1,024,
/// is far below what a server with thousands of sockets needs); returns the limit in force.
// `rlim_t` is u64 on Linux but not on every Unix.
#[allow(clippy::unnecessary_cast)]
pub(crate) fn raise_descriptor_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            // SAFETY: as above.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                tracing::info!(
                    from = lim.rlim_cur,
                    to = lim.rlim_max,
                    "raised the open-descriptor limit"
                );
                return Some(lim.rlim_max as u64);
            }
        }
        Some(lim.rlim_cur as u64)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter() -> prometheus::IntCounter {
        prometheus::IntCounter::new("t", "t").unwrap()
    }

    #[test]
    fn caps_in_total_and_per_ip_and_places_come_back() {
        let refused = counter();
        let limits = ConnLimits::new(3, 2, None, refused.clone());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = limits.try_acquire(a).unwrap();
        let _a2 = limits.try_acquire(a).unwrap();
        assert!(limits.try_acquire(a).is_none(), "per-IP cap");
        let _b1 = limits.try_acquire(b).unwrap();
        assert!(limits.try_acquire(b).is_none(), "total cap");
        assert_eq!(refused.get(), 2);
        drop(a1);
        assert_eq!(limits.open(), 2);
        assert!(limits.try_acquire(b).is_some());
    }

    #[test]
    fn the_descriptor_limit_bounds_the_total() {
        let limits = ConnLimits::new(0, 0, Some(1024), counter());
        assert_eq!(limits.max_total, 1024 - RESERVED_DESCRIPTORS);
        let limits = ConnLimits::new(100, 0, Some(1 << 20), counter());
        assert_eq!(limits.max_total, 100);
    }

    #[test]
    #[allow(clippy::unnecessary_cast)]
    fn the_soft_descriptor_limit_is_raised_to_the_hard_one() {
        let limit = raise_descriptor_limit().expect("getrlimit works on Linux");
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: reads the struct.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!(lim.rlim_cur, lim.rlim_max);
        assert_eq!(limit, lim.rlim_cur as u64);
    }
}
