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
//!
//! Two estimates: str0m's event (`EgressBitrateEstimate`) is an average of the estimates of
//! the last 3 s (str0m `bwe/smoother.rs`, not cleared by `rtc.bwe().reset`), which keeps the
//! pause decision calm but lags a probe that found a recovered link by seconds. A paused
//! player therefore also reads the estimator's own current value, which str0m reports once
//! per stats interval (`Event::PeerStats` `bwe_tx`, [`VideoGate::on_current_estimate`]): a
//! probe that measured the need resumes it at the next report ([`VideoGate::evaluate`]).
//!
//! A link that drops what we send is paused sooner. The averaged event estimate of a player
//! slow from its first packet starts from [`INITIAL_ESTIMATE_BPS`] and needs seconds to fall
//! below the need (tests/network.rs, 300 kbit/s for a 370 kbit/s stream: 1500 -> 878 -> 743
//! -> ... -> 329 kbit/s, paused after 6.9 s), while the pacer (2.5x the estimate) floods the
//! link and half the audio is dropped in its queue (88-90 % of the audio kept in 30 s). Two
//! signals of the same stats report say so within a second: the loss of what we sent in the
//! last second, from the player's transport-wide feedback, at or above [`CONGESTION_LOSS`]
//! (38-59 % there; the lab's 5 % random loss reports at most 9 %), and the estimator's
//! current value below the pause line (205-256 kbit/s there). Both in two reports in a row
//! ([`CONGESTED_PAUSE_AFTER`]) pause the video at once ([`VideoGate::on_egress_loss`]): the
//! same player is paused 1.5 s after its start and keeps 98 % of its audio. For
//! [`SMOOTHED_LAG`] after such a pause the lower of the averaged and the current estimate
//! counts ([`VideoGate::estimate_for`]): the average still carries the flood. A link that
//! only loses packets keeps its estimate near the need and its loss low, and is left to the
//! rules above (and to headroom.rs, which does not restart the estimator under such loss).
//!
//! A stall of the server's own media loop ([`VideoGate::excuse_stall`]) is not the player's
//! congestion: for [`STALL_GRACE`] after it no low estimate and no backed-up queue counts
//! toward a pause (the backlog, late feedback and datagrams the socket dropped meanwhile
//! are ours), and an estimate the stall dragged down is put back afterwards
//! ([`VideoGate::estimator_reset_due`]).

use std::time::{Duration, Instant};

