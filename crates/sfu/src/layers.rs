//! Which simulcast layer one player receives (sans-IO: rates, budget and time in).
//!
//! A publisher that sends simulcast (`a=simulcast` + `a=rid`, see simulcast.rs) offers the
//! same picture in several layers of different bit rates. Each player gets one of them: the
//! highest whose rate, with the audio beside it, fits the player's *budget* and the cap its
//! `playStream` asked for ([`allows`]). The budget ([`player_budget`]) is [`HEADROOM`] of
//! the player's bandwidth estimate (bandwidth.rs keeps one per player), but the players of
//! one downlink are budgeted together: a browser playing two streams estimates each of its
//! two connections separately, each about its share of the one link, so each alone would
//! pick a layer for the whole link (the netlab: two players on a 300 kbit/s link estimated
//! 110-180 kbit/s each, started on h and f and froze for most of 30 s). The players of one
//! remote IP address are one downlink (sfu.rs groups them; see there why the IP): their
//! estimates add up to the link, the others' layers are taken out first.
//!
//! The choice is damped:
//!
//! * a new player starts on the **lowest** layer when its budget is not known yet (its
//!   estimator's starting value is a guess, not a measurement: starting above the link
//!   froze the slow player for seconds);
//! * down when the current layer has not fitted for [`DOWN_AFTER`]: the link is already
//!   congested, every moment on the too-high layer grows the player's queue;
//! * up only when the higher layer has fitted for [`UP_AFTER`]: an estimate climbs in steps
//!   and a layer switch costs a keyframe, so a short peak must not flap the layer;
//! * and up only when the player's link has *delivered* the higher layer's rate
//!   (layer_probe.rs): the estimate may overrate the link (the browser netlab: 600 kbit/s
//!   estimated behind 300), so the player first probes, padding its link up to the layer's
//!   rate, and climbs only if that arrived with low loss. A probe that fails backs off;
//! * down at once on congestion (loss reported outside a probe), without [`DOWN_AFTER`].
//!
//! The choice is a *target*: the player keeps receiving its current layer until the target's
//! next keyframe (simulcast.rs `Follow`), so a switch never freezes the picture.
//!
//! When even the lowest layer does not fit, the lowest is chosen; pausing the video then is
//! bandwidth.rs's job, which for a simulcast source compares the estimate with the lowest
//! layer's rate.

use std::time::{Duration, Instant};

use huddle_room::PlayConstraints;
use str0m::media::Rid;

use crate::layer_probe::UpProbe;

/// A layer fits when its rate plus the audio rate is at most this share of the estimate
/// (the rest absorbs keyframes, retransmissions and the estimate's own error).
pub const HEADROOM: f64 = 0.85;
/// How long the current layer must not fit before the player goes down.
pub const DOWN_AFTER: Duration = Duration::from_millis(300);
/// How long a higher layer must fit before the player goes up.
pub const UP_AFTER: Duration = Duration::from_millis(2000);

/// One layer the publisher is sending now, with its measured rate in bit/s and, once a
/// keyframe told it (VP8), its picture size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerRate {
    pub rid: Rid,
    pub bps: u64,
    pub size: Option<(u32, u32)>,
}

/// Whether `layers[i]` (lowest rate first) is within what the player's `playStream` asked
/// for (`cap`: the highest layer within it is the most the player gets; None: no limit). A
/// layer whose size is not known yet (no keyframe seen, or not VP8) is judged by its rate and
/// rank only. `quality` is a share rather than a rate (the SDK's quality is a relative wish
/// and the layers' rates are the publisher's): of three layers 1-33 allows the lowest, 34-66
/// the lower two, 67-100 all.
pub fn allows(cap: &PlayConstraints, layers: &[LayerRate], i: usize) -> bool {
    let layer = &layers[i];
    let within = |limit: Option<u32>, v: Option<u32>| match (limit, v) {
        (Some(limit), Some(v)) => v <= limit,
        _ => true,
    };
    // Highest rank allowed: ceil(quality% of the layers) - 1.
    let rank_ok = cap
        .quality
        .is_none_or(|q| i * 100 < (q.min(100) as usize) * layers.len());
    rank_ok
        && within(cap.width, layer.size.map(|s| s.0))
        && within(cap.height, layer.size.map(|s| s.1))
        && cap.video_bps.is_none_or(|max| layer.bps <= max)
}

