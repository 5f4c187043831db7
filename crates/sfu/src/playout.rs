//! A jitter-buffer floor for players whose own downlink loses packets.
//!
//! Chrome sizes its video jitter buffer from the arrival jitter it sees and leaves frames
//! repaired by retransmission out of that estimate, so on a lossy downlink its buffer stays at
//! a few tens of milliseconds and every frame that waits one or two NACK round trips for its
//! resend comes too late: the picture freezes (a gap over 200 ms counts as a freeze). In the
//! netlab loss run (5 % loss, 60 ms RTT on C's link) C's plays of A and B froze 3-4 times per
//! 30 s that way, 1.0-1.3 s in all, without a single PLI.
//!
//! The `playout-delay` RTP header extension (negotiated where the browser offers it; Chrome
//! does) tells the receiver a minimum delay: with [`MIN_DELAY`] a frame repaired within it is
//! shown on time. It is only sent while the player's receiver reports said it lost at least
//! [`LOSSY`], or the player sent a NACK, or its source's uplink lost (below), in the last
//! [`HOLD_FOR`], so a clean call keeps its low latency.
//!
//! **A NACK counts as loss** (session 13): the receiver reports give a player's loss once a
//! second or so and reach us through the stats of the next tick, so the floor started ~0.9 s
//! after the first lost packet (netlab run of 2 Dec, C <- A: first NACK 1.7 s into the window,
//! ramp from 2.6 s); a NACK is the same fact (one lost packet is >= [`LOSSY`] of a one-second
//! report at any video rate below ~100 packets/s) seen as soon as the next stats tick (500 ms).
//!
//! The floor is **ramped**, [`RAMP_UP`] per second, never stepped. Chrome applies the minimum as a
//! clamp on each frame's render delay (`VCMTiming::RenderTime`), not through the 100 ms/s
//! smoothing it uses for its own target, so a 0 -> 250 ms step held the next frame ~230 ms: a
//! freeze of its own, one per stream and call (netlab loss run of 1 Dec, session 9: C's
//! `jitterBufferTargetDelay` went from 17 to 239 ms in one 100 ms sample, and `framesDecoded`
//! stood still for that sample: the only freeze of C <- A and of C <- B in 30 s). A ramp of
//! 40 ms per 50 ms frame shows ~6 frames 90 ms apart instead (Chrome counts a freeze from a gap
//! of max(3x, +150 ms) its mean frame interval). It was 10 ms per frame (1.25 s to the floor)
//! until session 13: the picture froze in that time. Before the floor, Chrome's jitter buffer on
//! this link is ~13 ms, so any packet whose first resend is lost (~10 % of losses) freezes the
//! picture; in the netlab runs every freeze of C's plays fell in the first 2.5 s of the play,
//! before the floor was up, none after (docs/MEDIA_QUALITY.md "Loss" item 8). When the loss is
//! over the floor ramps down, [`RAMP_DOWN`] per second, to zero and a zero is sent for
//! [`ZERO_FOR`] (Chrome keeps the last value it got: frames without the extension would leave
//! it at the floor).
//!
//! **The players of a publisher whose uplink loses** get the floor too (sfu.rs
//! `uplink_loss_to_players`, from our first NACK to the publisher or our receiver report's
//! fraction): our NACKs repair the publisher's packets, and the repair reaches its players
//! late. In RTP mode as retransmissions, which their jitter estimate leaves out; in frame mode
//! as whole frames str0m held for the resend (netlab loss run of 3 Dec, session 24: 62 frames
//! of C held in 30 s, median 119 ms, 90th percentile 217, longest 370), too rare for their
//! estimate to cover: A's and B's plays of C froze 1.25 s each in 5 freezes, no PLI. Frame
//! mode went without until session 24: tried on 30 Nov, the players' keyframe requests for
//! such a stream had not gone away (10-15 PLIs per 30 s); they were frames sent out of order,
//! fixed since (0 PLIs in the netlab runs of 3 Dec).

use std::time::{Duration, Instant};

use str0m::media::MediaTime;