/// The estimate must stay below `need * PAUSE_BELOW` this long before video is paused.
pub const PAUSE_AFTER: Duration = Duration::from_millis(2000);
pub const PAUSE_BELOW: f64 = 0.9;
/// ... and be at least `need * RESUME_AT` this long before it resumes.
pub const RESUME_AFTER: Duration = Duration::from_millis(300);
pub const RESUME_AT: f64 = 1.0;
/// A paused video stays paused at least this long (no flapping).
pub const MIN_PAUSE: Duration = Duration::from_millis(2000);
/// A resume that is paused again within this time failed (the estimate that resumed it
/// overrated the link): the next pause lasts twice as long, up to [`MAX_MIN_PAUSE`], so a
/// link that stays too slow costs its publisher at most one keyframe per that long. While
/// a resume is this young, [`TRIAL_PAUSE_AFTER`] of congestion is enough to pause again.
pub const FAILED_RESUME_WITHIN: Duration = Duration::from_millis(4000);
pub const MAX_MIN_PAUSE: Duration = Duration::from_millis(8000);
pub const TRIAL_PAUSE_AFTER: Duration = Duration::from_millis(1000);
/// An estimate this far above the need is a recovered link, not a probe that overrated a
/// slow one: it resumes after [`MIN_PAUSE`] even when failed resumes lengthened the pause.
pub const CLEAR_RESUME_AT: f64 = 1.5;
/// While paused below the resume line, the estimator restarts this often from this share
/// of the need to probe the link ([`VideoGate::paused_probe_due`]).
pub const PAUSED_PROBE_EVERY: Duration = Duration::from_millis(1000);
pub const PAUSED_PROBE_FROM: f64 = 1.0 / 3.0;
/// How often a player's Rtc reports the estimator's current value (its stats interval,
/// peer.rs): while paused, one restart-and-probe round per report, so this is the step in
/// which a recovered link is found.
pub const CURRENT_ESTIMATE_EVERY: Duration = Duration::from_millis(500);
/// A restart's probes have their feedback within this (a few round trips): an estimator
/// report taken sooner after a restart says nothing about them, and the next restart waits
/// for a later one, so that no restart wipes out a probe result before it was read.
pub const PROBE_SETTLE: Duration = Duration::from_millis(400);
/// str0m's event estimate averages this long: for this long after a resume, the current
/// estimate that resumed the player counts as well ([`VideoGate::estimate_for`]).
pub const SMOOTHED_LAG: Duration = Duration::from_millis(3000);
/// The estimate a player's Rtc starts from, before any feedback (video is paced at 1.1x
/// the estimate until feedback arrives). Lower values paused fast links at the start in the
/// lab (the initial queue backed up before str0m's initial probes raised the estimate).
pub const INITIAL_ESTIMATE_BPS: u64 = 1_500_000;
/// A video send queue that backed up this recently counts as "below the need" (the estimate
/// lags the link; the queue does not).
pub const STARVED_RECENTLY: Duration = Duration::from_millis(1000);
/// The need a paused player must reach to resume is the source's recent peak rate, halving
/// every this long: a momentary dip of the source (an encoder between keyframes, a busy
/// publisher) must not resume a player the link cannot carry.
pub const NEED_PEAK_HALF_LIFE: Duration = Duration::from_secs(10);
/// After a stall of the media loop, its effects settle for this long: the pacer drains the
/// frames that piled up, feedback read late or lost in the socket reaches the estimator.
/// Nothing in this window counts as the player's congestion.
pub const STALL_GRACE: Duration = Duration::from_millis(2000);
/// The loss (share of the packets sent in the last second that the player's transport-wide
/// feedback reports lost) from which a link counts as dropping what we send: above what
/// random loss shows (tests/loss.rs, 5 %: at most 9 % in 1120 reports; the browser netlab's
/// 5 % link, Chrome's receiver reports: clusters of 10-12 % for a second), below the 37-61 %
/// of a link too slow for the stream from its second congested report on (tests/network.rs).
pub const CONGESTION_LOSS: f32 = 0.2;
/// With that loss and the current estimate below the pause line in every report for this
/// long (one report interval: two reports in a row), video is paused without waiting for
/// [`PAUSE_AFTER`].
pub const CONGESTED_PAUSE_AFTER: Duration = CURRENT_ESTIMATE_EVERY;
/// A loss or current-estimate report older than this is no longer the link's state (a
/// report is due every [`CURRENT_ESTIMATE_EVERY`]).
pub const REPORT_FRESH: Duration = Duration::from_millis(1000);
/// After the grace, an estimate below this share of the one before the stall is the
/// stall's doing: the estimator restarts from the estimate before the stall.
pub const STALL_ESTIMATE_DROP: f64 = 0.9;

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
    /// When the player's video send queue last backed up (forward.rs).
    last_starved: Option<Instant>,
    /// The source's recent peak need (bit/s) and when it was last updated.
    need_peak: f64,
    need_peak_at: Option<Instant>,
    /// Until when the effects of our own stall are excused, and the estimate before it.
    stall_excused_until: Option<Instant>,
    estimate_before_stall: Option<u64>,
    /// When the paused player's estimator was last restarted to probe ([`Self::paused_probe_due`]).
    last_paused_probe: Option<Instant>,
    /// When video last resumed, and how long the current pause must last at least (doubles
    /// after each resume that did not hold: [`FAILED_RESUME_WITHIN`]).
    resumed_at: Option<Instant>,
    min_pause: Duration,
    /// The estimator's own current estimate (not averaged) and when it was reported.
    current: Option<(u64, Instant)>,
    /// The loss of the last second's packets and when it was reported ([`Self::on_egress_loss`]).
    loss: Option<(f32, Instant)>,
    /// Since which report heavy loss and a low current estimate say the link is congested.
    congested_since: Option<Instant>,
    /// Paused on heavy loss: until then the averaged estimate still carries the seconds
    /// before the pause, and the lower of it and the current estimate counts.
    average_stale_until: Option<Instant>,
}

impl VideoGate {
    pub fn on_estimate(&mut self, bps: u64) {
        self.estimate_bps = Some(bps);
    }

    /// The estimator's current value, unaveraged (str0m `PeerStats::bwe_tx`, once per stats
    /// interval). Used while paused and shortly after a resume: see the module doc.
    pub fn on_current_estimate(&mut self, bps: u64, now: Instant) {
        self.current = Some((bps, now));
    }

    /// The share of the packets sent in the last second the player's transport-wide feedback
    /// reports lost (str0m `PeerStats::egress_loss_fraction`, in the same report as the
    /// current estimate): with the current estimate, the fast congestion signal of the
    /// module doc.
    pub fn on_egress_loss(&mut self, loss: f32, now: Instant) {
        if self.stall_excused(now) {
            // Feedback lost in our socket reads as loss: not the link's.
            self.loss = None;
            return;
        }
        self.loss = Some((loss, now));
        if loss < CONGESTION_LOSS {
            // Two congested reports must be in a row, even if no evaluation ran between.
            self.congested_since = None;
        }
    }