/// Another player on the same downlink as the one being chosen for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkMate {
    /// Its estimate (None: none yet; it then adds nothing to the link).
    pub estimate_bps: Option<u64>,
    /// What it receives now (video layer + audio, bit/s).
    pub need_bps: u64,
    /// Whether it is probing the link now (one probe per link at a time: two would each
    /// measure the other's padding as their loss).
    pub probing: bool,
}

/// The bit/s a player's audio and video may take: [`HEADROOM`] of the link (the sum of the
/// estimates of its players: each estimates about its share) less what the other players on
/// that link receive, and never more than [`HEADROOM`] of its own estimate (one IP need not
/// be one link: behind a carrier NAT a mate's fast link must not lift a slow player). None
/// before the player's own first estimate.
pub fn player_budget(own_estimate: Option<u64>, mates: &[LinkMate]) -> Option<u64> {
    let own = own_estimate?;
    let link: u64 = own + mates.iter().filter_map(|m| m.estimate_bps).sum::<u64>();
    let others: u64 = mates.iter().map(|m| m.need_bps).sum();
    let shared = ((link as f64 * HEADROOM) as u64).saturating_sub(others);
    Some(shared.min((own as f64 * HEADROOM) as u64))
}

/// Whether the player's estimator should aim at the layer above its own (probe toward it)
/// rather than at its own layer: only while the own layer fits its `budget` with 10 % to spare
/// (the netlab: two players on one 300 kbit/s link probing toward 500 kbit/s filled it and
/// froze both; with less a player never climbs: its estimate grows only toward what it aims
/// at, 1.5x, bandwidth.rs), and not in the estimator's first aim (`aimed` false) when the
/// player shares its link with `mates`: str0m's start-up probes (3x and 6x the starting
/// estimate, capped at twice the aim) go out with the first aim, and each player of a link
/// probing it for a higher layer at once overflowed it (the lab's shared 300 kbit/s link, two
/// players: ~17 KB of probes within 50 ms into a 7.5 KB queue, 30 tail drops, freezes of
/// 324-446 ms; with only the first player of a link probing high, none). A mate climbs
/// later like any player: its next aim and the layer probes, one per link at a time.
pub fn aim_above_own_layer(
    budget: Option<u64>,
    own_need: u64,
    aimed: bool,
    mates: &[LinkMate],
) -> bool {
    budget.is_some_and(|b| b as f64 >= own_need as f64 * 1.1) && (aimed || mates.is_empty())
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
    /// The target layer's rate plus audio at the last choice: what this player takes from
    /// its downlink, for the budget of the other players on it.
    pub need_bps: u64,
    /// The player's `playStream` constraints.
    pub cap: PlayConstraints,
    /// What the player's link delivered, and the probe toward a higher layer.
    pub probe: UpProbe,
    /// Another player of the same link is probing: no probe of this one now.
    pub link_busy: bool,
    /// The padding goal last given to the player's estimator (the core sets it again when
    /// the probe's goal differs).
    pub applied_padding: Option<u64>,
    /// The core has given the player's estimator its rates at least once (str0m's start-up
    /// probes went out with the first: [`aim_above_own_layer`]).
    pub estimator_aimed: bool,
}

impl LayerChooser {
    /// The chooser of a player whose `playStream` asked for `cap`.
    pub fn capped(cap: PlayConstraints) -> LayerChooser {
        LayerChooser {
            cap,
            ..Default::default()
        }
    }

    /// The layer the player should receive, once one was chosen (the core keeps it in the
    /// player's `Follow`; the tests read it here).
    #[cfg(test)]
    pub fn target(&self) -> Option<Rid> {
        self.target
    }

