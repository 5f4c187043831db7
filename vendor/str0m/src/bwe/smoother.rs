use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::rtp_::Bitrate;

/// Time window for averaging estimate changes.
const ESTIMATE_WINDOW: Duration = Duration::from_secs(3);

/// One recorded estimate: nanoseconds from the smoother's epoch and the estimate in bit/s.
/// Huddle patch 19 (vendor/str0m/HUDDLE_PATCHES.md): 16 bytes instead of upstream's
/// `(Instant, Bitrate)` (24), with the same values: the times are exact (signed nanoseconds, as
/// the TWCC register's, patch 7) and the bitrate is the same `f64`.
type TimeBitrate = (i64, f64);

/// Huddle patch 19: a queue with room for more than this many entries and under half of it
/// used is shrunk to 1.25x its length. The smoother is per `Rtc`, i.e. per player in an SFU; the
/// estimate changes with nearly every TWCC feedback while the estimator ramps up or the link
/// is busy, and upstream's queue kept its high-water capacity for good.
const SHRINK_ABOVE: usize = 16;

const TOLERANCE: f64 = 0.05;

/// Smooths BWE estimates by averaging over a time window.
pub struct EstimateSmoother {
    estimates: VecDeque<TimeBitrate>,
    /// The time the entries count from: the first recorded estimate's.
    epoch: Option<Instant>,
    maybe_emit: bool,
    emitted: Option<Bitrate>,
}

impl EstimateSmoother {
    pub fn new() -> Self {
        Self {
            estimates: VecDeque::new(),
            epoch: None,
            maybe_emit: false,
            emitted: None,
        }
    }

    /// Record a new estimate and update the smoothed average.
    pub fn record(&mut self, now: Instant, estimate: Bitrate) {
        let epoch = *self.epoch.get_or_insert(now);
        let now = nanos_since(epoch, now);
        let estimate = estimate.as_f64();

        // Did value change from previous?
        let do_update = self.estimates.back().map(|b| b.1) != Some(estimate);

        if do_update {
            self.maybe_emit = true;
            self.estimates.push_back((now, estimate));
        }

        // Remove entries older than the window (upstream: `now.duration_since(time)`, which
        // saturates at zero for a time after `now`).
        while let Some((time, _)) = self.estimates.front() {
            if (now - *time).max(0) as u128 > ESTIMATE_WINDOW.as_nanos() {
                // Keep last entry
                if self.estimates.len() == 1 {
                    break;
                }

                self.maybe_emit = true;
                self.estimates.pop_front();
            } else {
                break;
            }
        }

        let (len, cap) = (self.estimates.len(), self.estimates.capacity());
        if cap > SHRINK_ABOVE && len < cap / 2 {
            self.estimates.shrink_to((len + len / 4).max(SHRINK_ABOVE));
        }
    }

    /// Poll for an estimate to emit. Returns Some only when there's a new value to emit.
    pub fn poll(&mut self) -> Option<Bitrate> {
        if !self.maybe_emit {
            return None;
        }

        if self.estimates.is_empty() {
            return None;
        }

        let total: f64 = self.estimates.iter().map(|b| b.1).sum();
        let avg = total / self.estimates.len() as f64;
        let rate: Bitrate = avg.into();

        // This forces emitting if we have the first ever value, or a last
        // where the rest of the window is gone (estimates stop coming).
        let force = self.estimates.len() == 1 && self.emitted != Some(rate);

        // Emit if we deviate enough from previously emitted.
        let deviate = if let Some(emitted) = self.emitted {
            !in_tolerance(emitted, rate)
        } else {
            true
        };

        self.maybe_emit = false;

        // Are we not to emit?
        if !force && !deviate {
            return None;
        }

        self.emitted = Some(rate);
        Some(rate)
    }
}

/// `t` as signed nanoseconds from `epoch` (exact for ±292 years).
fn nanos_since(epoch: Instant, t: Instant) -> i64 {
    match t.checked_duration_since(epoch) {
        Some(d) => d.as_nanos() as i64,
        None => -((epoch - t).as_nanos() as i64),
    }
}

fn in_tolerance(b1: Bitrate, b2: Bitrate) -> bool {
    let min = b1 * (1.0 - TOLERANCE);
    let max = b1 * (1.0 + TOLERANCE);
    b2 > min && b2 < max
}