    /// Paused on heavy loss: the reports that paused it (current estimate, loss), for the log.
    pub fn heavy_loss_pause(&self) -> Option<(u64, f32)> {
        let (current, _) = self.current.filter(|_| self.paused)?;
        let (loss, _) = self.loss.filter(|_| self.average_stale_until.is_some())?;
        Some((current, loss))
    }

    /// The latest loss report, if recent, is at or above [`CONGESTION_LOSS`].
    pub fn heavy_loss(&self, now: Instant) -> bool {
        self.loss.is_some_and(|(l, at)| {
            l >= CONGESTION_LOSS && now.saturating_duration_since(at) <= REPORT_FRESH
        })
    }

    /// The latest reports say congestion: heavy loss and a current estimate below the
    /// pause line for `need`. Returns the loss report's time.
    fn congested_report(&self, need: f64, now: Instant) -> Option<Instant> {
        let (_, at) = self.loss.filter(|_| self.heavy_loss(now))?;
        let (current, current_at) = self.current?;
        let fresh = now.saturating_duration_since(current_at) <= REPORT_FRESH;
        (fresh && (current as f64) < need * PAUSE_BELOW).then_some(at)
    }

    /// The estimate the rules compare with the need: the (averaged) event estimate, or for
    /// [`SMOOTHED_LAG`] after a resume the current estimate where it is higher (the average
    /// still carries the slow period then).
    ///
    /// After a pause on heavy loss the other way round: for [`SMOOTHED_LAG`] the lower of the
    /// two counts. The average then still carries the flood before the pause (a player slow
    /// from its start: the initial 1.5 Mbit/s), and it resumed the netlab's slow player 2 s
    /// into its pause (averaged 272 kbit/s for a 227 kbit/s stream on a 300 kbit/s link) into
    /// a second flood of 1.5 s; a paused player's estimator restart from it would probe from
    /// there too ([`Self::paused_probe_due`]).
    pub fn estimate_for(&self, now: Instant) -> Option<u64> {
        let stale = self.paused && self.average_stale_until.is_some_and(|u| now < u);
        if let (true, Some((c, _))) = (stale, self.current) {
            return Some(self.estimate_bps.map_or(c, |e| e.min(c)));
        }
        let fresh = self
            .resumed_at
            .is_some_and(|r| now.saturating_duration_since(r) < SMOOTHED_LAG);
        match (self.estimate_bps, self.current) {
            (Some(e), Some((c, _))) if fresh => Some(e.max(c)),
            (None, Some((c, _))) if fresh => Some(c),
            (e, _) => e,
        }
    }

    /// A current estimate reported at least [`PROBE_SETTLE`] after the last restart (or with
    /// none yet) at or above `line`: a probe measured the link at the line.
    fn current_probe_at(&self, line: f64) -> Option<bool> {
        let (bps, at) = self.current?;
        let settled = self
            .last_paused_probe
            .is_none_or(|r| at >= r + PROBE_SETTLE);
        settled.then_some(bps as f64 >= line)
    }

    /// Paused, or the estimate is below the need and a pause may follow: the player's own
    /// link is the problem, so its decoder's keyframe requests would only cost everyone a
    /// keyframe without helping it.
    pub fn struggling(&self) -> bool {
        self.paused || self.below_since.is_some() || self.congested_since.is_some()
    }

    /// The server's media loop did not run for `stalled` until `now`. Whatever the player's
    /// signals say until [`STALL_GRACE`] after `now` is not its congestion: the pause timer
    /// restarts and neither a low estimate nor a backed-up queue starts it again meanwhile.
    /// A paused player stays paused (its resume needs a good estimate anyway).
    pub fn excuse_stall(&mut self, now: Instant, stalled: Duration) {
        tracing::debug!("excusing a media-loop stall of {stalled:?}");
        if self.stall_excused_until.is_none() {
            // A second stall inside the grace keeps the estimate from before the first.
            self.estimate_before_stall = self.estimate_bps;
        }
        self.stall_excused_until = Some(now + STALL_GRACE);
        self.below_since = None;
        self.congested_since = None;
        self.last_starved = None;
    }

    /// Within the grace after our own stall.
    fn stall_excused(&self, now: Instant) -> bool {
        self.stall_excused_until.is_some_and(|until| now < until)
    }

    /// Once the grace after a stall is over: the bit rate the player's estimator should
    /// restart from (`rtc.bwe().reset`) when the stall dragged the estimate below
    /// [`STALL_ESTIMATE_DROP`] of what it was before; None otherwise. Answers once per stall.
    pub fn estimator_reset_due(&mut self, now: Instant) -> Option<u64> {
        let until = self.stall_excused_until?;
        if now < until {
            return None;
        }
        self.stall_excused_until = None;
        let before = self.estimate_before_stall.take()?;
        let current = self.estimate_bps?;
        if (current as f64) >= before as f64 * STALL_ESTIMATE_DROP {
            return None;
        }
        self.estimate_bps = Some(before);
        Some(before)
    }