    /// Re-evaluates the choice. `layers` are the layers being sent, lowest rate first;
    /// `budget_bps` what the player may take ([`player_budget`]; None before its first
    /// estimate: the lowest layer); `audio_bps` what the player's audio takes. Returns the
    /// new target when it changed (also the first choice).
    pub fn choose(
        &mut self,
        layers: &[LayerRate],
        budget_bps: Option<u64>,
        audio_bps: u64,
        now: Instant,
    ) -> Option<Rid> {
        if layers.is_empty() {
            return None; // nothing is sent: keep what we had, the publisher may come back
        }
        let mut best = match budget_bps {
            // The highest layer within the cap that fits (the lowest is always allowed).
            Some(budget) => layers
                .iter()
                .enumerate()
                .rposition(|(i, l)| allows(&self.cap, layers, i) && l.bps + audio_bps <= budget)
                .unwrap_or(0),
            None => 0,
        };
        let current = self
            .target
            .and_then(|rid| layers.iter().position(|l| l.rid == rid));
        // Loss on the link now: one layer down without waiting, whatever the estimate says.
        let congested = self.probe.congested(now);
        if let Some(current) = current.filter(|&c| c > 0 && congested) {
            best = best.min(current - 1);
        }
        if current.is_none_or(|c| best <= c) {
            self.probe.cancel(now);
        }
        let changed = match current {
            // First choice, or the target layer stopped: take the best at once.
            None => {
                if self.target.is_some() {
                    self.switches += 1;
                }
                self.set(layers[best].rid)
            }
            Some(current) if best < current => {
                self.too_low_since = None;
                let since = *self.too_high_since.get_or_insert(now);
                // Above the cap: at once (it is what the player asked, not a guess); on
                // congestion too (the link is already losing packets).
                let capped = !allows(&self.cap, layers, current);
                if capped || congested || now.saturating_duration_since(since) >= DOWN_AFTER {
                    self.switches += 1;
                    self.set(layers[best].rid)
                } else {
                    None
                }
            }
            Some(current) if best > current => {
                self.too_high_since = None;
                let since = *self.too_low_since.get_or_insert(now);
                let need = layers[best].bps + audio_bps;
                if now.saturating_duration_since(since) < UP_AFTER {
                    None
                } else if self.probe.confirms(need, now) {
                    self.switches += 1;
                    self.set(layers[best].rid)
                } else {
                    // Not delivered yet: probe toward it (the core pads the link to
                    // `probe.padding_goal()`), unless a link mate is probing.
                    if !self.link_busy {
                        self.probe.start(need, now);
                    }
                    None
                }
            }
            Some(_) => {
                self.too_high_since = None;
                self.too_low_since = None;
                None
            }
        };
        if let Some(l) = self
            .target
            .and_then(|rid| layers.iter().find(|l| l.rid == rid))
        {
            self.need_bps = l.bps + audio_bps;
        }
        changed
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
        [
            ("q", 150_000, 240),
            ("h", 500_000, 480),
            ("f", 1_500_000, 960),
        ]
        .iter()
        .map(|(rid, bps, w)| LayerRate {
            rid: Rid::from(*rid),
            bps: *bps,
            size: Some((*w, *w * 9 / 16)),
        })
        .collect()
    }

    fn rid(s: &str) -> Option<Rid> {
        Some(Rid::from(s))
    }

    /// The budget of a player alone on its link.
    fn alone(estimate: u64) -> Option<u64> {
        player_budget(Some(estimate), &[])
    }

    /// Two stats reports, 500 ms apart, ending at `t`: the link delivered `bps` at `loss`.
    fn deliver(c: &mut LayerChooser, bps: u64, loss: f32, t: Instant) {
        let bytes = 10_000_000;
        c.probe.on_report(bytes, Some(loss), t - 500 * MS);
        c.probe.on_report(bytes + bps / 16, Some(loss), t);
    }

    #[test]
    fn first_choice_is_the_highest_layer_that_fits_with_headroom() {
        let t0 = Instant::now();
        let cases = [
            (alone(5_000_000), rid("f")),
            // 1.5 M + 40 k audio needs 1.81 M of estimate at 0.85.
            (alone(1_800_000), rid("h")),
            (alone(1_820_000), rid("f")),
            (alone(300_000), rid("q")),
            // Not even the lowest fits: the lowest (pausing is bandwidth.rs's call).
            (alone(100_000), rid("q")),
            // No estimate yet: the lowest, whatever the estimator starts from.
            (player_budget(None, &[]), rid("q")),
        ];
        for (budget, want) in cases {
            let mut c = LayerChooser::default();
            assert_eq!(c.choose(&layers(), budget, 40_000, t0), want, "{budget:?}");
            assert_eq!(c.target(), want);
            assert_eq!(c.switches, 0);
            let l = layers().into_iter().find(|l| Some(l.rid) == want).unwrap();
            assert_eq!(c.need_bps, l.bps + 40_000);
        }
    }

