//! RTP mode: Opus wrapped in RFC 2198 RED for players that negotiated it, as frame mode
//! does (there str0m's `RedSender` wraps while packetizing; `write_rtp` takes payloads as
//! they are, so here we wrap). Each RED packet carries the source's previous Opus packet as
//! redundancy, so a listener recovers one lost packet from the next (audio has no NACK).
//! The other way, RED from a publisher, is unwrapped by str0m before we see it (vendored
//! patch 18): the source's packets, recovered ones included, arrive here as plain Opus.
//!
//! The wrapped payload depends only on the source packets and on the player's Opus payload
//! type (the block headers name it), so it is built once per packet for the first payload type
//! asked for and shared (`Arc`) by every player using that type; browsers all use 111 for
//! Opus, so in practice once per packet.

use std::cell::OnceCell;
use std::sync::Arc;

use str0m::media::Pt;
use str0m::rtp::{RedEncoder, RedundantBlock};

/// The previous Opus payload of a source, and the RED payload built from it for this packet.
#[derive(Debug, Clone, Default)]
pub struct Redundancy {
    /// The previous packet's payload and how many RTP ticks before this one it starts.
    previous: Option<(Arc<[u8]>, u32)>,
    /// The RED payload for the first primary payload type asked for.
    wrapped: OnceCell<(Pt, Arc<[u8]>)>,
}

impl Redundancy {
    /// This packet's RED payload for a player whose Opus payload type is `primary`: the
    /// previous packet as one redundant block (left out where RFC 2198's 14-bit time offset
    /// or 10-bit length cannot hold it), then this packet.
    pub fn wrap(&self, primary: Pt, payload: &Arc<[u8]>) -> Arc<[u8]> {
        let build = || -> Arc<[u8]> {
            let blocks: Vec<RedundantBlock> = self
                .previous
                .iter()
                .map(|(p, offset)| RedundantBlock {
                    pt: *primary,
                    timestamp_offset: *offset,
                    payload: p.to_vec(),
                })
                .collect();
            RedEncoder::encode(*primary, payload, &blocks).into()
        };
        let (pt, shared) = self.wrapped.get_or_init(|| (primary, build()));
        if *pt == primary {
            shared.clone()
        } else {
            build()
        }
    }
}

/// Per source: the last Opus packet, to ride along in the next one.
#[derive(Debug, Default)]
pub struct RedHistory {
    last: Option<(u64, u32, Arc<[u8]>)>,
}

impl RedHistory {
    /// The redundancy for the packet `seq` (extended) at `time`, and remembers the packet.
    /// A reordered (older) packet gets none and is not remembered.
    pub fn next(&mut self, seq: u64, time: u32, payload: &Arc<[u8]>) -> Redundancy {
        let previous = match &self.last {
            Some((s, _, _)) if *s >= seq => return Redundancy::default(),
            Some((_, t, p)) => {
                let offset = time.wrapping_sub(*t);
                // A later packet whose timestamp went backwards (a stream restart) wraps to
                // a huge offset and fails RFC 2198's 14-bit field: no redundancy then.
                Some((p.clone(), offset))
            }
            None => None,
        };
        self.last = Some((seq, time, payload.clone()));
        Redundancy {
            previous,
            wrapped: OnceCell::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use str0m::rtp::RedDecoder;

    fn arc(b: &[u8]) -> Arc<[u8]> {
        b.into()
    }

    /// The blocks of `r` wrapped for payload type `pt`: (pt, time offset, bytes), primary last.
    fn blocks(r: &Redundancy, pt: u8, payload: &[u8]) -> Vec<(u8, u32, Vec<u8>)> {
        let wrapped = r.wrap(Pt::from(pt), &arc(payload));
        let decoded = RedDecoder::decode(&wrapped).expect("valid RED");
        assert!(decoded.last().unwrap().is_primary);
        decoded
            .iter()
            .map(|b| (b.pt, b.timestamp_offset, b.payload.to_vec()))
            .collect()
    }

    #[test]
    fn each_packet_carries_the_previous_one() {
        let mut h = RedHistory::default();
        let first = h.next(10, 1000, &arc(b"one"));
        // The first packet has nothing to repeat.
        assert_eq!(blocks(&first, 111, b"one"), vec![(111, 0, b"one".to_vec())]);
        let second = h.next(11, 1960, &arc(b"two"));
        assert_eq!(
            blocks(&second, 111, b"two"),
            vec![(111, 960, b"one".to_vec()), (111, 0, b"two".to_vec())]
        );
    }

    #[test]
    fn one_payload_shared_per_payload_type() {
        let mut h = RedHistory::default();
        h.next(1, 0, &arc(b"a"));
        let r = h.next(2, 960, &arc(b"b"));
        let x = r.wrap(Pt::from(111), &arc(b"b"));
        let y = r.wrap(Pt::from(111), &arc(b"b"));
        assert!(
            Arc::ptr_eq(&x, &y),
            "players with the same PT share one payload"
        );
        assert_eq!(blocks(&r, 109, b"b")[1].0, 109, "another PT gets its own");
    }

    #[test]
    fn reordered_and_restarted_packets_get_no_bad_redundancy() {
        let mut h = RedHistory::default();
        h.next(5, 4800, &arc(b"five"));
        // Older than the last: no redundancy, and the history keeps packet 5.
        let late = h.next(4, 3840, &arc(b"four"));
        assert_eq!(blocks(&late, 111, b"four").len(), 1);
        // Timestamp went backwards (restart): the offset does not fit, the block is left out.
        let restart = h.next(6, 100, &arc(b"six"));
        assert_eq!(
            blocks(&restart, 111, b"six"),
            vec![(111, 0, b"six".to_vec())]
        );
        // A gap (packet 7 lost upstream): packet 8 carries 6 with the larger offset.
        let after_gap = h.next(8, 100 + 1920, &arc(b"eight"));
        assert_eq!(
            blocks(&after_gap, 111, b"eight")[0],
            (111, 1920, b"six".to_vec())
        );
    }
}
