//! Per-connection command rate: a token bucket, and a count of refusals in a row after which
//! the connection is closed.

use std::time::Instant;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allow,
    /// Refuse this command ("Too many requests").
    Refuse,
    /// Refused more than twice the burst in a row: close the connection.
    Close,
}

pub(crate) struct RateLimit {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    refused_in_a_row: u32,
}

impl RateLimit {
    pub(crate) fn new(per_sec: u32, burst: u32, now: Instant) -> Self {
        Self {
            rate: f64::from(per_sec.max(1)),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: now,
            refused_in_a_row: 0,
        }
    }

    pub(crate) fn check(&mut self, now: Instant) -> Verdict {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.refused_in_a_row = 0;
            return Verdict::Allow;
        }
        self.refused_in_a_row += 1;
        if f64::from(self.refused_in_a_row) > 2.0 * self.burst {
            Verdict::Close
        } else {
            Verdict::Refuse
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_rate_then_close() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(10, 5, t0);
        for _ in 0..5 {
            assert_eq!(r.check(t0), Verdict::Allow);
        }
        assert_eq!(r.check(t0), Verdict::Refuse);
        // 100 ms buys one command at 10/s.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(r.check(t1), Verdict::Allow);
        assert_eq!(r.check(t1), Verdict::Refuse);
        for _ in 0..9 {
            assert_eq!(r.check(t1), Verdict::Refuse);
        }
        assert_eq!(
            r.check(t1),
            Verdict::Close,
            "11 refusals in a row > 2 x burst 5"
        );
        // A full second refills the bucket to the burst, not beyond.
        let mut r = RateLimit::new(10, 5, t0);
        let later = t0 + Duration::from_secs(10);
        for _ in 0..5 {
            assert_eq!(r.check(later), Verdict::Allow);
        }
        assert_eq!(r.check(later), Verdict::Refuse);
    }
}