    #[test]
    fn players_of_one_link_share_its_estimate() {
        // Two players behind 300 kbit/s, each estimating about its half.
        let mate = |est, need| LinkMate {
            estimate_bps: Some(est),
            need_bps: need,
            probing: false,
        };
        let b = player_budget(Some(150_000), &[mate(150_000, 190_000)]).unwrap();
        assert_eq!(b, 255_000 - 190_000);
        // A mate with no estimate yet adds nothing but still takes its layer.
        let b = player_budget(
            Some(2_000_000),
            &[LinkMate {
                estimate_bps: None,
                need_bps: 190_000,
                probing: false,
            }],
        );
        assert_eq!(b, Some(1_700_000 - 190_000));
        // Never above the player's own estimate, whatever the mates' estimates say.
        let b = player_budget(Some(300_000), &[mate(5_000_000, 1_540_000)]);
        assert_eq!(b, Some(255_000));
        // Mates taking more than the link: nothing left (the lowest layer then).
        assert_eq!(
            player_budget(Some(100_000), &[mate(100_000, 900_000)]),
            Some(0)
        );
        // Two players on a fast link each fit the top layer: 2 x 1.54 M in 0.85 x 4 M.
        let b = player_budget(Some(2_000_000), &[mate(2_000_000, 1_540_000)]);
        let mut c = LayerChooser::default();
        assert_eq!(c.choose(&layers(), b, 40_000, Instant::now()), rid("f"));
    }

    #[test]
    fn a_player_joining_mates_first_aims_at_its_own_layer() {
        let mate = LinkMate {
            estimate_bps: Some(150_000),
            need_bps: 110_000,
            probing: false,
        };
        // Room for more than its own 110 k: alone it aims higher from the start...
        assert!(aim_above_own_layer(Some(200_000), 110_000, false, &[]));
        // ...with a mate on its link not in its first aim, only from the next one.
        assert!(!aim_above_own_layer(Some(200_000), 110_000, false, &[mate]));
        assert!(aim_above_own_layer(Some(200_000), 110_000, true, &[mate]));
        // No room (less than 10 % to spare) or no budget yet: its own layer.
        assert!(!aim_above_own_layer(Some(120_000), 110_000, true, &[]));
        assert!(!aim_above_own_layer(None, 110_000, true, &[]));
    }

    #[test]
    fn goes_down_fast_and_up_slowly() {
        let t0 = Instant::now();
        let mut c = LayerChooser::default();
        assert_eq!(c.choose(&layers(), alone(3_000_000), 0, t0), rid("f"));
        // The link drops to 300 kbit/s: down to q after DOWN_AFTER, not before.
        assert_eq!(c.choose(&layers(), alone(300_000), 0, t0 + 100 * MS), None);
        assert_eq!(c.choose(&layers(), alone(300_000), 0, t0 + 399 * MS), None);
        assert_eq!(
            c.choose(&layers(), alone(300_000), 0, t0 + 400 * MS),
            rid("q")
        );
        assert_eq!(c.switches, 1);
        // It comes back: up only after UP_AFTER of fitting and a probe that delivered the
        // best layer's rate, straight to that layer.
        let t1 = t0 + 1000 * MS;
        assert_eq!(c.choose(&layers(), alone(3_000_000), 0, t1), None);
        assert_eq!(
            c.choose(&layers(), alone(3_000_000), 0, t1 + 1999 * MS),
            None
        );
        assert_eq!(c.probe.padding_goal(), None);
        let t2 = t1 + 2000 * MS;
        assert_eq!(c.choose(&layers(), alone(3_000_000), 0, t2), None);
        assert_eq!(c.probe.padding_goal(), Some(1_500_000), "probes toward f");
        deliver(&mut c, 1_500_000, 0.0, t2 + 1000 * MS);
        assert_eq!(c.probe.padding_goal(), None, "the probe confirmed f");
        assert_eq!(
            c.choose(&layers(), alone(3_000_000), 0, t2 + 1000 * MS),
            rid("f")
        );
        assert_eq!(c.switches, 2);
    }