    /// The player's video send queue backed up: the link carries less than video needs
    /// (unless our own stall piled it up: see [`VideoGate::excuse_stall`]).
    pub fn note_starved(&mut self, now: Instant) {
        if self.stall_excused(now) {
            return;
        }
        self.last_starved = Some(now);
        self.below_since.get_or_insert(now);
    }

    /// While paused and still below the resume line: the bit rate the player's estimator
    /// should restart from (`rtc.bwe().reset`), at most every [`PAUSED_PROBE_EVERY`]; None
    /// otherwise. The restart starts from [`PAUSED_PROBE_FROM`] of the need, so str0m's
    /// initial probes (3x and 6x the start) test 1x and 2x the need: on a link that recovered
    /// they land and the estimate jumps past the resume line within one round trip, where
    /// the estimator left to itself climbs a few percent per second (its loss-based state,
    /// after the tail drops of the slow period, sends no probe).
    ///
    /// Where the current estimate is reported ([`Self::on_current_estimate`]), the next
    /// restart follows the first report taken [`PROBE_SETTLE`] after the previous one that is
    /// still below the line (at the line the player resumes instead), so each restart's
    /// probes are read before the next restart wipes them; a report that does not come
    /// restarts after 2x [`PAUSED_PROBE_EVERY`].
    pub fn paused_probe_due(&mut self, now: Instant) -> Option<u64> {
        if !self.paused || self.need_peak <= 0.0 {
            return None;
        }
        let line = self.need_peak * RESUME_AT;
        let estimate = self.estimate_for(now);
        if estimate.is_some_and(|e| e as f64 >= line) {
            return None;
        }
        let measured = self.current_probe_at(self.need_peak * CLEAR_RESUME_AT);
        if measured == Some(true) {
            return None;
        }
        if let Some(last) = self.last_paused_probe {
            let since = now.saturating_duration_since(last);
            let wait = match measured {
                _ if self.current.is_none() => PAUSED_PROBE_EVERY,
                Some(false) => Duration::ZERO,
                _ => PAUSED_PROBE_EVERY * 2,
            };
            if since < wait {
                return None;
            }
        }
        self.last_paused_probe = Some(now);
        // Never below the (averaged) event estimate: a restart from lower would cap the
        // estimator's own climb where probes find nothing more. (After a pause on heavy loss
        // the lower of it and the current estimate: see estimate_for.)
        let bps = ((self.need_peak * PAUSED_PROBE_FROM) as u64).max(estimate.unwrap_or(0));
        self.estimate_bps = Some(bps);
        Some(bps)
    }

    /// Updates and returns the decayed peak of `need`.
    fn peak_need(&mut self, need: f64, now: Instant) -> f64 {
        if let Some(at) = self.need_peak_at {
            let dt = now.saturating_duration_since(at).as_secs_f64();
            self.need_peak *= 0.5f64.powf(dt / NEED_PEAK_HALF_LIFE.as_secs_f64());
        }
        self.need_peak = self.need_peak.max(need);
        self.need_peak_at = Some(now);
        self.need_peak
    }

    /// How long the current pause must last, for an estimate `ratio` times the need.
    fn min_pause_for(&self, ratio: f64) -> Duration {
        if ratio >= CLEAR_RESUME_AT {
            MIN_PAUSE
        } else {
            self.min_pause.max(MIN_PAUSE)
        }
    }

