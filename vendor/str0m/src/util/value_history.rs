use std::collections::VecDeque;
use std::iter::Sum;
use std::ops::{AddAssign, SubAssign};
use std::time::{Duration, Instant};

/// Holds a history values of type T for up to a certain Duration, as well as the
/// cumulated (total) value.
#[derive(Debug)]
pub(crate) struct ValueHistory<T> {
    value: T,
    /// Huddle patch (HUDDLE_PATCHES.md, 40): each entry with the time it leaves the window
    /// (its time + `max_time`), and `coalesce_until` the newest entry's time + COALESCE: the
    /// per-packet checks compare `Instant`s instead of subtracting them (std's checked
    /// `Timespec` subtraction, several per packet sent).
    history: VecDeque<(Instant, T)>,
    coalesce_until: Option<Instant>,
    max_time: Duration,
}

const DEFAULT_VALUE_HISTORY_DURATION: Duration = Duration::from_secs(1);

/// Huddle patch 5: pushes closer together than this share one entry.
const COALESCE: Duration = Duration::from_millis(10);

impl<T: Default> Default for ValueHistory<T> {
    fn default() -> Self {
        Self {
            value: Default::default(),
            history: Default::default(),
            coalesce_until: None,
            max_time: DEFAULT_VALUE_HISTORY_DURATION,
        }
    }
}

impl<T> ValueHistory<T>
where
    T: Copy + AddAssign + SubAssign + Sum,
{
    /// Adds a timed value
    /// Note: time should always monotonically increase in subsequent calls to add()
    pub fn push(&mut self, t: Instant, v: T) {
        self.value += v;
        // Huddle patch (vendor/str0m/HUDDLE_PATCHES.md, 5): one entry per packet was ~240
        // entries (a `VecDeque` of 256-512 x 24 bytes) per second and send stream, i.e. per
        // player. Values within COALESCE of the newest entry are added to it: the sum is the
        // same, an entry just leaves the window up to COALESCE later.
        if let (Some((_, last_v)), Some(until)) = (self.history.back_mut(), self.coalesce_until) {
            // Patch 40: `t.saturating_duration_since(last_t) < COALESCE`.
            if t < until {
                *last_v += v;
                return;
            }
        }
        self.coalesce_until = Some(t + COALESCE);
        self.history.push_back((t + self.max_time, v));
    }

    /// Returns the sum of all values in the history up to max_time. Might
    /// return stale value unless [`ValueHistory::purge_old`] is called before.
    pub fn sum(&self) -> T {
        self.value
    }

    /// Recalculates sum purging values older than `now - max_time`.
    pub fn purge_old(&mut self, now: Instant) {
        while {
            let Some(leaves_at) = self.history.front().map(|v| v.0) else {
                return;
            };
            // Patch 40: `now.duration_since(front_t) > max_time`.
            now > leaves_at
        } {
            if let Some((_, v)) = self.history.pop_front() {
                self.value -= v;
            }
        }
    }
}

#[allow(clippy::unchecked_time_subtraction)]
#[cfg(test)]
mod test {
    use std::time::{Duration, Instant};

    use super::ValueHistory;

    #[test]
    fn with_value_test() {
        let now = Instant::now();

        let mut h = ValueHistory {
            value: 11,
            max_time: Duration::from_secs(1),
            ..Default::default()
        };

        assert_eq!(h.sum(), 11);
        h.purge_old(now);
        assert_eq!(h.sum(), 11);
        h.push(now - Duration::from_millis(1500), 22);
        h.push(now - Duration::from_millis(500), 22);
        assert_eq!(h.sum(), 11 + 22 + 22);
        h.purge_old(now);
        assert_eq!(h.sum(), 11 + 22);
        h.push(now, 0);
        assert_eq!(h.sum(), 11 + 22);
    }

    #[test]
    fn test() {
        let now = Instant::now();
        let mut h = ValueHistory::default();

        assert_eq!(h.sum(), 0);
        h.push(now - Duration::from_millis(1500), 22);
        assert_eq!(h.sum(), 22);
        h.purge_old(now);
        assert_eq!(h.sum(), 0);
        h.push(now - Duration::from_millis(700), 22);
        h.push(now - Duration::from_millis(500), 33);
        assert_eq!(h.sum(), 22 + 33);
        h.purge_old(now);
        assert_eq!(h.sum(), 22 + 33);

        h.purge_old(now + Duration::from_millis(400));
        assert_eq!(h.sum(), 33);
        h.purge_old(now + Duration::from_millis(600));
        assert_eq!(h.sum(), 0);
    }
}
