//! How long a frame takes to fan out (RTP mode): from the handling of the packet that ends a
//! publisher's frame to the moment the media thread has handed the last of its players'
//! copies to the kernel (`sendmmsg`). It is the server's own share of what a viewer waits,
//! apart from the network and the browsers, and it grows with the players a frame goes to
//! and with how busy the shard is before anything is lost: a keyframe to 100 players is
//! ~2,500 datagrams sealed one after the other on one thread. `/metrics` exports it as the
//! histogram `huddle_media_fanout_seconds`; `scripts/bench.sh` reports its p99 beside the
//! latency the load generator measures (docs/RTP_MODE.md, "Latency: where the p99 is").
//!
//! Frames whose fan-outs run together (they ended in one burst of datagrams) are timed
//! together, from the oldest one's end: its wait is the longest.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the histogram's buckets, in microseconds (and one more: everything above).
pub const FANOUT_BOUNDS_US: [u64; 13] = [
    100, 250, 500, 750, 1_000, 1_500, 2_000, 3_000, 5_000, 10_000, 25_000, 50_000, 100_000,
];
const BUCKETS: usize = FANOUT_BOUNDS_US.len() + 1;

/// Fan-out times as the media thread records them (relaxed atomics; the service reads them).
#[derive(Debug, Default)]
pub(crate) struct FanoutClock {
    counts: [AtomicU64; BUCKETS],
    sum_us: AtomicU64,
}

impl FanoutClock {
    pub fn record(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let bucket = FANOUT_BOUNDS_US.partition_point(|&bound| bound < us);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> FanoutTimes {
        FanoutTimes {
            counts: std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed)),
            sum_us: self.sum_us.load(Ordering::Relaxed),
        }
    }
}

/// A snapshot of the fan-out times: fan-outs per bucket of [`FANOUT_BOUNDS_US`] (not
/// cumulative; the last one counts those above the last bound) and their sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FanoutTimes {
    pub counts: [u64; BUCKETS],
    pub sum_us: u64,
}

impl FanoutTimes {
    pub fn plus(&self, o: &FanoutTimes) -> FanoutTimes {
        FanoutTimes {
            counts: std::array::from_fn(|i| self.counts[i] + o.counts[i]),
            sum_us: self.sum_us + o.sum_us,
        }
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_counts_in_the_first_bucket_whose_bound_it_does_not_pass() {
        let c = FanoutClock::default();
        c.record(Duration::from_micros(100)); // on the bound: that bucket
        c.record(Duration::from_micros(101));
        c.record(Duration::from_micros(999));
        c.record(Duration::from_millis(2));
        c.record(Duration::from_secs(1)); // above the last bound
        let s = c.snapshot();
        assert_eq!(s.counts[0], 1);
        assert_eq!(s.counts[1], 1);
        assert_eq!(s.counts[4], 1, "999 us is under 1 ms");
        assert_eq!(s.counts[6], 1, "2 ms is the 2 ms bucket");
        assert_eq!(s.counts[BUCKETS - 1], 1);
        assert_eq!(s.count(), 5);
        assert_eq!(s.sum_us, 100 + 101 + 999 + 2_000 + 1_000_000);
        let both = s.plus(&s);
        assert_eq!(both.count(), 10);
        assert_eq!(both.sum_us, 2 * s.sum_us);
    }
}