    /// Re-evaluates the state for a source that needs `need_bps` (audio + video, measured).
    /// `need_bps == 0` (no video flowing yet) never pauses.
    pub fn evaluate(&mut self, need_bps: u64, now: Instant) -> Option<VideoChange> {
        let estimate_bps = self.estimate_for(now)?;
        let need = need_bps as f64;
        let peak = self.peak_need(need, now);
        let estimate = estimate_bps as f64;
        if !self.paused {
            self.above_since = None;
            let starved = self
                .last_starved
                .is_some_and(|t| now.saturating_duration_since(t) < STARVED_RECENTLY);
            let excused = self.stall_excused(now);
            let congested = match self.congested_report(need, now) {
                Some(at) if need_bps > 0 && !excused => {
                    Some(*self.congested_since.get_or_insert(at))
                }
                _ => None,
            };
            self.congested_since = congested;
            let congested_due = congested
                .is_some_and(|s| now.saturating_duration_since(s) >= CONGESTED_PAUSE_AFTER);
            if !congested_due
                && (need_bps == 0 || excused || (estimate >= need * PAUSE_BELOW && !starved))
            {
                self.below_since = None;
                return None;
            }
            let since = *self.below_since.get_or_insert(now);
            // A young resume that congests the link failed: pause again sooner, and stay
            // paused longer next time.
            let trial = self
                .resumed_at
                .is_some_and(|r| now.saturating_duration_since(r) < FAILED_RESUME_WITHIN);
            let pause_after = if trial {
                TRIAL_PAUSE_AFTER
            } else {
                PAUSE_AFTER
            };
            if !congested_due && now.saturating_duration_since(since) < pause_after {
                return None;
            }
            self.min_pause = if trial {
                (self.min_pause.max(MIN_PAUSE) * 2).min(MAX_MIN_PAUSE)
            } else {
                MIN_PAUSE
            };
            self.paused = true;
            self.paused_at = Some(now);
            self.average_stale_until = congested_due.then_some(now + SMOOTHED_LAG);
            self.resumed_at = None;
            self.below_since = None;
            self.congested_since = None;
            self.last_paused_probe = None;
            self.pauses += 1;
            return Some(VideoChange::Paused);
        }
        self.below_since = None;
        self.congested_since = None;
        // A current estimate clearly above the need is a probe's measurement of a recovered
        // link (one at the need alone could be a burst through a link just too slow for
        // the stream): it resumes at once, the averaged estimate after RESUME_AFTER.
        let measured = self.current_probe_at(peak * CLEAR_RESUME_AT) == Some(true);
        let estimate = match self.current {
            Some((c, _)) if measured => estimate_bps.max(c),
            _ => estimate_bps,
        } as f64;
        if !measured && estimate < peak * RESUME_AT {
            self.above_since = None;
            return None;
        }
        let since = *self.above_since.get_or_insert(now);
        let paused_at = self.paused_at.unwrap_or(now);
        if (!measured && now.saturating_duration_since(since) < RESUME_AFTER)
            || now.saturating_duration_since(paused_at) < self.min_pause_for(estimate / peak)
        {
            return None;
        }
        self.paused = false;
        self.paused_at = None;
        self.resumed_at = Some(now);
        self.above_since = None;
        Some(VideoChange::Resumed)
    }
}

impl VideoGate {
    /// What the player's estimator should sustain and aim for, for a source needing
    /// `need_bps`: `(minimum, desired)` in bit/s for `rtc.bwe().set_bitrate`, or None when
    /// nothing is known yet. Called once per housekeeping tick.
    ///
    /// While video flows, probe toward 1.5x the need. While it is paused, sustain nothing
    /// (no padding beyond str0m's own floor: padding up to the estimate kept a slow link full,
    /// and its tail drops held the loss-based estimator in a state where str0m never
    /// probes), and raise the desired rate every other tick: str0m sends an allocation
    /// probe (up to 2x the estimate) only when the desired rate *increases*. The restarts of
    /// [`Self::paused_probe_due`] are what find a recovered link quickly.
    pub fn bwe_targets(&mut self, need_bps: u64) -> Option<(f64, f64)> {
        if need_bps == 0 {
            return None;
        }
        let need = need_bps as f64;
        if !self.paused {
            return Some((0.0, need * 1.5));
        }
        self.probe_flip = !self.probe_flip;
        let need = need.max(self.need_peak);
        tracing::debug!(
            "paused player: estimate {} kbit/s, resume at {} kbit/s",
            self.estimate_bps.unwrap_or(0) / 1000,
            (need * RESUME_AT) as u64 / 1000
        );
        let desired = if self.probe_flip {
            need * 1.5
        } else {
            need * 1.5 * 0.98
        };
        Some((0.0, desired))
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
        assert_eq!(g.heavy_loss_pause(), None, "paused on the estimate");
        // Just above the pause line is not enough to resume (hysteresis).
        g.on_estimate(950_000);
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
        assert_eq!(
            g.bwe_targets(1_000_000).unwrap().0,
            0.0,
            "no padding while paused"
        );
    }

