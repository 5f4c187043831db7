//! Whether a player's link has *carried* the rate of a higher simulcast layer (sans-IO:
//! byte counters, loss and time in).
//!
//! The bandwidth estimate alone is not enough to climb: in the browser netlab str0m
//! estimated 580-600 kbit/s for a player behind a 300 kbit/s link, its player climbed to a
//! layer the link could not carry and the link flooded (C froze 19-25 s of 30). So, as
//! LiveKit's stream allocator and mediasoup's probation do, a player goes up only on
//! traffic that was actually delivered:
//!
//! * every stats report (`PeerStats`, every [`crate::bandwidth::CURRENT_ESTIMATE_EVERY`])
//!   gives the bytes sent to the player (media, retransmissions, padding: all that took its
//!   link) and the loss its transport-wide feedback reported for the last second; the rate
//!   *delivered* is the rate sent less that loss;
//! * a rate is **confirmed** when an interval delivered it with at most [`CONFIRM_LOSS`]
//!   loss; a confirmation is good for [`CONFIRM_VALID`];
//! * to confirm a rate the player does not receive yet, the player **probes**: its
//!   estimator pads its link up to the goal (str0m `set_bitrate(minimum = goal, ..)`: padding
//!   up to min(goal, estimate)). A probe ends at its confirmation, at a report with more than
//!   [`ABORT_LOSS`] loss (the link is flooding: stop at once), or after [`PROBE_FOR`]. A
//!   failed probe is not tried again before a back-off that doubles ([`FIRST_BACKOFF`] up to
//!   [`MAX_BACKOFF`]): on a link that cannot carry the next layer each probe costs the
//!   player's picture a little, so it probes rarely;
//! * a report with more than [`CONGESTED_LOSS`] loss outside a probe (and its echo in the
//!   next second's loss) is congestion: the chooser goes down without waiting (layers.rs).

use std::time::{Duration, Instant};

/// A rate counts as confirmed when delivered with at most this loss.
pub const CONFIRM_LOSS: f32 = 0.03;
/// A probe is given up at once on a report with more loss than this.
pub const ABORT_LOSS: f32 = 0.06;
/// Loss above this outside a probe: the link is congested now.
pub const CONGESTED_LOSS: f32 = 0.10;
/// How much of the goal an interval must deliver to confirm it (padding ramps, the
/// interval's edges cut packets).
pub const CONFIRM_SHARE: f64 = 0.92;
/// How long a confirmation is good for.
pub const CONFIRM_VALID: Duration = Duration::from_secs(3);
/// The longest a probe pads the link.
pub const PROBE_FOR: Duration = Duration::from_millis(1500);
/// The wait after the first failed probe, doubled after each further one.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(8);
pub const MAX_BACKOFF: Duration = Duration::from_secs(40);
/// The loss str0m reports covers the last second: a probe's loss shows in reports up to
/// this long after it ended, and is not the link's congestion.
const PROBE_ECHO: Duration = Duration::from_millis(1200);

/// How a probe ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeEnd {
    Confirmed,
    Failed,
}

/// One player's delivered-rate bookkeeping and its probe toward the next layer.
#[derive(Debug, Default)]
pub struct UpProbe {
    /// The previous report: (when, total bytes sent to the player).
    last: Option<(Instant, u64)>,
    /// The rate the last interval delivered, and that interval's loss.
    pub delivered_bps: Option<u64>,
    pub loss: Option<f32>,
    /// The highest rate delivered at low loss, and when.
    confirmed: Option<(u64, Instant)>,
    /// The probe under way: (goal in bit/s, since).
    probe: Option<(u64, Instant)>,
    last_probe_end: Option<Instant>,
    backoff: Duration,
    not_before: Option<Instant>,
    /// Probes started / failed (for logs and tests).
    pub probes: u64,
    pub failed: u64,
}

