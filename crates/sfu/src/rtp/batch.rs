//! RTP mode: when a written player's Rtc is advanced and polled.
//!
//! str0m sends a packet given to `StreamTx::write_rtp` only after the next
//! `Input::Timeout` (it timestamps queued packets there) and a `poll_output` loop. Both walk
//! the whole Rtc (ICE, DTLS, SCTP, every stream, BWE, pacer): per player they cost several
//! times what writing one packet does. Doing them per written packet made RTP mode cost more
//! CPU than frame mode, which does them once per frame. So a player written to is advanced
//! and polled once per publisher frame: when the packet that ends the frame (marker bit;
//! every audio packet) has been written. A frame cannot be played before its last packet
//! arrives, so holding its first packets until then delays nothing a viewer sees; a frame
//! whose end is lost upstream is sent after [`HOLD`] at the latest.

use std::time::{Duration, Instant};

use huddle_room::PeerId;

/// The longest a written packet waits for the end of its frame.
pub const HOLD: Duration = Duration::from_millis(10);

/// Players written to since they were last advanced and polled (a player can be listed
/// although it was flushed since: the per-player `pending` flag in `PlayerTracks` decides).
#[derive(Debug, Default)]
pub struct WriteBatch {
    players: Vec<PeerId>,
    /// When the oldest packet not yet flushed was written.
    oldest: Option<Instant>,
}

impl WriteBatch {
    /// A player got its first packet since its last flush.
    pub fn add(&mut self, player: PeerId, now: Instant) {
        self.players.push(player);
        self.oldest.get_or_insert(now);
    }

    /// When the held packets must go at the latest (`None`: nothing held).
    pub fn due(&self) -> Option<Instant> {
        self.oldest.map(|t| t + HOLD)
    }

    /// The listed players, emptying the batch. Give the vector back with [`WriteBatch::reuse`].
    pub fn take(&mut self) -> Vec<PeerId> {
        self.oldest = None;
        std::mem::take(&mut self.players)
    }

    /// Keeps a taken vector's allocation for the next batch (unless players were added since).
    pub fn reuse(&mut self, mut taken: Vec<PeerId>) {
        if self.players.is_empty() {
            taken.clear();
            self.players = taken;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_is_the_oldest_write_plus_hold_and_take_empties() {
        let t0 = Instant::now();
        let mut b = WriteBatch::default();
        assert_eq!(b.due(), None);
        b.add(PeerId(1), t0);
        b.add(PeerId(2), t0 + Duration::from_millis(3));
        assert_eq!(b.due(), Some(t0 + HOLD));
        let taken = b.take();
        assert_eq!(taken, vec![PeerId(1), PeerId(2)]);
        assert_eq!(b.due(), None);
        b.reuse(taken);
        b.add(PeerId(3), t0 + Duration::from_millis(20));
        assert_eq!(b.due(), Some(t0 + Duration::from_millis(20) + HOLD));
        assert_eq!(b.take(), vec![PeerId(3)]);
    }
}