    /// A resume on a link that is still too slow: paused again after TRIAL_PAUSE_AFTER,
    /// and each failed resume doubles the next pause (up to MAX_MIN_PAUSE), unless the
    /// estimate is clearly above the need.
    #[test]
    fn failed_resumes_back_off_and_a_clear_recovery_skips_the_back_off() {
        let need = 1_000_000;
        let t0 = Instant::now();
        let mut g = VideoGate::default();
        g.on_estimate(100_000);
        g.evaluate(need, t0);
        let mut t = t0 + PAUSE_AFTER;
        assert_eq!(g.evaluate(need, t), Some(VideoChange::Paused));
        let mut pauses = vec![];
        for _ in 0..4 {
            // A probe overrates the slow link: resume as soon as the pause allows.
            g.on_estimate(1_100_000);
            let paused_at = t;
            let resumed = loop {
                t += 100 * MS;
                if g.evaluate(need, t) == Some(VideoChange::Resumed) {
                    break t;
                }
            };
            pauses.push(resumed - paused_at);
            // The resumed video backs the queue up: paused again after TRIAL_PAUSE_AFTER.
            g.on_estimate(100_000);
            let repaused = loop {
                t += 100 * MS;
                g.note_starved(t);
                if g.evaluate(need, t) == Some(VideoChange::Paused) {
                    break t;
                }
            };
            assert_eq!(repaused - resumed, TRIAL_PAUSE_AFTER + 100 * MS);
        }
        let ms: Vec<u128> = pauses.iter().map(|d| d.as_millis()).collect();
        assert!(
            ms[0] < 3000 && ms[1] >= 4000 && ms[2] >= 8000 && ms[3] < 9000,
            "{ms:?}"
        );
        // The link recovers: 2x the need resumes after MIN_PAUSE, not the backed-off pause.
        g.on_estimate(2_000_000);
        let paused_at = t;
        let resumed = loop {
            t += 100 * MS;
            if g.evaluate(need, t) == Some(VideoChange::Resumed) {
                break t;
            }
        };
        assert!(
            resumed - paused_at < MIN_PAUSE + 500 * MS,
            "{:?}",
            resumed - paused_at
        );
    }

    /// While paused below the resume line the estimator restarts every PAUSED_PROBE_EVERY,
    /// from a third of the need or the current estimate, whichever is higher; not once the
    /// estimate reached the line, not while video flows.
    #[test]
    fn a_paused_player_restarts_its_estimator_to_probe() {
        let need = 900_000;
        let t0 = Instant::now();
        let mut g = VideoGate::default();
        g.on_estimate(100_000);
        assert_eq!(g.paused_probe_due(t0), None, "not paused");
        g.evaluate(need, t0);
        assert_eq!(
            g.evaluate(need, t0 + PAUSE_AFTER),
            Some(VideoChange::Paused)
        );
        let t = t0 + PAUSE_AFTER;
        assert_eq!(g.paused_probe_due(t), Some(300_000));
        assert_eq!(g.paused_probe_due(t + 500 * MS), None);
        g.on_estimate(450_000);
        assert_eq!(g.paused_probe_due(t + PAUSED_PROBE_EVERY), Some(450_000));
        g.on_estimate(950_000);
        assert_eq!(
            g.paused_probe_due(t + PAUSED_PROBE_EVERY * 3),
            None,
            "at the line"
        );
    }

    /// With the estimator's current value reported (PeerStats), a paused player restarts its
    /// estimator after each report below the clear line taken PROBE_SETTLE after the last
    /// restart, and a report at the clear line (a probe found a recovered link) resumes at
    /// once, although the averaged event estimate is still low; one just above the need
    /// does not (a burst through a link just too slow).
    #[test]
    fn a_current_estimate_from_a_probe_resumes_a_paused_player_at_once() {
        let need = 200_000;
        let t0 = Instant::now();
        let mut g = VideoGate::default();
        g.on_estimate(100_000);
        g.evaluate(need, t0);
        let p = t0 + PAUSE_AFTER;
        assert_eq!(g.evaluate(need, p), Some(VideoChange::Paused));
        assert!(g.paused_probe_due(p).is_some(), "first restart");
        // A report too soon after the restart says nothing about its probes.
        g.on_current_estimate(100_000, p + 100 * MS);
        assert_eq!(g.paused_probe_due(p + 100 * MS), None);
        // A settled report below the clear line: restart at once.
        let r1 = p + CURRENT_ESTIMATE_EVERY;
        g.on_current_estimate(250_000, r1);
        assert_eq!(g.evaluate(need, r1), None, "1.25x the need is no proof");
        assert!(
            g.paused_probe_due(r1).is_some(),
            "restart after a low report"
        );
        // The link recovered: the next report is clear; the average still says 100 kbit/s.
        let r2 = p + MIN_PAUSE;
        g.on_current_estimate(600_000, r2);
        assert_eq!(
            g.paused_probe_due(r2),
            None,
            "no restart of a clear estimate"
        );
        assert_eq!(g.evaluate(need, r2), Some(VideoChange::Resumed));
        // For SMOOTHED_LAG the low average alone does not count as congestion.
        g.on_estimate(100_000);
        for i in 1..20 {
            assert_eq!(g.evaluate(need, r2 + i * 100 * MS), None, "at {i}");
        }
    }

    #[test]
    fn a_send_queue_that_keeps_backing_up_pauses_even_with_a_good_estimate() {
        let t0 = Instant::now();
        let mut g = VideoGate::default();
        g.on_estimate(5_000_000);
        let mut t = t0;
        let mut paused = None;
        while t < t0 + 4000 * MS {
            g.note_starved(t);
            if g.evaluate(1_000_000, t) == Some(VideoChange::Paused) {
                paused = Some(t - t0);
            }
            t += 500 * MS;
        }
        assert_eq!(paused, Some(PAUSE_AFTER));
    }

