//! A publisher's latest keyframe and the video frames after it, held for a short while, for a
//! player that connects just after that keyframe went by.
//!
//! A new player's keyframe is asked for at its play request (sfu.rs `open_player`) so that it
//! travels from the publisher while the player connects. Frames are written to a player only
//! once its DTLS is up, so when the player's connection takes longer than the publisher's
//! round trip (a loaded browser, a far player, a second player joining a moment after the
//! first), that keyframe goes by unseen and the player waits for the one it asks for at its
//! connect: one more publisher round trip plus an encode. At 200 ms RTT to the publisher that
//! was B's 0.78 s from play request to picture where A took 0.39 s (issue 11, first frame
//! < 2 s; docs/NETLAB.md). Replaying the held frames to the player at its connect gives it the
//! picture at once and saves the publisher a keyframe.
//!
//! Held only for [`HOLD_FOR`] after the keyframe (at 30 fps about 15 frames; the frames are
//! shared `Arc`s, nothing is copied), then released; a player connecting later asks as
//! before. The replay is a burst the player's pacer spreads, and a frame older than
//! [`HOLD_FOR`] would rather be late than a picture. Not for simulcast publishers (whose
//! players follow layers).
//!
//! Both forwarding modes: frame mode holds frames, RTP mode the packets from the keyframe's
//! first one on (their payloads shared the same way). Without it RTP mode waited for the
//! keyframe asked for at the connect, and a browser publisher drops a request within 300 ms
//! of its previous one, so on a lossy link (5 %, 60 ms RTT: DTLS took ~0.3 s) the player
//! often waited a whole keyframe interval more: first frame 1.4-1.8 s after the play vs
//! 0.3 s in frame mode (netlab loss.test.js, session 10).

use std::time::{Duration, Instant};

use crate::forward::Frame;

/// How long after its arrival a keyframe (and what followed it) is kept for a replay.
pub const HOLD_FOR: Duration = Duration::from_millis(500);

/// The held video of one publisher: frames (frame mode) or packets (RTP mode).
#[derive(Debug)]
pub struct KeyframeHold<T = Frame> {
    /// When the held keyframe arrived; None: nothing held.
    keyframe_at: Option<Instant>,
    /// The keyframe (its first packet in RTP mode), then everything after it, in arrival
    /// order.
    frames: Vec<T>,
}

impl<T> Default for KeyframeHold<T> {
    fn default() -> Self {
        KeyframeHold {
            keyframe_at: None,
            frames: Vec::new(),
        }
    }
}

impl<T: Clone> KeyframeHold<T> {
    /// A video frame (or packet) of the publisher arrived, in the order it is forwarded;
    /// `keyframe`: it starts a keyframe.
    pub fn on_video(&mut self, frame: &T, keyframe: bool, now: Instant) {
        if keyframe {
            self.frames.clear();
            self.keyframe_at = Some(now);
        } else if !self.holding(now) {
            if self.keyframe_at.is_some() {
                self.release();
            }
            return;
        }
        self.frames.push(frame.clone());
    }

    /// What to replay to a player that connects now, keyframe first: empty when the held
    /// keyframe is older than [`HOLD_FOR`] (or there is none).
    pub fn replay(&mut self, now: Instant) -> &[T] {
        if !self.holding(now) {
            self.release();
        }
        &self.frames
    }

    fn holding(&self, now: Instant) -> bool {
        self.keyframe_at
            .is_some_and(|t| now.saturating_duration_since(t) < HOLD_FOR)
    }

    fn release(&mut self) {
        self.keyframe_at = None;
        self.frames = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use str0m::media::{MediaKind, MediaTime};

    fn frame(i: u64, keyframe: bool, at: Instant) -> Frame {
        Frame {
            kind: MediaKind::Video,
            time: MediaTime::from_90khz(i * 3000),
            network_time: at,
            keyframe,
            data: Arc::from(vec![i as u8; 10]),
        }
    }

    #[test]
    fn holds_the_keyframe_and_what_follows_for_a_while() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut h = KeyframeHold::default();
        h.on_video(&frame(0, false, t0), false, t0);
        assert!(h.replay(t0).is_empty(), "nothing before a keyframe");
        let mut on = |f: Frame, at| h.on_video(&f, f.keyframe, at);
        on(frame(1, true, ms(33)), ms(33));
        on(frame(2, false, ms(66)), ms(66));
        on(frame(3, false, ms(99)), ms(99));
        let held: Vec<bool> = h.replay(ms(120)).iter().map(|f| f.keyframe).collect();
        assert_eq!(
            held,
            vec![true, false, false],
            "keyframe first, then in order"
        );
        // Past the hold: released, and frames after it are not collected.
        h.on_video(&frame(4, false, ms(540)), false, ms(540));
        assert!(h.replay(ms(540)).is_empty());
        assert!(h.frames.capacity() == 0, "the memory is given back");
        // The next keyframe starts over.
        h.on_video(&frame(5, true, ms(600)), true, ms(600));
        assert_eq!(h.replay(ms(1099)).len(), 1);
        assert!(h.replay(ms(1100)).is_empty());
    }
}