impl UpProbe {
    /// A stats report: `bytes_tx` the total bytes sent to the player so far, `loss` the
    /// fraction its feedback reported lost over the last second. Returns how a probe ended,
    /// if this report ended one.
    pub fn on_report(
        &mut self,
        bytes_tx: u64,
        loss: Option<f32>,
        now: Instant,
    ) -> Option<ProbeEnd> {
        let previous = self.last.replace((now, bytes_tx));
        if loss.is_some() {
            self.loss = loss;
        }
        let (t, bytes) = previous?;
        let secs = now.saturating_duration_since(t).as_secs_f64();
        if secs <= 0.0 {
            return None;
        }
        let sent = bytes_tx.saturating_sub(bytes) as f64 * 8.0 / secs;
        let loss = self.loss.unwrap_or(0.0);
        let delivered = (sent * (1.0 - loss as f64)) as u64;
        self.delivered_bps = Some(delivered);
        if loss <= CONFIRM_LOSS {
            let keep = self.confirmed.filter(|(bps, at)| {
                *bps > delivered && now.saturating_duration_since(*at) < CONFIRM_VALID
            });
            if keep.is_none() {
                self.confirmed = Some((delivered, now));
            }
        }
        let (goal, since) = self.probe?;
        if self.confirms(goal, now) {
            self.end(ProbeEnd::Confirmed, now);
            Some(ProbeEnd::Confirmed)
        } else if loss > ABORT_LOSS || now.saturating_duration_since(since) >= PROBE_FOR {
            self.end(ProbeEnd::Failed, now);
            Some(ProbeEnd::Failed)
        } else {
            None
        }
    }

    /// Whether the link delivered `need_bps` at low loss recently.
    pub fn confirms(&self, need_bps: u64, now: Instant) -> bool {
        self.confirmed.is_some_and(|(bps, at)| {
            now.saturating_duration_since(at) < CONFIRM_VALID
                && bps as f64 >= need_bps as f64 * CONFIRM_SHARE
        })
    }

    /// Asks for a probe toward `goal_bps`. Returns whether one is under way now (a new one,
    /// or the one already running; not during a back-off).
    pub fn start(&mut self, goal_bps: u64, now: Instant) -> bool {
        if self.probe.is_some() {
            return true;
        }
        if self.not_before.is_some_and(|t| now < t) {
            return false;
        }
        self.probe = Some((goal_bps, now));
        self.probes += 1;
        true
    }

    /// The rate the player's link should be padded up to now (None: no probe).
    pub fn padding_goal(&self) -> Option<u64> {
        self.probe.map(|(goal, _)| goal)
    }

    /// Whether the last report showed congestion not caused by a probe of ours.
    pub fn congested(&self, now: Instant) -> bool {
        let echo = self
            .last_probe_end
            .is_some_and(|t| now.saturating_duration_since(t) < PROBE_ECHO);
        self.probe.is_none() && !echo && self.loss.is_some_and(|l| l > CONGESTED_LOSS)
    }

    /// Stops a probe that is no longer wanted (the layer above stopped, the player went down).
    pub fn cancel(&mut self, now: Instant) {
        if self.probe.take().is_some() {
            self.last_probe_end = Some(now);
        }
    }