    #[test]
    fn a_dip_of_the_source_does_not_resume_a_paused_player() {
        let t0 = Instant::now();
        let mut g = VideoGate::default();
        g.on_estimate(100_000);
        g.evaluate(1_000_000, t0);
        assert_eq!(
            g.evaluate(1_000_000, t0 + PAUSE_AFTER),
            Some(VideoChange::Paused)
        );
        // The source drops to 200 kbit/s for a moment; the estimate is 300 kbit/s.
        g.on_estimate(300_000);
        for i in 1..10 {
            let t = t0 + PAUSE_AFTER + i * 500 * MS;
            assert_eq!(g.evaluate(200_000, t), None, "still paused at {i}");
        }
        // Long after, the peak has decayed and the source is really that small: resume.
        let later = t0 + PAUSE_AFTER + NEED_PEAK_HALF_LIFE * 4;
        g.evaluate(200_000, later);
        assert_eq!(
            g.evaluate(200_000, later + RESUME_AFTER),
            Some(VideoChange::Resumed)
        );
    }

    /// The publish-flood abuse run: the media loop stalled 870 ms, the player's queue backed
    /// up and its estimate fell (feedback lost in the socket); the player's video was paused
    /// for 12 s. Our own stall must not pause anyone.
    #[test]
    fn a_stall_of_our_own_loop_does_not_pause_a_player() {
        let t0 = Instant::now();
        let need = 300_000;
        let mut g = VideoGate::default();
        g.on_estimate(1_000_000);
        assert_eq!(g.evaluate(need, t0), None);
        let woke = t0 + 1000 * MS;
        g.excuse_stall(woke, 870 * MS);
        // What the stall leaves behind: a backed-up queue and a dragged-down estimate.
        g.on_estimate(150_000);
        let mut t = woke;
        while t < woke + STALL_GRACE {
            g.note_starved(t);
            assert_eq!(
                g.evaluate(need, t),
                None,
                "paused {:?} after the stall",
                t - woke
            );
            assert_eq!(g.estimator_reset_due(t), None, "reset inside the grace");
            t += 100 * MS;
        }
        // Grace over: the estimator restarts from the estimate before the stall, once.
        assert_eq!(g.estimator_reset_due(t), Some(1_000_000));
        assert_eq!(g.estimate_bps, Some(1_000_000));
        assert_eq!(g.estimator_reset_due(t + 100 * MS), None);
        for i in 0..50 {
            assert_eq!(g.evaluate(need, t + i * 100 * MS), None);
        }
        assert!(!g.paused && g.pauses == 0);
    }

    /// The excuse covers the stall's aftermath only: a player whose link is really too slow
    /// is paused once the grace is over, PAUSE_AFTER later.
    #[test]
    fn real_congestion_after_a_stall_still_pauses() {
        let t0 = Instant::now();
        let need = 300_000;
        let mut g = VideoGate::default();
        g.on_estimate(1_000_000);
        g.excuse_stall(t0, 500 * MS);
        g.on_estimate(100_000);
        let end = t0 + STALL_GRACE;
        assert_eq!(g.evaluate(need, end - MS), None);
        assert_eq!(g.estimator_reset_due(end), Some(1_000_000));
        // The restarted estimator finds the slow link again.
        g.on_estimate(100_000);
        let mut paused_at = None;
        let mut t = end;
        while t < end + 4000 * MS && paused_at.is_none() {
            if g.evaluate(need, t) == Some(VideoChange::Paused) {
                paused_at = Some(t - end);
            }
            t += 100 * MS;
        }
        assert_eq!(paused_at, Some(PAUSE_AFTER));
    }

    /// An estimate the stall did not drag down is left alone (no needless restart).
    #[test]
    fn no_estimator_restart_when_the_estimate_held() {
        let t0 = Instant::now();
        let mut g = VideoGate::default();
        g.on_estimate(1_000_000);
        g.excuse_stall(t0, 300 * MS);
        g.on_estimate(950_000);
        assert_eq!(g.estimator_reset_due(t0 + STALL_GRACE), None);
        // A second stall within the grace keeps the estimate from before the first.
        g.excuse_stall(t0 + STALL_GRACE * 2, 300 * MS);
        g.on_estimate(200_000);
        g.excuse_stall(t0 + STALL_GRACE * 2 + 500 * MS, 300 * MS);
        g.on_estimate(100_000);
        let end = t0 + STALL_GRACE * 3 + 500 * MS;
        assert_eq!(g.estimator_reset_due(end - MS), None);
        assert_eq!(g.estimator_reset_due(end), Some(950_000));
    }

    /// One stats report: the estimator's current value and the loss of the last second.
    fn report(g: &mut VideoGate, current: u64, loss: f32, at: Instant) {
        g.on_current_estimate(current, at);
        g.on_egress_loss(loss, at);
    }

