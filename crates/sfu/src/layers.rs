//! Which simulcast layer one player receives (sans-IO: rates, estimate and time in).
//!
//! A publisher that sends simulcast (`a=simulcast` + `a=rid`, see simulcast.rs) offers the
//! same picture in several layers of different bit rates. Each player gets one of them: the
//! highest whose rate, with the audio beside it, fits in [`HEADROOM`] of the player's
//! bandwidth estimate (bandwidth.rs keeps that estimate per player). The choice is damped:
//!
//! * down when the current layer has not fitted for [`DOWN_AFTER`]: the link is already
//!   congested, every moment on the too-high layer grows the player's queue;
//! * up only when the higher layer has fitted for [`UP_AFTER`]: an estimate climbs in steps
//!   and a layer switch costs a keyframe, so a short peak must not flap the layer.
//!
//! The choice is a *target*: the player keeps receiving its current layer until the target's
//! next keyframe (simulcast.rs `Follow`), so a switch never freezes the picture.
//!
//! When even the lowest layer does not fit, the lowest is chosen; pausing the video then is
//! bandwidth.rs's job, which for a simulcast source compares the estimate with the lowest
//! layer's rate.

use std::time::{Duration, Instant};

use str0m::media::Rid;

use crate::bandwidth::INITIAL_ESTIMATE_BPS;

/// A layer fits when its rate plus the audio rate is at most this share of the estimate
/// (the rest absorbs keyframes, retransmissions and the estimate's own error).
pub const HEADROOM: f64 = 0.85;
/// How long the current layer must not fit before the player goes down.
pub const DOWN_AFTER: Duration = Duration::from_millis(300);
/// How long a higher layer must fit before the player goes up.
pub const UP_AFTER: Duration = Duration::from_millis(2000);

/// One layer the publisher is sending now, with its measured rate in bit/s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerRate {
    pub rid: Rid,
    pub bps: u64,
}

/// One player's layer choice.
#[derive(Debug, Default)]
pub struct LayerChooser {
    target: Option<Rid>,
    /// Since when the target has not fitted / a higher layer has fitted.
    too_high_since: Option<Instant>,
    too_low_since: Option<Instant>,
    /// Target changes after the first choice (for logs and stats).
    pub switches: u64,
}

impl LayerChooser {
    /// The layer the player should receive, once one was chosen (the core keeps it in the
    /// player's `Follow`; the tests read it here).
    #[cfg(test)]
    pub fn target(&self) -> Option<Rid> {
        self.target
    }

    /// Re-evaluates the choice. `layers` are the layers being sent, lowest rate first;
    /// `estimate_bps` the player's estimate (None before the first one: the estimator's
    /// starting value is assumed); `audio_bps` what the player's audio takes. Returns the new
    /// target when it changed (also the first choice).
    pub fn choose(
        &mut self,
        layers: &[LayerRate],
        estimate_bps: Option<u64>,
        audio_bps: u64,
        now: Instant,
    ) -> Option<Rid> {
        if layers.is_empty() {
            return None; // nothing is sent: keep what we had, the publisher may come back
        }
        let estimate = estimate_bps.unwrap_or(INITIAL_ESTIMATE_BPS) as f64;
        let budget = (estimate * HEADROOM - audio_bps as f64).max(0.0);
        let best = layers
            .iter()
            .rposition(|l| l.bps as f64 <= budget)
            .unwrap_or(0);
        let current = self
            .target
            .and_then(|rid| layers.iter().position(|l| l.rid == rid));
        let Some(current) = current else {
            // First choice, or the target layer stopped: take the best at once.
            if self.target.is_some() {
                self.switches += 1;
            }
            return self.set(layers[best].rid);
        };
        if best < current {
            self.too_low_since = None;
            let since = *self.too_high_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= DOWN_AFTER {
                self.switches += 1;
                return self.set(layers[best].rid);
            }
        } else if best > current {
            self.too_high_since = None;
            let since = *self.too_low_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= UP_AFTER {
                self.switches += 1;
                return self.set(layers[best].rid);
            }
        } else {
            self.too_high_since = None;
            self.too_low_since = None;
        }
        None
    }