    fn end(&mut self, how: ProbeEnd, now: Instant) {
        self.probe = None;
        self.last_probe_end = Some(now);
        match how {
            ProbeEnd::Confirmed => self.backoff = Duration::ZERO,
            ProbeEnd::Failed => {
                self.failed += 1;
                self.backoff = if self.backoff.is_zero() {
                    FIRST_BACKOFF
                } else {
                    (self.backoff * 2).min(MAX_BACKOFF)
                };
                self.not_before = Some(now + self.backoff);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const EVERY: Duration = Duration::from_millis(500);

    /// Feeds reports of `bps` sent with `loss`, every 500 ms for `n` reports, from `*t` on.
    fn feed(
        p: &mut UpProbe,
        bytes: &mut u64,
        t: &mut Instant,
        bps: u64,
        loss: f32,
        n: usize,
    ) -> Vec<ProbeEnd> {
        let mut ends = Vec::new();
        for _ in 0..n {
            *t += EVERY;
            *bytes += bps / 8 / 2;
            ends.extend(p.on_report(*bytes, Some(loss), *t));
        }
        ends
    }

    #[test]
    fn delivered_rate_is_sent_less_loss_and_confirms_only_at_low_loss() {
        let (mut p, mut bytes, mut t) = (UpProbe::default(), 0, Instant::now());
        assert!(feed(&mut p, &mut bytes, &mut t, 400_000, 0.0, 1).is_empty());
        assert_eq!(p.delivered_bps, None, "one report is no interval");
        feed(&mut p, &mut bytes, &mut t, 400_000, 0.0, 1);
        assert_eq!(p.delivered_bps, Some(400_000));
        assert!(p.confirms(400_000, t) && p.confirms(368_000, t));
        assert!(!p.confirms(500_000, t));
        // Sent 600 k, a quarter lost: 450 k delivered, and at that loss nothing is confirmed.
        feed(&mut p, &mut bytes, &mut t, 600_000, 0.25, 1);
        assert_eq!(p.delivered_bps, Some(450_000));
        assert!(!p.confirms(440_000, t));
        // A confirmation ages out.
        assert!(!p.confirms(400_000, t + CONFIRM_VALID));
    }

    #[test]
    fn a_probe_on_a_link_that_carries_the_goal_confirms_it() {
        let (mut p, mut bytes, mut t) = (UpProbe::default(), 0, Instant::now());
        feed(&mut p, &mut bytes, &mut t, 200_000, 0.0, 2);
        assert!(p.start(520_000, t));
        assert_eq!(p.padding_goal(), Some(520_000));
        // Padding ramps: the first interval is short of the goal, the second delivers it.
        assert!(feed(&mut p, &mut bytes, &mut t, 400_000, 0.0, 1).is_empty());
        assert_eq!(
            feed(&mut p, &mut bytes, &mut t, 500_000, 0.01, 1),
            [ProbeEnd::Confirmed]
        );
        assert_eq!(p.padding_goal(), None);
        assert!(p.confirms(520_000, t));
        assert_eq!((p.probes, p.failed), (1, 0));
    }

    #[test]
    fn a_probe_that_floods_the_link_stops_at_once_and_backs_off_longer_each_time() {
        let (mut p, mut bytes, mut t) = (UpProbe::default(), 0, Instant::now());
        feed(&mut p, &mut bytes, &mut t, 190_000, 0.0, 2);
        // The estimator says 600 k; the link carries 300 k: padding to 520 k loses 40 %.
        assert!(p.start(520_000, t));
        assert_eq!(
            feed(&mut p, &mut bytes, &mut t, 520_000, 0.4, 1),
            [ProbeEnd::Failed]
        );
        assert!(!p.confirms(520_000, t));
        assert!(!p.congested(t), "a probe's own loss is not congestion");
        assert!(!p.start(520_000, t + FIRST_BACKOFF - MS), "backing off");
        let t2 = t + FIRST_BACKOFF;
        assert!(p.start(520_000, t2));
        t = t2;
        assert_eq!(
            feed(&mut p, &mut bytes, &mut t, 520_000, 0.4, 1),
            [ProbeEnd::Failed]
        );
        assert!(!p.start(520_000, t + FIRST_BACKOFF * 2 - MS));
        assert!(p.start(520_000, t + FIRST_BACKOFF * 2));
        assert_eq!((p.probes, p.failed), (3, 2));
    }

    #[test]
    fn a_probe_that_never_reaches_its_goal_ends_after_probe_for() {
        let (mut p, mut bytes, mut t) = (UpProbe::default(), 0, Instant::now());
        feed(&mut p, &mut bytes, &mut t, 190_000, 0.0, 2);
        let start = t;
        assert!(p.start(520_000, t));
        // The estimate caps the padding at 300 k: no loss, no confirmation.
        let ends = feed(&mut p, &mut bytes, &mut t, 300_000, 0.0, 3);
        assert_eq!(ends, [ProbeEnd::Failed]);
        assert!(t - start >= PROBE_FOR);
    }

    #[test]
    fn loss_outside_a_probe_is_congestion() {
        let (mut p, mut bytes, mut t) = (UpProbe::default(), 0, Instant::now());
        feed(&mut p, &mut bytes, &mut t, 500_000, 0.0, 2);
        assert!(!p.congested(t));
        feed(&mut p, &mut bytes, &mut t, 500_000, 0.2, 1);
        assert!(p.congested(t));
        feed(&mut p, &mut bytes, &mut t, 500_000, 0.05, 1);
        assert!(!p.congested(t), "5 % is a lossy link, not a flooded one");
    }
}