/// The receiver's minimum playout delay while loss is seen: two NACK round trips at 60 ms RTT
/// plus the receiver's NACK and our pacing delays, with margin.
pub const MIN_DELAY: Duration = Duration::from_millis(250);
/// The maximum sent with it: the receiver's own choice up to this (Chrome's default, 10 s).
pub const MAX_DELAY: Duration = Duration::from_secs(10);
/// Loss keeps the floor on this long after it was last seen.
pub const HOLD_FOR: Duration = Duration::from_secs(10);
/// A player's downlink counts as lossy from this fraction lost (its receiver reports).
pub const LOSSY: f32 = 0.01;
/// How fast the floor rises, per second: 40 ms per frame at 20 fps, 0.31 s from 0 to
/// [`MIN_DELAY`]. Each frame is shown that much later than the one before; a freeze needs a
/// gap of 150 ms over the mean (and 3x it), so the largest step, [`MAX_STEP_AFTER`] worth
/// (80 ms), leaves a 50 ms frame 130 ms after the one before.
pub const RAMP_UP: Duration = Duration::from_millis(800);
/// How fast the floor falls once the loss is over (frames shown sooner than their interval:
/// slowly, 10 ms per frame).
pub const RAMP_DOWN: Duration = Duration::from_millis(200);
/// The time one move of the floor accounts for at most (a frame after a pause of the video).
pub const MAX_STEP_AFTER: Duration = Duration::from_millis(100);
/// After ramping down, a zero floor is sent this long so that the receiver surely got one.
pub const ZERO_FOR: Duration = Duration::from_secs(1);

/// One player's playout-delay state.
#[derive(Debug, Default)]
pub struct Playout {
    lossy_until: Option<Instant>,
    /// The floor now and when it was last moved.
    floor: Duration,
    moved_at: Option<Instant>,
    /// Since when the floor is back at zero after a ramp (None: never raised, or zero sent).
    zero_since: Option<Instant>,
    /// The player's NACKs for our video so far.
    nacks: NackCount,
}

/// A stream's NACKs so far, as str0m's stats give them (a running count): a new one is loss
/// seen a receiver report sooner than its fraction. The player's NACKs for our video, and ours
/// for a publisher's (sfu.rs `uplink_loss_to_players`).
#[derive(Debug, Default)]
pub struct NackCount(u64);

impl NackCount {
    /// `total` NACKs so far: whether that is more than at the last call.
    pub fn new_since_last(&mut self, total: u64) -> bool {
        let new = total > self.0;
        self.0 = total;
        new
    }
}

/// A receiver report's fraction lost that counts as loss.
pub fn is_lossy(fraction: f32) -> bool {
    fraction >= LOSSY
}

impl Playout {
    /// The player's receiver report says it lost `fraction` of our packets.
    pub fn on_downlink_loss(&mut self, fraction: f32, now: Instant) {
        if is_lossy(fraction) {
            self.on_loss(now);
        }
    }

    /// The player has sent `total` NACKs for our video so far: any new one is loss.
    pub fn on_nacks(&mut self, total: u64, now: Instant) {
        if self.nacks.new_since_last(total) {
            self.on_loss(now);
        }
    }

    /// Loss delays the player's video now (its downlink's, or its source's uplink's).
    pub fn on_loss(&mut self, now: Instant) {
        self.lossy_until = Some(now + HOLD_FOR);
    }

    /// The (minimum, maximum) playout delay to put on the player's video frame written now, if
    /// any: the floor moved toward [`MIN_DELAY`] while the downlink is lossy, toward zero after.
    pub fn delay(&mut self, now: Instant) -> Option<(Duration, Duration)> {
        let lossy = self.lossy_until.is_some_and(|until| now < until);
        let target = if lossy { MIN_DELAY } else { Duration::ZERO };
        let moved_at = self.moved_at.replace(now);
        // A frame after a long pause moves it one frame's worth only: steps stay small. The
        // time since the last move is taken only when the floor moves (on a clean link with
        // the floor at rest, every packet of almost every player, it does not).
        let step = |rate: Duration| {
            let since = moved_at.map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
            let nanos = since.min(MAX_STEP_AFTER).as_nanos() * rate.as_nanos() / 1_000_000_000;
            Duration::from_nanos(nanos as u64)
        };
        if self.floor < target {
            self.floor = (self.floor + step(RAMP_UP)).min(target);
            self.zero_since = None;
        } else if self.floor > target {
            self.floor = self.floor.saturating_sub(step(RAMP_DOWN)).max(target);
            if self.floor.is_zero() {
                self.zero_since = Some(now);
            }
        }
        if !self.floor.is_zero() || lossy {
            return Some((self.floor, MAX_DELAY));
        }
        match self.zero_since {
            Some(t) if now < t + ZERO_FOR => Some((Duration::ZERO, MAX_DELAY)),
            _ => {
                self.zero_since = None;
                None
            }
        }
    }

