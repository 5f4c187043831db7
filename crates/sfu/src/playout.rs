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
//! [`LOSSY`] in the last [`HOLD_FOR`], so a clean call keeps its low latency.
//!
//! Not done for the players of a publisher whose *uplink* is lossy (str0m holds its frames
//! 80-235 ms for our NACKs, and they reach the players late, in a burst): tried on 30 Nov, the
//! players' simultaneous keyframe requests for such a stream did not go away (10-15 PLIs per
//! 30 s with the floor, 2-16 without), so it would only have added latency for everyone.

use std::time::{Duration, Instant};

/// The receiver's minimum playout delay while loss is seen: two NACK round trips at 60 ms RTT
/// plus the receiver's NACK and our pacing delays, with margin.
pub const MIN_DELAY: Duration = Duration::from_millis(250);
/// The maximum sent with it: the receiver's own choice up to this.
pub const MAX_DELAY: Duration = Duration::from_secs(10);
/// Loss keeps the floor on this long after it was last seen.
pub const HOLD_FOR: Duration = Duration::from_secs(10);
/// A player's downlink counts as lossy from this fraction lost (its receiver reports).
pub const LOSSY: f32 = 0.01;

/// One player's playout-delay state.
#[derive(Debug, Default)]
pub struct Playout {
    lossy_until: Option<Instant>,
}

impl Playout {
    /// The player's receiver report says it lost `fraction` of our packets.
    pub fn on_downlink_loss(&mut self, fraction: f32, now: Instant) {
        if fraction >= LOSSY {
            self.lossy_until = Some(now + HOLD_FOR);
        }
    }

    /// The (minimum, maximum) playout delay to put on the player's video now, if any.
    pub fn delay(&self, now: Instant) -> Option<(Duration, Duration)> {
        self.lossy_until
            .filter(|until| now < *until)
            .map(|_| (MIN_DELAY, MAX_DELAY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_sets_the_floor_for_a_while_and_a_clean_link_has_none() {
        let t0 = Instant::now();
        let mut p = Playout::default();
        assert_eq!(p.delay(t0), None);
        p.on_downlink_loss(0.005, t0);
        assert_eq!(p.delay(t0), None, "0.5 % is not lossy");
        p.on_downlink_loss(0.05, t0);
        assert_eq!(p.delay(t0), Some((MIN_DELAY, MAX_DELAY)));
        assert_eq!(p.delay(t0 + HOLD_FOR), None, "gone after HOLD_FOR");
        p.on_downlink_loss(0.02, t0 + HOLD_FOR);
        assert!(p
            .delay(t0 + HOLD_FOR * 2 - Duration::from_millis(1))
            .is_some());
    }
}
