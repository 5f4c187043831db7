//! How much a player can receive, and whether its video is paused because of it.
//!
//! The estimate comes from str0m: send-side estimation from the player's transport-wide
//! feedback (`Event::EgressBitrateEstimate(BweKind::Twcc)`, enabled per player Rtc), or the
//! player's REMB where a browser negotiates only that (`BweKind::Remb`). Send-side estimation
//! is the one that can *probe*: while a player's video is paused str0m pads toward the rate we
//! ask for, so the estimate climbs again when the link recovers. A receiver's REMB cannot do
//! that (Chrome caps its estimate at 1.5x what it receives, and a paused player receives
//! audio only), so a REMB-only player would stay paused.
//!
//! The rule, per player: video is paused when the estimate stays below what the source's
//! audio + video need for [`PAUSE_AFTER`], and resumed (with a keyframe, by the caller) once
//! it has been at or above the need for [`RESUME_AFTER`] and the pause lasted at least
//! [`MIN_PAUSE`]. Audio is never paused.

use std::time::{Duration, Instant};

/// The estimate must stay below `need * PAUSE_BELOW` this long before video is paused.
pub const PAUSE_AFTER: Duration = Duration::from_millis(2000);
pub const PAUSE_BELOW: f64 = 0.9;
/// ... and be at least `need * RESUME_AT` this long before it resumes.
pub const RESUME_AFTER: Duration = Duration::from_millis(600);
pub const RESUME_AT: f64 = 1.1;
/// A paused video stays paused at least this long (no flapping).
pub const MIN_PAUSE: Duration = Duration::from_millis(2000);
/// The estimate a player's Rtc starts from, before any feedback.
pub const INITIAL_ESTIMATE_BPS: u64 = 1_500_000;

/// A change of a player's video state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoChange {
    Paused,
    Resumed,
}

/// One player's estimate and paused state.
#[derive(Debug, Default)]
pub struct VideoGate {
    /// Latest estimate in bit/s, if any arrived.
    pub estimate_bps: Option<u64>,
    pub paused: bool,
    below_since: Option<Instant>,
    above_since: Option<Instant>,
    paused_at: Option<Instant>,
    /// How often video was paused.
    pub pauses: u64,
    /// Alternates while paused, to make str0m send an allocation probe every other tick.
    probe_flip: bool,
}

impl VideoGate {
    pub fn on_estimate(&mut self, bps: u64) {
        self.estimate_bps = Some(bps);
    }

    /// Paused, or the estimate is below the need and a pause may follow: the player's own
    /// link is the problem, so its decoder's keyframe requests would only cost everyone a
    /// keyframe without helping it.
    pub fn struggling(&self) -> bool {
        self.paused || self.below_since.is_some()
    }

    /// Re-evaluates the state for a source that needs `need_bps` (audio + video, measured).
    /// `need_bps == 0` (no video flowing yet) never pauses.
    pub fn evaluate(&mut self, need_bps: u64, now: Instant) -> Option<VideoChange> {
        let estimate = self.estimate_bps?;
        let need = need_bps as f64;
        let estimate = estimate as f64;
        if !self.paused {
            self.above_since = None;
            if need_bps == 0 || estimate >= need * PAUSE_BELOW {
                self.below_since = None;
                return None;
            }
            let since = *self.below_since.get_or_insert(now);
            if now.saturating_duration_since(since) < PAUSE_AFTER {
                return None;
            }
            self.paused = true;
            self.paused_at = Some(now);
            self.below_since = None;
            self.pauses += 1;
            return Some(VideoChange::Paused);
        }
        self.below_since = None;
        if estimate < need * RESUME_AT {
            self.above_since = None;
            return None;
        }
        let since = *self.above_since.get_or_insert(now);
        let paused_at = self.paused_at.unwrap_or(now);
        if now.saturating_duration_since(since) < RESUME_AFTER
            || now.saturating_duration_since(paused_at) < MIN_PAUSE
        {
            return None;
        }
        self.paused = false;
        self.paused_at = None;
        self.above_since = None;
        Some(VideoChange::Resumed)
    }
}

impl VideoGate {
    /// What the player's estimator should sustain and aim for, for a source needing
    /// `need_bps`: `(minimum, desired)` in bit/s for `rtc.bwe().set_bitrate`, or None when
    /// nothing is known yet. Called once per housekeeping tick.
    ///
    /// While video flows, probe toward 1.5x the need. While it is paused, sustain (pad up
    /// to the estimate) the rate that would resume it, and raise the desired rate every
    /// other tick: str0m sends an allocation probe (up to 2x the estimate) only when the
    /// desired rate *increases*, and that probe is what finds a recovered link within a
    /// second or two instead of the ~8 %/s climb of the estimate alone.
    pub fn bwe_targets(&mut self, need_bps: u64) -> Option<(f64, f64)> {
        if need_bps == 0 {
            return None;
        }
        let need = need_bps as f64;
        if !self.paused {
            return Some((0.0, need * 1.5));
        }
        self.probe_flip = !self.probe_flip;
        let desired = if self.probe_flip {
            need * 1.5
        } else {
            need * 1.5 * 0.98
        };
        Some((need * RESUME_AT, desired))
    }
}