    fn set(&mut self, rid: Rid) -> Option<Rid> {
        self.too_high_since = None;
        self.too_low_since = None;
        self.target = Some(rid);
        Some(rid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn layers() -> Vec<LayerRate> {
        [("q", 150_000), ("h", 500_000), ("f", 1_500_000)]
            .iter()
            .map(|(rid, bps)| LayerRate {
                rid: Rid::from(*rid),
                bps: *bps,
            })
            .collect()
    }

    fn rid(s: &str) -> Option<Rid> {
        Some(Rid::from(s))
    }

    #[test]
    fn first_choice_is_the_highest_layer_that_fits_with_headroom() {
        let t0 = Instant::now();
        let cases = [
            (Some(5_000_000), rid("f")),
            // 1.5 M + 40 k audio needs 1.81 M of estimate at 0.85.
            (Some(1_800_000), rid("h")),
            (Some(1_820_000), rid("f")),
            (Some(300_000), rid("q")),
            // Not even the lowest fits: the lowest (pausing is bandwidth.rs's call).
            (Some(100_000), rid("q")),
            // No estimate yet: the estimator's starting value (1.5 M) decides.
            (None, rid("h")),
        ];
        for (estimate, want) in cases {
            let mut c = LayerChooser::default();
            assert_eq!(
                c.choose(&layers(), estimate, 40_000, t0),
                want,
                "{estimate:?}"
            );
            assert_eq!(c.target(), want);
            assert_eq!(c.switches, 0);
        }
    }

    #[test]
    fn goes_down_fast_and_up_slowly() {
        let t0 = Instant::now();
        let mut c = LayerChooser::default();
        assert_eq!(c.choose(&layers(), Some(3_000_000), 0, t0), rid("f"));
        // The link drops to 300 kbit/s: down to q after DOWN_AFTER, not before.
        assert_eq!(c.choose(&layers(), Some(300_000), 0, t0 + 100 * MS), None);
        assert_eq!(c.choose(&layers(), Some(300_000), 0, t0 + 399 * MS), None);
        assert_eq!(
            c.choose(&layers(), Some(300_000), 0, t0 + 400 * MS),
            rid("q")
        );
        assert_eq!(c.switches, 1);
        // It comes back: up only after UP_AFTER of fitting, straight to the best layer.
        let t1 = t0 + 1000 * MS;
        assert_eq!(c.choose(&layers(), Some(3_000_000), 0, t1), None);
        assert_eq!(
            c.choose(&layers(), Some(3_000_000), 0, t1 + 1999 * MS),
            None
        );
        assert_eq!(
            c.choose(&layers(), Some(3_000_000), 0, t1 + 2000 * MS),
            rid("f")
        );
        assert_eq!(c.switches, 2);
    }

    #[test]
    fn a_short_dip_or_peak_does_not_switch() {
        let t0 = Instant::now();
        let mut c = LayerChooser::default();
        assert_eq!(c.choose(&layers(), Some(1_000_000), 0, t0), rid("h"));
        // A 200 ms dip, then back: the down timer restarts.
        assert_eq!(c.choose(&layers(), Some(300_000), 0, t0 + 100 * MS), None);
        assert_eq!(c.choose(&layers(), Some(1_000_000), 0, t0 + 300 * MS), None);
        assert_eq!(c.choose(&layers(), Some(300_000), 0, t0 + 500 * MS), None);
        assert_eq!(c.choose(&layers(), Some(300_000), 0, t0 + 700 * MS), None);
        // A peak of 1.5 s, then back: the up timer restarts.
        assert_eq!(c.choose(&layers(), Some(3_000_000), 0, t0 + 800 * MS), None);
        assert_eq!(
            c.choose(&layers(), Some(3_000_000), 0, t0 + 2300 * MS),
            None
        );
        assert_eq!(
            c.choose(&layers(), Some(1_000_000), 0, t0 + 2400 * MS),
            None
        );
        assert_eq!(
            c.choose(&layers(), Some(3_000_000), 0, t0 + 2500 * MS),
            None
        );
        assert_eq!(c.target(), rid("h"));
        assert_eq!(c.switches, 0);
    }

    #[test]
    fn a_layer_that_stops_is_replaced_at_once_and_no_layers_keep_the_choice() {
        let t0 = Instant::now();
        let mut c = LayerChooser::default();
        assert_eq!(c.choose(&layers(), Some(5_000_000), 0, t0), rid("f"));
        // The publisher's encoder dropped its top layer (its own uplink or CPU).
        let two = &layers()[..2];
        assert_eq!(c.choose(two, Some(5_000_000), 0, t0 + MS), rid("h"));
        assert_eq!(c.switches, 1);
        assert_eq!(c.choose(&[], Some(5_000_000), 0, t0 + 2 * MS), None);
        assert_eq!(c.target(), rid("h"));
    }
}