    #[test]
    fn a_new_player_starts_low_and_climbs_when_its_estimate_holds() {
        let t0 = Instant::now();
        let mut c = LayerChooser::default();
        assert_eq!(c.choose(&layers(), None, 40_000, t0), rid("q"));
        // Its first estimate is high: up only after it held for UP_AFTER.
        assert_eq!(
            c.choose(&layers(), alone(3_000_000), 40_000, t0 + 100 * MS),
            None
        );
        let t1 = t0 + 2100 * MS;
        assert_eq!(c.choose(&layers(), alone(3_000_000), 40_000, t1), None);
        deliver(&mut c, 1_540_000, 0.01, t1 + 500 * MS);
        assert_eq!(
            c.choose(&layers(), alone(3_000_000), 40_000, t1 + 500 * MS),
            rid("f")
        );
    }

    #[test]
    fn an_overrated_estimate_does_not_lift_the_player_over_its_link() {
        // The browser netlab: 600-700 kbit/s estimated behind a 300 kbit/s link.
        let t0 = Instant::now();
        let mut c = LayerChooser::default();
        assert_eq!(c.choose(&layers(), None, 40_000, t0), rid("q"));
        deliver(&mut c, 190_000, 0.0, t0 + 1000 * MS);
        let mut t = t0 + 1000 * MS;
        let mut probes_at = Vec::new();
        while t < t0 + 30_000 * MS {
            assert_eq!(c.choose(&layers(), alone(700_000), 40_000, t), None);
            if let Some(goal) = c.probe.padding_goal() {
                assert_eq!(goal, 540_000, "the probe pads toward h");
                if probes_at.last() != Some(&c.probe.probes) {
                    probes_at.push(c.probe.probes);
                }
                // Padded to 540 k, the 300 k link drops 45 %.
                deliver(&mut c, 540_000, 0.45, t + 500 * MS);
            } else {
                deliver(&mut c, 190_000, 0.0, t + 500 * MS);
            }
            t += 500 * MS;
        }
        assert_eq!(c.target(), rid("q"));
        assert_eq!(c.switches, 0);
        // Probes at 3 s, then after 8, 16 s of back-off: three in 30 s, each ended by the first
        // lossy report.
        assert_eq!((c.probe.probes, c.probe.failed), (3, 3));
    }

    #[test]
    fn congestion_goes_down_at_once() {
        let t0 = Instant::now();
        let mut c = LayerChooser::default();
        assert_eq!(c.choose(&layers(), alone(3_000_000), 0, t0), rid("f"));
        deliver(&mut c, 1_500_000, 0.0, t0 + 1000 * MS);
        assert_eq!(
            c.choose(&layers(), alone(3_000_000), 0, t0 + 1000 * MS),
            None
        );
        // 20 % lost while the estimate still says 3 M: one layer down, no DOWN_AFTER.
        deliver(&mut c, 1_500_000, 0.2, t0 + 1500 * MS);
        assert_eq!(
            c.choose(&layers(), alone(3_000_000), 0, t0 + 1500 * MS),
            rid("h")
        );
    }