    /// The network.rs player slow from its start: the averaged estimate is still far above
    /// the need, but two reports in a row say heavy loss and a current estimate below the
    /// pause line: paused at the second, not PAUSE_AFTER after the average fell.
    #[test]
    fn heavy_loss_and_a_low_current_estimate_pause_at_the_second_report() {
        let need = 370_000;
        let t0 = Instant::now();
        let mut g = VideoGate::default();
        g.on_estimate(878_000);
        report(&mut g, 256_000, 0.38, t0);
        assert_eq!(g.evaluate(need, t0), None, "one report is not enough");
        assert!(g.struggling(), "no keyframe requests meanwhile");
        assert!(g.heavy_loss(t0 + 100 * MS));
        assert_eq!(g.evaluate(need, t0 + 250 * MS), None);
        let second = t0 + CONGESTED_PAUSE_AFTER;
        report(&mut g, 249_000, 0.59, second);
        assert_eq!(g.evaluate(need, second), Some(VideoChange::Paused));
        assert_eq!(g.pauses, 1);
        assert_eq!(g.heavy_loss_pause(), Some((249_000, 0.59)));
        // A stale report is not the link's state.
        assert!(!g.heavy_loss(second + REPORT_FRESH + MS));
        // The average still carries the flood: for SMOOTHED_LAG the current estimate counts,
        // for the resume and for the estimator's restarts to probe.
        g.on_estimate(600_000);
        assert_eq!(g.paused_probe_due(second), Some(249_000));
        g.on_estimate(600_000);
        let mut t = second;
        while t < second + SMOOTHED_LAG {
            t += 100 * MS;
            if t >= second + CURRENT_ESTIMATE_EVERY * 2 {
                report(&mut g, 250_000, 0.0, t);
            }
            assert_eq!(g.evaluate(need, t), None, "{:?} into the pause", t - second);
        }
        assert_eq!(g.estimate_for(t - MS), Some(250_000));
        // Then the average counts again.
        assert_eq!(g.estimate_for(t + MS), Some(600_000));
    }

    /// Each signal alone is not enough: heavy loss with a current estimate at the need (a
    /// probe's overshoot), a low current estimate with the loss of a lossy but fast link
    /// (loss.rs: 5 % random loss reports at most 9 %); nor two heavy reports with a clean
    /// one between.
    #[test]
    fn heavy_loss_or_a_low_current_estimate_alone_does_not_pause_early() {
        let need = 370_000;
        let t0 = Instant::now();
        let every = CONGESTED_PAUSE_AFTER;
        let mut g = VideoGate::default();
        g.on_estimate(800_000);
        for i in 0..6 {
            let t = t0 + every * i;
            report(&mut g, 400_000, 0.5, t);
            assert_eq!(g.evaluate(need, t), None, "probe overshoot at {i}");
        }
        let t1 = t0 + every * 6;
        for i in 0..6 {
            let t = t1 + every * i;
            report(&mut g, 300_000, 0.09, t);
            assert_eq!(g.evaluate(need, t), None, "random loss at {i}");
            assert!(!g.heavy_loss(t));
        }
        let t2 = t1 + every * 6;
        report(&mut g, 250_000, 0.4, t2);
        assert_eq!(g.evaluate(need, t2), None);
        report(&mut g, 250_000, 0.05, t2 + every);
        report(&mut g, 250_000, 0.4, t2 + every * 2);
        assert_eq!(g.evaluate(need, t2 + every * 2), None, "not in a row");
        report(&mut g, 250_000, 0.4, t2 + every * 3);
        assert_eq!(g.evaluate(need, t2 + every * 3), Some(VideoChange::Paused));
    }

    /// Our own stall's aftermath (feedback lost in the socket reads as loss) pauses nobody;
    /// two reports in a row after the grace do.
    #[test]
    fn heavy_loss_within_a_stall_grace_does_not_pause() {
        let need = 370_000;
        let t0 = Instant::now();
        let mut g = VideoGate::default();
        g.on_estimate(1_000_000);
        g.excuse_stall(t0, 500 * MS);
        let mut t = t0;
        while t < t0 + STALL_GRACE {
            report(&mut g, 200_000, 0.5, t);
            assert_eq!(g.evaluate(need, t), None, "{:?} after the stall", t - t0);
            t += CONGESTED_PAUSE_AFTER;
        }
        assert!(!g.paused);
        report(&mut g, 200_000, 0.5, t);
        assert_eq!(
            g.evaluate(need, t),
            None,
            "the first report after the grace"
        );
        let t = t + CONGESTED_PAUSE_AFTER;
        report(&mut g, 200_000, 0.5, t);
        assert_eq!(g.evaluate(need, t), Some(VideoChange::Paused));
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