    /// [`Playout::delay`] as the extension's (minimum, maximum) values, as both forwarding
    /// modes write them (frame mode per frame, RTP mode on each video packet).
    pub fn delay_ext(&mut self, now: Instant) -> Option<(MediaTime, MediaTime)> {
        let ms = |d: Duration| MediaTime::from_millis(d.as_millis() as u64);
        self.delay(now).map(|(min, max)| (ms(min), ms(max)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Duration = Duration::from_millis(50);

    /// The floors put on frames every 50 ms from `from` for `n` frames.
    fn frames(p: &mut Playout, from: Instant, n: u32) -> Vec<Option<Duration>> {
        (0..n)
            .map(|i| p.delay(from + FRAME * i).map(|(min, _)| min))
            .collect()
    }

    #[test]
    fn a_clean_link_gets_no_floor() {
        let t0 = Instant::now();
        let mut p = Playout::default();
        p.on_downlink_loss(0.005, t0);
        assert!(
            frames(&mut p, t0, 100).iter().all(Option::is_none),
            "0.5 % is not lossy"
        );
    }

    #[test]
    fn loss_ramps_the_floor_up_in_small_steps_and_holds_it() {
        let t0 = Instant::now();
        let mut p = Playout::default();
        assert_eq!(p.delay(t0), None);
        p.on_downlink_loss(0.05, t0);
        let f = frames(&mut p, t0 + FRAME, 60);
        let ms: Vec<u128> = f
            .iter()
            .map(|d| d.expect("lossy: a floor on every frame").as_millis())
            .collect();
        // The first floor is one frame's step, not the whole delay (Chrome jumps to it at once).
        assert_eq!(ms[0], 40);
        assert!(
            ms.windows(2).all(|w| w[1] >= w[0] && w[1] - w[0] <= 40),
            "{ms:?}"
        );
        let full = ms
            .iter()
            .position(|&m| m == MIN_DELAY.as_millis())
            .expect("reaches the floor");
        assert_eq!(full, 6, "0.35 s at 20 fps");
        assert!(ms[full..].iter().all(|&m| m == 250));
        assert_eq!(p.delay(t0 + FRAME * 61), Some((MIN_DELAY, MAX_DELAY)));
    }

    #[test]
    fn after_the_loss_the_floor_ramps_down_to_a_zero_sent_for_a_while_then_none() {
        let t0 = Instant::now();
        let mut p = Playout::default();
        p.on_downlink_loss(0.05, t0);
        // Frames until the loss is over at t0 + HOLD_FOR, then on.
        frames(&mut p, t0, 200);
        let t1 = t0 + HOLD_FOR;
        let f = frames(&mut p, t1, 60);
        let ms: Vec<Option<u128>> = f.iter().map(|d| d.map(|d| d.as_millis())).collect();
        assert!(
            ms[..24].iter().all(|m| m.is_some_and(|m| m > 0 && m < 250)),
            "ramps down 10 ms per frame: {ms:?}"
        );
        let zero = ms
            .iter()
            .position(|m| *m == Some(0))
            .expect("a zero floor is sent");
        assert!(
            ms.windows(2)
                .take(zero)
                .all(|w| w[0].unwrap() - w[1].unwrap() <= 10),
            "{ms:?}"
        );
        assert!(ms[zero..zero + 20].iter().all(|m| *m == Some(0)), "{ms:?}");
        assert!(ms[zero + 20..].iter().all(Option::is_none), "{ms:?}");
        // Loss again: the ramp starts from zero again.
        p.on_downlink_loss(0.02, t1 + FRAME * 60);
        assert_eq!(
            p.delay(t1 + FRAME * 60).map(|(m, _)| m.as_millis()),
            Some(40)
        );
    }

    #[test]
    fn a_frame_after_a_pause_moves_the_floor_a_little_only() {
        let t0 = Instant::now();
        let mut p = Playout::default();
        assert_eq!(p.delay(t0), None);
        p.on_downlink_loss(0.05, t0 + Duration::from_secs(3));
        // The next video frame comes 3 s later (paused video): 80 ms, not the whole floor.
        let after = p
            .delay(t0 + Duration::from_secs(3))
            .map(|(m, _)| m.as_millis());
        assert_eq!(after, Some(80));
    }

    #[test]
    fn a_new_nack_is_loss_a_count_standing_still_is_not() {
        let t0 = Instant::now();
        let mut p = Playout::default();
        assert_eq!(p.delay(t0), None);
        p.on_nacks(0, t0);
        assert_eq!(p.delay(t0 + FRAME), None, "no NACK yet");
        p.on_nacks(1, t0 + FRAME);
        assert_eq!(
            p.delay(t0 + FRAME * 2).map(|(m, _)| m.as_millis()),
            Some(40),
            "the first NACK starts the ramp"
        );
        // The count stays at 1: the loss is over HOLD_FOR after that NACK.
        let later = t0 + FRAME + HOLD_FOR;
        p.on_nacks(1, later);
        frames(&mut p, later, 100);
        assert_eq!(p.delay(later + FRAME * 100), None);
    }
}