/// Bit rate of one media flow, measured over whole windows of [`RateMeter::WINDOW`].
#[derive(Debug, Default)]
pub struct RateMeter {
    window_start: Option<Instant>,
    bytes: u64,
    last_bps: u64,
}

impl RateMeter {
    pub const WINDOW: Duration = Duration::from_millis(1000);

    pub fn add(&mut self, bytes: usize, now: Instant) {
        self.roll(now);
        self.bytes += bytes as u64;
    }

    /// The rate of the last complete window (0 when the flow stopped for a window or more).
    pub fn bps(&mut self, now: Instant) -> u64 {
        self.roll(now);
        self.last_bps
    }

    fn roll(&mut self, now: Instant) {
        let start = *self.window_start.get_or_insert(now);
        let elapsed = now.saturating_duration_since(start);
        if elapsed < Self::WINDOW {
            return;
        }
        self.last_bps = if elapsed < Self::WINDOW * 2 {
            (self.bytes as f64 * 8.0 / elapsed.as_secs_f64()) as u64
        } else {
            0
        };
        self.bytes = 0;
        self.window_start = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn pauses_after_a_sustained_low_estimate_and_resumes_with_hysteresis() {
        let t0 = Instant::now();
        let mut g = VideoGate::default();
        assert_eq!(g.evaluate(1_000_000, t0), None, "no estimate yet");
        g.on_estimate(300_000);
        assert_eq!(g.evaluate(1_000_000, t0), None);
        // A short dip is not enough.
        assert_eq!(g.evaluate(1_000_000, t0 + 1500 * MS), None);
        g.on_estimate(2_000_000);
        assert_eq!(g.evaluate(1_000_000, t0 + 1600 * MS), None);
        g.on_estimate(300_000);
        assert_eq!(g.evaluate(1_000_000, t0 + 1700 * MS), None);
        assert_eq!(
            g.evaluate(1_000_000, t0 + 3700 * MS),
            Some(VideoChange::Paused)
        );
        assert!(g.paused);
        // Just above the pause line is not enough to resume (hysteresis).
        g.on_estimate(1_000_000);
        assert_eq!(g.evaluate(1_000_000, t0 + 6000 * MS), None);
        g.on_estimate(1_200_000);
        assert_eq!(g.evaluate(1_000_000, t0 + 6100 * MS), None);
        assert_eq!(
            g.evaluate(1_000_000, t0 + 6700 * MS),
            Some(VideoChange::Resumed)
        );
        assert_eq!(g.pauses, 1);
    }

    #[test]
    fn a_pause_lasts_at_least_min_pause() {
        let t0 = Instant::now();
        let mut g = VideoGate::default();
        g.on_estimate(100_000);
        g.evaluate(1_000_000, t0);
        assert_eq!(
            g.evaluate(1_000_000, t0 + PAUSE_AFTER),
            Some(VideoChange::Paused)
        );
        g.on_estimate(5_000_000);
        let p = t0 + PAUSE_AFTER;
        assert_eq!(g.evaluate(1_000_000, p + 100 * MS), None);
        assert_eq!(g.evaluate(1_000_000, p + MIN_PAUSE - MS), None);
        assert_eq!(
            g.evaluate(1_000_000, p + MIN_PAUSE),
            Some(VideoChange::Resumed)
        );
    }

    #[test]
    fn a_paused_player_raises_its_desired_rate_every_other_tick() {
        let mut g = VideoGate::default();
        assert_eq!(g.bwe_targets(0), None);
        assert_eq!(g.bwe_targets(1_000_000), Some((0.0, 1_500_000.0)));
        g.paused = true;
        let d: Vec<f64> = (0..4)
            .map(|_| g.bwe_targets(1_000_000).unwrap().1)
            .collect();
        assert!(d[0] > d[1] && d[2] > d[1] && d[2] > d[3], "{d:?}");
        assert_eq!(g.bwe_targets(1_000_000).unwrap().0, 1_000_000.0 * RESUME_AT);
    }

    #[test]
    fn no_video_need_never_pauses() {
        let t0 = Instant::now();
        let mut g = VideoGate::default();
        g.on_estimate(10_000);
        assert_eq!(g.evaluate(0, t0), None);
        assert_eq!(g.evaluate(0, t0 + PAUSE_AFTER * 3), None);
    }

    #[test]
    fn rate_meter_measures_whole_windows() {
        let t0 = Instant::now();
        let mut m = RateMeter::default();
        for i in 0..50 {
            m.add(2500, t0 + i * 20 * MS); // 125 kB/s = 1 Mbit/s
        }
        let bps = m.bps(t0 + 1000 * MS);
        assert!((950_000..=1_050_000).contains(&bps), "{bps}");
        assert_eq!(m.bps(t0 + 3500 * MS), 0, "stopped flow");
    }
}
