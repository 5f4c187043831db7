//! Each peer's next timeout, in one small table beside the peers.
//!
//! `Sfu::handle_timeout` runs whenever the earliest of them passes (hundreds of times a
//! second in a busy room) and needs which peers are due and then the earliest of the rest.
//! It read them from the peers themselves: a `Peer` is ~9 KiB behind a `Box`, so each read
//! was a cache miss, and two walks of 256 peers per call were ~1.7 % of the media thread at
//! meeting:16 (perf, 3 Dec: 57 % of `handle_timeout`'s own time on the one load of
//! `next_timeout`). Here the deadlines lie side by side, 16 bytes a peer: a walk of a
//! thousand peers reads 16 KiB in order. A heap would make the walk logarithmic but must
//! carry stale entries (a peer's deadline moves at every poll); at a shard's size the
//! linear walk over contiguous memory is cheaper and has nothing to go stale.

use std::time::Instant;

use huddle_room::PeerId;

use crate::IdMap;

#[derive(Default)]
pub struct Deadlines {
    /// (deadline, peer), in no order.
    table: Vec<(Instant, PeerId)>,
    /// Where each peer's row is in `table`.
    row: IdMap<usize>,
}

impl Deadlines {
    /// Sets (or adds) a peer's next timeout.
    pub fn set(&mut self, id: PeerId, at: Instant) {
        match self.row.get(&id) {
            Some(&i) => self.table[i].0 = at,
            None => {
                self.row.insert(id, self.table.len());
                self.table.push((at, id));
            }
        }
    }

    /// Forgets a peer (closed).
    pub fn remove(&mut self, id: PeerId) {
        let Some(i) = self.row.remove(&id) else {
            return;
        };
        self.table.swap_remove(i);
        if let Some(&(_, moved)) = self.table.get(i) {
            self.row.insert(moved, i);
        }
    }

    /// Appends to `due` the peers whose timeout is at or before `now`.
    pub fn due(&self, now: Instant, due: &mut Vec<PeerId>) {
        due.extend(
            self.table
                .iter()
                .filter(|(at, _)| *at <= now)
                .map(|&(_, id)| id),
        );
    }

    /// The earliest timeout of all peers.
    pub fn earliest(&self) -> Option<Instant> {
        self.table.iter().map(|&(at, _)| at).min()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.table.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn due_peers_and_the_earliest_deadline_follow_every_change() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut d = Deadlines::default();
        assert_eq!(d.earliest(), None);
        d.set(PeerId(1), ms(30));
        d.set(PeerId(2), ms(10));
        d.set(PeerId(3), ms(20));
        assert_eq!(d.earliest(), Some(ms(10)));

        let mut due = Vec::new();
        d.due(ms(20), &mut due);
        due.sort();
        assert_eq!(due, [PeerId(2), PeerId(3)]);

        // A deadline moved later: no longer due, and no longer the earliest.
        d.set(PeerId(2), ms(40));
        assert_eq!(d.earliest(), Some(ms(20)));
        due.clear();
        d.due(ms(20), &mut due);
        assert_eq!(due, [PeerId(3)]);
        assert_eq!(d.len(), 3, "set on a known peer updates its row");
    }

    #[test]
    fn a_removed_peer_is_never_due_and_the_rows_stay_consistent() {
        let t0 = Instant::now();
        let mut d = Deadlines::default();
        for i in 0..5 {
            d.set(PeerId(i), t0 + Duration::from_millis(i));
        }
        // The first row is removed: the last one moves into it and must stay reachable.
        d.remove(PeerId(0));
        d.remove(PeerId(0));
        d.set(PeerId(4), t0);
        assert_eq!(d.len(), 4);
        assert_eq!(d.earliest(), Some(t0));
        let mut due = Vec::new();
        d.due(t0 + Duration::from_millis(2), &mut due);
        due.sort();
        assert_eq!(due, [PeerId(1), PeerId(2), PeerId(4)]);

        for i in 1..5 {
            d.remove(PeerId(i));
        }
        assert_eq!(d.len(), 0);
        assert_eq!(d.earliest(), None);
    }
}
