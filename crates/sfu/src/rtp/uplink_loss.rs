//! RTP mode: a publisher's video packet that never arrives, not even after our NACKs.
//!
//! Frame mode learns of it from str0m's depacketizer (a frame handed over not contiguous) and
//! asks the publisher for a keyframe at once (sfu.rs `on_media`). RTP mode forwards packets as
//! they come and noticed nothing: the players NACKed a packet the server never had, and Chrome
//! asked for a keyframe only after 3 s without a decodable frame (netlab loss run, session 11,
//! C's uplink 5 % loss: A <- C and B <- C one 3.3 s freeze each, at the same moment, ended by
//! both players' PLIs). [`LossWatch`] keeps the holes in a stream's numbering and reports one
//! that stayed open for [`GIVE_UP`], so the caller asks for a keyframe as frame mode would.
//!
//! Sans-IO: time is passed in.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A hole still open this long after it was seen is lost for good. str0m NACKs a missing
/// packet 5 times, one RTT + 5 ms apart (100 ms while the RTT is unknown): at 60 ms RTT its
/// last resend is due ~0.33 s after the hole, at 100 ms ~0.52 s. A later repair (a publisher
/// farther away) costs at most one keyframe more, rate-limited by the publisher's gate.
pub const GIVE_UP: Duration = Duration::from_millis(600);
/// A forward jump larger than this is a new stream or an encoder restart, not loss (str0m
/// does not NACK beyond its 100-packet window either): the holes are forgotten.
pub const MAX_HOLES: u64 = 100;

/// The open holes of one video stream (one simulcast layer).
#[derive(Debug, Default)]
pub struct LossWatch {
    highest: Option<u64>,
    /// Missing sequence numbers (str0m's extended ones) and when each was first missed, in
    /// order.
    holes: VecDeque<(u64, Instant)>,
    /// Holes given up so far (for the log and the tests).
    pub given_up: u64,
}

impl LossWatch {
    /// A packet numbered `seq` arrived (`keyframe`: it starts a keyframe). True when a hole
    /// older than [`GIVE_UP`] was found: the stream is broken until the next keyframe.
    pub fn on_packet(&mut self, seq: u64, keyframe: bool, now: Instant) -> bool {
        match self.highest {
            None => self.highest = Some(seq),
            Some(h) if seq > h => {
                if seq - h > MAX_HOLES {
                    self.holes.clear();
                } else {
                    self.holes.extend((h + 1..seq).map(|s| (s, now)));
                }
                self.highest = Some(seq);
            }
            Some(_) => {
                if let Some(i) = self.holes.iter().position(|(s, _)| *s == seq) {
                    self.holes.remove(i);
                }
            }
        }
        // The holes are in order of number and of time both: only the front is looked at.
        if keyframe {
            // Nothing before a keyframe is needed any more to decode what follows.
            while self.holes.front().is_some_and(|(s, _)| *s < seq) {
                self.holes.pop_front();
            }
        }
        let mut lost = false;
        while self
            .holes
            .front()
            .is_some_and(|(_, at)| now.saturating_duration_since(*at) >= GIVE_UP)
        {
            self.holes.pop_front();
            self.given_up += 1;
            lost = true;
        }
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(t0: Instant, n: u64) -> Instant {
        t0 + Duration::from_millis(n)
    }

    #[test]
    fn a_hole_repaired_in_time_is_not_reported() {
        let t0 = Instant::now();
        let mut w = LossWatch::default();
        assert!(!w.on_packet(10, true, t0));
        assert!(!w.on_packet(12, false, ms(t0, 10)));
        assert!(!w.on_packet(11, false, ms(t0, 200)), "the resend");
        for i in 0..20 {
            assert!(!w.on_packet(13 + i, false, ms(t0, 300 + 50 * i)));
        }
        assert_eq!(w.given_up, 0);
    }

    #[test]
    fn a_hole_never_filled_is_reported_once_after_the_give_up_time() {
        let t0 = Instant::now();
        let mut w = LossWatch::default();
        w.on_packet(10, true, t0);
        w.on_packet(13, false, ms(t0, 10)); // 11 and 12 missing
        assert!(!w.on_packet(12, false, ms(t0, 100)));
        assert!(!w.on_packet(14, false, ms(t0, 500)));
        assert!(w.on_packet(15, false, ms(t0, 610)), "11 given up");
        assert!(!w.on_packet(16, false, ms(t0, 700)), "reported once");
        assert_eq!(w.given_up, 1);
    }

    #[test]
    fn a_keyframe_after_a_hole_makes_it_irrelevant() {
        let t0 = Instant::now();
        let mut w = LossWatch::default();
        w.on_packet(10, true, t0);
        w.on_packet(12, false, ms(t0, 10));
        w.on_packet(13, true, ms(t0, 50));
        assert!(!w.on_packet(14, false, ms(t0, 700)));
        assert_eq!(w.given_up, 0);
    }

    #[test]
    fn a_jump_is_a_new_stream_not_loss() {
        let t0 = Instant::now();
        let mut w = LossWatch::default();
        w.on_packet(10, true, t0);
        w.on_packet(10 + MAX_HOLES + 1, false, ms(t0, 10));
        assert!(!w.on_packet(10 + MAX_HOLES + 2, false, ms(t0, 700)));
        assert_eq!(w.given_up, 0);
    }
}