    #[test]
    fn the_cap_limits_the_layer_and_applies_at_once() {
        let t0 = Instant::now();
        let cases = [
            (PlayConstraints::default(), rid("f")),
            (
                PlayConstraints {
                    width: Some(640),
                    ..Default::default()
                },
                rid("h"),
            ),
            (
                PlayConstraints {
                    height: Some(200),
                    ..Default::default()
                },
                rid("q"),
            ),
            (
                PlayConstraints {
                    video_bps: Some(600_000),
                    ..Default::default()
                },
                rid("h"),
            ),
            // Below every layer: the lowest still plays.
            (
                PlayConstraints {
                    width: Some(100),
                    ..Default::default()
                },
                rid("q"),
            ),
            // Quality: a share of the three layers, lowest first.
            (
                PlayConstraints {
                    quality: Some(33),
                    ..Default::default()
                },
                rid("q"),
            ),
            (
                PlayConstraints {
                    quality: Some(34),
                    ..Default::default()
                },
                rid("h"),
            ),
            (
                PlayConstraints {
                    quality: Some(66),
                    ..Default::default()
                },
                rid("h"),
            ),
            (
                PlayConstraints {
                    quality: Some(67),
                    ..Default::default()
                },
                rid("f"),
            ),
            (
                PlayConstraints {
                    quality: Some(1),
                    video_bps: Some(10_000_000),
                    ..Default::default()
                },
                rid("q"),
            ),
        ];
        for (cap, want) in cases {
            let mut c = LayerChooser {
                cap,
                ..Default::default()
            };
            assert_eq!(
                c.choose(&layers(), alone(5_000_000), 0, t0),
                want,
                "{cap:?}"
            );
        }
        // A layer of unknown size is judged by its rate only.
        let mut unsized_layers = layers();
        unsized_layers[2].size = None;
        let mut c = LayerChooser {
            cap: PlayConstraints {
                width: Some(640),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(c.choose(&unsized_layers, alone(5_000_000), 0, t0), rid("f"));
        // The cap lowered while on f: down at once, not after DOWN_AFTER.
        c.cap.video_bps = Some(200_000);
        assert_eq!(
            c.choose(&unsized_layers, alone(5_000_000), 0, t0 + MS),
            rid("q")
        );
    }

    #[test]
    fn quality_is_a_share_of_the_layers_being_sent() {
        let cap = |q| PlayConstraints {
            quality: Some(q),
            ..Default::default()
        };
        // Of two layers, 50 % is the lower one only, 51 % both.
        let two = &layers()[..2];
        assert!(allows(&cap(50), two, 0) && !allows(&cap(50), two, 1));
        assert!(allows(&cap(51), two, 1));
        // A single layer plays at any quality; above 100 counts as 100.
        assert!(allows(&cap(1), &layers()[..1], 0));
        assert!(allows(&cap(255), &layers(), 2));
    }

    #[test]
    fn a_short_dip_or_peak_does_not_switch() {
        let t0 = Instant::now();
        let mut c = LayerChooser::default();
        assert_eq!(c.choose(&layers(), alone(1_000_000), 0, t0), rid("h"));
        // A 200 ms dip, then back: the down timer restarts.
        assert_eq!(c.choose(&layers(), alone(300_000), 0, t0 + 100 * MS), None);
        assert_eq!(
            c.choose(&layers(), alone(1_000_000), 0, t0 + 300 * MS),
            None
        );
        assert_eq!(c.choose(&layers(), alone(300_000), 0, t0 + 500 * MS), None);
        assert_eq!(c.choose(&layers(), alone(300_000), 0, t0 + 700 * MS), None);
        // A peak of 1.5 s, then back: the up timer restarts.
        assert_eq!(
            c.choose(&layers(), alone(3_000_000), 0, t0 + 800 * MS),
            None
        );
        assert_eq!(
            c.choose(&layers(), alone(3_000_000), 0, t0 + 2300 * MS),
            None
        );
        assert_eq!(
            c.choose(&layers(), alone(1_000_000), 0, t0 + 2400 * MS),
            None
        );
        assert_eq!(
            c.choose(&layers(), alone(3_000_000), 0, t0 + 2500 * MS),
            None
        );
        assert_eq!(c.target(), rid("h"));
        assert_eq!(c.switches, 0);
    }

    #[test]
    fn a_layer_that_stops_is_replaced_at_once_and_no_layers_keep_the_choice() {
        let t0 = Instant::now();
        let mut c = LayerChooser::default();
        assert_eq!(c.choose(&layers(), alone(5_000_000), 0, t0), rid("f"));
        // The publisher's encoder dropped its top layer (its own uplink or CPU).
        let two = &layers()[..2];
        assert_eq!(c.choose(two, alone(5_000_000), 0, t0 + MS), rid("h"));
        assert_eq!(c.switches, 1);
        assert_eq!(c.choose(&[], alone(5_000_000), 0, t0 + 2 * MS), None);
        assert_eq!(c.target(), rid("h"));
    }
}
