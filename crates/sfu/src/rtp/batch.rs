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
//!
//! A player whose frame has ended is not advanced at once either: it is listed as ready, and
//! the ready players are advanced and polled when the core's transmit queue runs empty (the
//! driver drains it every few datagrams, and as soon as the socket has nothing more to read).
//! Without a backlog that is right after the frame's last packet, as before; with one (a
//! busy server, a burst of packets from several publishers or an audio packet behind a
//! video frame) the frames that ended in the same burst share one advance and poll per
//! player, so the per-player work shrinks as the load grows instead of the delay growing.
//!
//! The ready players are taken a few at a time ([`WriteBatch::pop_ready`]): the core advances
//! and polls them only until a driver's batch of datagrams waits, and takes the next ones when
//! the driver has sent those. A keyframe fanned out to 100 players is ~2,500 sealed datagrams;
//! sealed all at once they were ~3 MB of transient heap at every keyframe (~21 KiB per
//! subscription, issue 15), now about one batch and one player's frame.
//!
//! "Advanced and polled" is, most of the time, str0m's send lane (vendored patch 35,
//! `Rtc::poll_lane`, `Peer::lane`): while nothing else in the player's Rtc is due before its
//! last timeout and its pacer has budget for the packets (always for audio, which is
//! unpaced), they are sealed and sent at once, one call per packet, with the same header,
//! TWCC record, resend cache and pacer debt as the pacer's path, without walking the Rtc.
//! Otherwise (a timer due, a probe, a paced queue over its budget on a slow link) the lane
//! declines and the player is advanced to `now` and polled: the pacer decides as before.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use huddle_room::PeerId;

/// The longest a written packet waits for the end of its frame.
pub const HOLD: Duration = Duration::from_millis(10);

/// Players written to since they were last advanced and polled (a player can be listed
/// although it was flushed since: the per-player state in `PlayerTracks` decides).
#[derive(Debug, Default)]
pub struct WriteBatch {
    /// Written to, their frame not ended yet.
    players: Vec<PeerId>,
    /// When the oldest packet not yet flushed was written.
    oldest: Option<Instant>,
    /// Their frame ended: advanced and polled, in order, when the transmit queue runs empty.
    ready: VecDeque<PeerId>,
    /// When the latest listed frame ended (the time the ready players are advanced to).
    ready_at: Option<Instant>,
    /// When the oldest frame ended that waits in the ready list, or went through it since the
    /// last [`WriteBatch::take_fanned_out`]: where a fan-out's time is counted from.
    ready_since: Option<Instant>,
}

impl WriteBatch {
    /// A player got its first packet since its last flush.
    pub fn add(&mut self, player: PeerId, now: Instant) {
        self.players.push(player);
        self.oldest.get_or_insert(now);
    }

    /// A player's frame ended (the first time since its last flush).
    pub fn add_ready(&mut self, player: PeerId, now: Instant) {
        self.ready.push_back(player);
        self.ready_at = Some(now);
        self.ready_since.get_or_insert(now);
    }

    /// When the ready players should be advanced and polled (`None`: none is ready).
    pub fn ready_at(&self) -> Option<Instant> {
        self.ready_at
    }

    /// The first ready player, taken off the list (`None`: none is ready). The others keep
    /// [`WriteBatch::ready_at`], so they are advanced to the same time when their turn comes.
    pub fn pop_ready(&mut self) -> Option<PeerId> {
        let player = self.ready.pop_front();
        if self.ready.is_empty() {
            self.ready_at = None;
        }
        player
    }

    /// Once the ready list is empty: when the oldest frame it held ended (`None` while players
    /// wait in it, or when no frame went through it since the last call). The fan-out of the
    /// frames that ended then is over once their players' datagrams are sent.
    pub fn take_fanned_out(&mut self) -> Option<Instant> {
        if self.ready.is_empty() {
            self.ready_since.take()
        } else {
            None
        }
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

    #[test]
    fn ready_players_are_kept_apart_and_advanced_to_the_latest_frame_end() {
        let t0 = Instant::now();
        let mut b = WriteBatch::default();
        assert_eq!(b.ready_at(), None);
        b.add(PeerId(1), t0);
        b.add_ready(PeerId(2), t0 + Duration::from_millis(1));
        b.add_ready(PeerId(3), t0 + Duration::from_millis(2));
        assert_eq!(b.ready_at(), Some(t0 + Duration::from_millis(2)));
        // The held list and its deadline are not the ready list's.
        assert_eq!(b.due(), Some(t0 + HOLD));
        assert_eq!(b.take_fanned_out(), None, "players still wait");
        assert_eq!(b.pop_ready(), Some(PeerId(2)));
        // The rest keeps its time, and a frame that ends meanwhile moves it on.
        assert_eq!(b.ready_at(), Some(t0 + Duration::from_millis(2)));
        b.add_ready(PeerId(4), t0 + Duration::from_millis(5));
        assert_eq!(b.pop_ready(), Some(PeerId(3)));
        assert_eq!(b.ready_at(), Some(t0 + Duration::from_millis(5)));
        assert_eq!(b.pop_ready(), Some(PeerId(4)));
        assert_eq!(b.ready_at(), None);
        // The fan-out is timed from the oldest frame end that went through the list, once.
        assert_eq!(b.take_fanned_out(), Some(t0 + Duration::from_millis(1)));
        assert_eq!(b.take_fanned_out(), None);
        assert_eq!(b.pop_ready(), None);
        assert_eq!(b.due(), Some(t0 + HOLD));
        assert_eq!(b.take(), vec![PeerId(1)]);
    }
}
