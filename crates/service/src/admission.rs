//! Admission of publish/play requests, shared by all sessions: each one makes the media plane
//! build a WebRTC peer (milliseconds of its one thread) that then waits for its ICE/DTLS
//! connection. Without a cap, a few hundred sockets publishing in a loop keep the media
//! thread busy building peers and starve the live calls (issue 12, finding 1). Limits: pending
//! peers on the server and per IP, and request rates on the server and per IP.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use crate::ratelimit::{RateLimit, Verdict};

/// The limits (from the config).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub max_pending: usize,
    pub max_pending_per_ip: usize,
    pub per_sec: u32,
    pub per_sec_per_ip: u32,
}

/// Per-IP rate entries kept before idle ones are forgotten.
const MAX_TRACKED_IPS: usize = 4096;

pub(crate) struct Admission {
    limits: Limits,
    state: Mutex<State>,
}

struct State {
    pending: usize,
    pending_by_ip: HashMap<IpAddr, usize>,
    rate: RateLimit,
    rate_by_ip: HashMap<IpAddr, (RateLimit, Instant)>,
}

impl Admission {
    pub(crate) fn new(limits: Limits, now: Instant) -> Self {
        Self {
            limits,
            state: Mutex::new(State {
                pending: 0,
                pending_by_ip: HashMap::new(),
                rate: RateLimit::new(limits.per_sec, limits.per_sec.saturating_mul(2), now),
                rate_by_ip: HashMap::new(),
            }),
        }
    }

    /// Admit one request from `ip` (counted as pending until [`Admission::release`]), or say
    /// why not.
    pub(crate) fn admit(&self, ip: IpAddr, now: Instant) -> Result<(), &'static str> {
        let l = self.limits;
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.pending >= l.max_pending {
            return Err("Server busy: too many media connections being set up");
        }
        if s.pending_by_ip.get(&ip).copied().unwrap_or(0) >= l.max_pending_per_ip {
            return Err("Too many media connections being set up from your address");
        }
        if s.rate_by_ip.len() >= MAX_TRACKED_IPS {
            // Forget addresses idle long enough for their bucket to be full again.
            let idle = std::time::Duration::from_secs(2);
            s.rate_by_ip
                .retain(|_, (_, last)| now.saturating_duration_since(*last) < idle);
        }
        let per_ip = l.per_sec_per_ip;
        let (bucket, last) = s
            .rate_by_ip
            .entry(ip)
            .or_insert_with(|| (RateLimit::new(per_ip, per_ip.saturating_mul(2), now), now));
        *last = now;
        if bucket.check(now) != Verdict::Allow {
            return Err("Too many media requests from your address");
        }
        if s.rate.check(now) != Verdict::Allow {
            return Err("Server busy: too many media requests");
        }
        s.pending += 1;
        *s.pending_by_ip.entry(ip).or_insert(0) += 1;
        Ok(())
    }

    /// A request admitted for `ip` is settled (live, failed or stopped).
    pub(crate) fn release(&self, ip: IpAddr) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.pending = s.pending.saturating_sub(1);
        if let Some(n) = s.pending_by_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                s.pending_by_ip.remove(&ip);
            }
        }
    }

    /// Requests pending now (for tests and stats).
    #[cfg(test)]
    fn pending(&self) -> usize {
        self.state.lock().unwrap().pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits() -> Limits {
        Limits {
            max_pending: 5,
            max_pending_per_ip: 3,
            per_sec: 100,
            per_sec_per_ip: 10,
        }
    }

    #[test]
    fn pending_caps_per_ip_and_in_total() {
        let t = Instant::now();
        let a = Admission::new(limits(), t);
        let (x, y, z): (IpAddr, IpAddr, IpAddr) = (
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            "10.0.0.3".parse().unwrap(),
        );
        for _ in 0..3 {
            a.admit(x, t).unwrap();
        }
        assert!(a.admit(x, t).unwrap_err().contains("your address"));
        a.admit(y, t).unwrap();
        a.admit(y, t).unwrap();
        assert!(a.admit(z, t).unwrap_err().starts_with("Server busy"));
        a.release(x);
        assert_eq!(a.pending(), 4);
        a.admit(z, t).unwrap();
    }

    #[test]
    fn rate_per_ip_with_a_burst_of_twice_the_rate() {
        let t = Instant::now();
        let a = Admission::new(
            Limits {
                max_pending: 1000,
                max_pending_per_ip: 1000,
                ..limits()
            },
            t,
        );
        let x: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..20 {
            a.admit(x, t).unwrap();
        }
        assert_eq!(
            a.admit(x, t),
            Err("Too many media requests from your address")
        );
        // Another address has its own budget; time refills.
        a.admit("10.0.0.9".parse().unwrap(), t).unwrap();
        a.admit(x, t + Duration::from_millis(100)).unwrap();
    }
}
