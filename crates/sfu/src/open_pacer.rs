//! Paces the opening of new peers to a share of the media thread's time.
//!
//! Opening a peer (a publish or play: a str0m `Rtc` and its SDP answer) costs the media thread
//! ~3 ms, more on a loaded machine. The driver's per-turn command budget keeps a flood of them
//! from holding one turn, but not from taking most turns: with little traffic a turn is
//! short, so 2 ms of opens per turn became most of the thread's time, and on a loaded 2-core
//! machine a thread that is always runnable loses the scheduler's wake-up preference and waits
//! behind every other busy process (the publish-flood abuse run saw 250-870 ms stalls of the
//! media loop and a live call at 78 % of its frame rate). Live peers' packets must win, so
//! opens get at most [`OPEN_SHARE_DIVISOR`]⁻¹ of the wall time: a credit that fills at that
//! rate (capped at [`MAX_CREDIT`], a short burst) and that each open's measured duration is
//! taken from. Opens beyond it wait in the bounded command queue (`MAX_QUEUED_OPENS`, then
//! "server busy"), in order with the other commands. Sans-IO: time is passed in.

use std::time::{Duration, Instant};

/// Opens may use at most 1/this of the media thread's wall time.
pub const OPEN_SHARE_DIVISOR: u32 = 4;
/// Credit saved while idle: a burst of a few opens (e.g. a room joining) runs at once.
pub const MAX_CREDIT: Duration = Duration::from_millis(30);

#[derive(Debug)]
pub struct OpenPacer {
    /// Time opens may take now; negative (`debt`) after an open took more than was left.
    credit: Duration,
    debt: Duration,
    last: Instant,
}

impl OpenPacer {
    pub fn new(now: Instant) -> OpenPacer {
        OpenPacer {
            credit: MAX_CREDIT,
            debt: Duration::ZERO,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let earned = now.saturating_duration_since(self.last) / OPEN_SHARE_DIVISOR;
        self.last = self.last.max(now);
        let paid = earned.min(self.debt);
        self.debt -= paid;
        self.credit = (self.credit + earned - paid).min(MAX_CREDIT);
    }

    /// Whether an open may run now; if not, when it may.
    pub fn may_open(&mut self, now: Instant) -> Result<(), Instant> {
        self.refill(now);
        if self.credit > Duration::ZERO {
            Ok(())
        } else {
            // Credit fills at 1/divisor of the wall time: the debt, plus a little to be positive.
            Err(now + (self.debt + Duration::from_micros(100)) * OPEN_SHARE_DIVISOR)
        }
    }

    /// An open took `took`.
    pub fn spent(&mut self, took: Duration) {
        if took <= self.credit {
            self.credit -= took;
        } else {
            self.debt += took - self.credit;
            self.credit = Duration::ZERO;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_burst_runs_then_opens_take_a_quarter_of_the_time() {
        let t0 = Instant::now();
        let mut p = OpenPacer::new(t0);
        // A burst of 3 ms opens back to back uses the saved credit (30 ms, refilled meanwhile: ~14 opens).
        let mut now = t0;
        let mut burst = 0;
        while p.may_open(now).is_ok() {
            p.spent(3 * MS);
            now += 3 * MS;
            burst += 1;
        }
        assert!((12..=15).contains(&burst), "burst of {burst}");
        // Then, opening whenever allowed for 10 s, they use a quarter of the time.
        let end = now + 10_000 * MS;
        let mut busy = Duration::ZERO;
        while now < end {
            match p.may_open(now) {
                Ok(()) => {
                    p.spent(3 * MS);
                    busy += 3 * MS;
                    now += 3 * MS;
                }
                Err(at) => {
                    assert!(at > now, "a wait is in the future");
                    now = at;
                }
            }
        }
        let share = busy.as_secs_f64() / 10.0;
        assert!((0.22..=0.26).contains(&share), "share {share}");
    }

    #[test]
    fn a_slow_open_is_paid_back_before_the_next() {
        let t0 = Instant::now();
        let mut p = OpenPacer::new(t0);
        assert!(p.may_open(t0).is_ok());
        // One open that took 100 ms (a preempted thread): 70 ms beyond the credit.
        p.spent(100 * MS);
        let at = p.may_open(t0 + 100 * MS).unwrap_err();
        // 70 ms of debt less the 25 ms earned during the open, at a quarter: ~180 ms later.
        let wait = at - (t0 + 100 * MS);
        assert!(wait >= 170 * MS && wait <= 200 * MS, "{wait:?}");
        assert!(p.may_open(at).is_ok());
    }

    #[test]
    fn idle_time_saves_only_a_burst() {
        let t0 = Instant::now();
        let mut p = OpenPacer::new(t0);
        p.spent(30 * MS);
        let later = t0 + Duration::from_secs(3600);
        assert!(p.may_open(later).is_ok());
        p.spent(31 * MS);
        assert!(p.may_open(later).is_err(), "no more than MAX_CREDIT saved");
    }
}
