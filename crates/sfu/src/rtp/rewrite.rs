//! Per player and track: a publisher's RTP numbering turned into the player's.
//!
//! - Sequence numbers: `out = in + delta` on str0m's extended (64-bit) numbers. The first
//!   packet a player gets is numbered 1 (a stream's first number must be below 65 536, or
//!   SRTP's rollover counter disagrees with the browser's and every packet fails to decrypt).
//!   Gaps are kept: a packet lost between publisher and server leaves a hole the player
//!   NACKs, and the late retransmission str0m gets from the publisher fills it under the
//!   same number. After a restart (video paused, starved, or a large jump in the source's
//!   numbering) the numbering continues at the highest number sent plus one, so the frames
//!   dropped in between are not NACKed for ever.
//! - Timestamps: passed through. Only [`Rewriter::switch_source`] (a different stream, e.g. a
//!   simulcast layer) makes an offset, so the player's clock moves on by the wall time that
//!   passed.
//! - Video starts on a keyframe's first packet; earlier (late) packets are dropped.
//! - VP8: picture id and TL0PICIDX continue from the last ones sent across a restart, so
//!   the player's decoder sees no jump; the patch is applied by str0m while serializing
//!   (no copy of the shared payload).
//!
//! Sans-IO: time is passed in.

use std::time::Instant;

/// A forward jump in the source's numbering larger than this is a new stream (SSRC change,
/// encoder restart), not loss: the player restarts instead of NACKing thousands of packets.
pub const MAX_SEQ_JUMP: u64 = 3000;

/// What the rewriter needs to know of one source packet (computed once per packet, shared
/// by every player).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InPacket {
    /// str0m's extended sequence number.
    pub seq: u64,
    pub time: u32,
    /// The first packet of a keyframe (always false for audio).
    pub starts_keyframe: bool,
    /// VP8 payload descriptor fields, when the payload is VP8 and has them.
    pub vp8: Option<Vp8Ids>,
}

/// VP8 picture id and TL0PICIDX as the publisher sent them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8Ids {
    pub picture_id: Option<u16>,
    /// 15-bit picture ids (else 7-bit).
    pub long_picture_id: bool,
    pub tl0_pic_idx: Option<u8>,
}

/// The player's numbering of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutPacket {
    pub seq: u64,
    pub time: u32,
    /// New VP8 values to patch in; `None` where the publisher's value is kept.
    pub picture_id: Option<u16>,
    pub tl0_pic_idx: Option<u8>,
}

#[derive(Debug, Default)]
pub struct Rewriter {
    /// Video waits for a keyframe before the first packet and after every restart.
    video: bool,
    mapping: Option<Mapping>,
    /// The next start continues the numbering (a restart, not the first start).
    highest_out: Option<u64>,
    /// Last timestamp sent and when: where a switched source's clock continues from.
    last_time: Option<(u32, Instant)>,
    /// Set by [`Rewriter::switch_source`]: the next start computes a timestamp offset.
    switching: Option<u32>,
    time_offset: u32,
    last_picture_id: Option<u16>,
    last_tl0: Option<u8>,
    /// Packets dropped because they came before the current start point.
    pub dropped_late: u64,
}

#[derive(Debug, Clone, Copy)]
struct Mapping {
    /// `out = in + delta` (wrapping on u64 gives the signed difference).
    delta: u64,
    /// Input numbers below this came before the start: dropped.
    floor: u64,
    picture_id_offset: u16,
    tl0_offset: u8,
}

impl Rewriter {
    pub fn new(video: bool) -> Rewriter {
        Rewriter {
            video,
            ..Default::default()
        }
    }

    /// Started and forwarding (false before the first keyframe and after a restart).
    pub fn started(&self) -> bool {
        self.mapping.is_some()
    }

    /// Stop forwarding until the next start point (a keyframe for video); the numbering then
    /// continues where it stopped.
    pub fn restart(&mut self) {
        self.mapping = None;
    }

    /// The next packets come from another stream with its own timestamps (`clock_rate` Hz):
    /// restart, and at the start continue the player's timestamps by the wall time passed.
    pub fn switch_source(&mut self, clock_rate: u32) {
        self.mapping = None;
        self.switching = Some(clock_rate);
    }

    /// The player's numbering of `p`, or `None` to drop it (before the start point, waiting
    /// for a keyframe).
    pub fn rewrite(&mut self, p: &InPacket, now: Instant) -> Option<OutPacket> {
        if let Some(m) = self.mapping {
            if p.seq < m.floor {
                self.dropped_late += 1;
                return None;
            }
            let out = p.seq.wrapping_add(m.delta);
            let jumped = self
                .highest_out
                .is_some_and(|h| out > h.saturating_add(MAX_SEQ_JUMP));
            if jumped {
                self.mapping = None;
            }
        }
        if self.mapping.is_none() && !self.start(p, now) {
            return None;
        }
        let m = self.mapping.expect("started above");
        let seq = p.seq.wrapping_add(m.delta);
        self.highest_out = Some(self.highest_out.map_or(seq, |h| h.max(seq)));
        let time = p.time.wrapping_add(self.time_offset);
        if self.last_time.is_none_or(|(t, _)| newer_time(time, t)) {
            self.last_time = Some((time, now));
        }
        let (picture_id, tl0_pic_idx) = self.vp8_out(p.vp8, m);
        Some(OutPacket {
            seq,
            time,
            picture_id,
            tl0_pic_idx,
        })
    }

    /// Starts (or restarts) the mapping at `p` if it is a start point.
    fn start(&mut self, p: &InPacket, now: Instant) -> bool {
        if self.video && !p.starts_keyframe {
            return false;
        }
        let first_out = self.highest_out.map_or(1, |h| h + 1);
        if let (Some(rate), Some((last, at))) = (self.switching.take(), self.last_time) {
            let passed = now.saturating_duration_since(at).as_secs_f64() * f64::from(rate);
            let next = last.wrapping_add((passed as u32).max(1));
            self.time_offset = next.wrapping_sub(p.time);
        }
        let (mut picture_id_offset, mut tl0_offset) = (0, 0);
        if let Some(ids) = p.vp8 {
            if let (Some(last), Some(now_id)) = (self.last_picture_id, ids.picture_id) {
                picture_id_offset = last.wrapping_add(1).wrapping_sub(now_id);
            }
            if let (Some(last), Some(now_tl0)) = (self.last_tl0, ids.tl0_pic_idx) {
                tl0_offset = last.wrapping_add(1).wrapping_sub(now_tl0);
            }
        }
        self.mapping = Some(Mapping {
            delta: first_out.wrapping_sub(p.seq),
            floor: p.seq,
            picture_id_offset,
            tl0_offset,
        });
        true
    }

    fn vp8_out(&mut self, ids: Option<Vp8Ids>, m: Mapping) -> (Option<u16>, Option<u8>) {
        let Some(ids) = ids else {
            return (None, None);
        };
        let mask = if ids.long_picture_id { 0x7fff } else { 0x7f };
        let picture_id = ids
            .picture_id
            .map(|id| id.wrapping_add(m.picture_id_offset) & mask);
        let tl0 = ids.tl0_pic_idx.map(|t| t.wrapping_add(m.tl0_offset));
        if let Some(id) = picture_id {
            self.last_picture_id = Some(id);
        }
        if let Some(t) = tl0 {
            self.last_tl0 = Some(t);
        }
        // Patch only what changes: the common case (no restart yet) writes no patch.
        (
            picture_id.filter(|_| m.picture_id_offset & mask != 0),
            tl0.filter(|_| m.tl0_offset != 0),
        )
    }
}

/// RTP timestamp `a` is after `b` (modulo 2^32).
fn newer_time(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000_0000
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn video(seq: u64, time: u32, key: bool) -> InPacket {
        InPacket {
            seq,
            time,
            starts_keyframe: key,
            vp8: None,
        }
    }

    fn vp8(seq: u64, key: bool, picture_id: u16, tl0: u8) -> InPacket {
        InPacket {
            seq,
            time: seq as u32 * 10,
            starts_keyframe: key,
            vp8: Some(Vp8Ids {
                picture_id: Some(picture_id),
                long_picture_id: true,
                tl0_pic_idx: Some(tl0),
            }),
        }
    }

    #[test]
    fn video_starts_on_a_keyframe_numbered_from_one_and_keeps_gaps() {
        let now = Instant::now();
        let mut r = Rewriter::new(true);
        // A long-running source: extended numbers far above 65 536.
        assert_eq!(r.rewrite(&video(200_000, 5, false), now), None);
        assert!(!r.started());
        let first = r.rewrite(&video(200_001, 9000, true), now).unwrap();
        assert_eq!(
            (first.seq, first.time),
            (1, 9000),
            "timestamps pass through"
        );
        // 200_002 lost upstream: the gap stays so the player NACKs it ...
        assert_eq!(r.rewrite(&video(200_003, 9000, false), now).unwrap().seq, 3);
        // ... and the late retransmission fills it with the same number.
        assert_eq!(r.rewrite(&video(200_002, 9000, false), now).unwrap().seq, 2);
        // A packet from before the keyframe arriving late is not sent.
        assert_eq!(r.rewrite(&video(200_000, 5, false), now), None);
        assert_eq!(r.dropped_late, 1);
    }

    #[test]
    fn audio_starts_at_once() {
        let now = Instant::now();
        let mut r = Rewriter::new(false);
        assert_eq!(r.rewrite(&video(70_000, 960, false), now).unwrap().seq, 1);
        assert_eq!(r.rewrite(&video(70_001, 1920, false), now).unwrap().seq, 2);
    }

    #[test]
    fn a_restart_waits_for_a_keyframe_and_continues_the_numbering() {
        let now = Instant::now();
        let mut r = Rewriter::new(true);
        for s in 10..15 {
            r.rewrite(&video(s, s as u32, s == 10), now).unwrap();
        }
        r.restart();
        // Dropped while paused: nothing goes out until the next keyframe.
        for s in 15..40 {
            assert_eq!(r.rewrite(&video(s, s as u32, false), now), None);
        }
        let out = r.rewrite(&video(40, 40, true), now).unwrap();
        assert_eq!(out.seq, 6, "no hole for the 25 dropped packets");
        assert_eq!(out.time, 40, "same source: timestamps still pass through");
        assert_eq!(r.rewrite(&video(41, 41, false), now).unwrap().seq, 7);
        assert_eq!(r.rewrite(&video(39, 39, false), now), None);
    }

    #[test]
    fn a_large_jump_in_the_source_numbering_restarts_on_the_next_keyframe() {
        let now = Instant::now();
        let mut r = Rewriter::new(true);
        r.rewrite(&video(100, 0, true), now).unwrap();
        r.rewrite(&video(101, 0, false), now).unwrap();
        assert_eq!(
            r.rewrite(&video(101 + MAX_SEQ_JUMP + 5, 0, false), now),
            None
        );
        let out = r.rewrite(&video(101 + MAX_SEQ_JUMP + 6, 0, true), now);
        assert_eq!(out.unwrap().seq, 3);
    }

    #[test]
    fn numbering_crosses_65536_without_a_jump() {
        let now = Instant::now();
        let mut r = Rewriter::new(false);
        let mut last = 0;
        for s in 0..70_000u64 {
            let out = r.rewrite(&video(1_000_000 + s, 0, false), now).unwrap();
            assert_eq!(out.seq, last + 1);
            last = out.seq;
        }
        assert!(
            last > 65_536,
            "extended numbers go on; str0m derives the ROC"
        );
    }

    #[test]
    fn switching_source_offsets_timestamps_by_the_wall_time_passed() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(true);
        r.rewrite(&video(1, 1_000, true), t0).unwrap();
        r.rewrite(&video(2, 4_000, false), t0).unwrap();
        r.switch_source(90_000);
        let t1 = t0 + Duration::from_millis(100);
        // The other stream has an unrelated clock.
        assert_eq!(r.rewrite(&video(500, 7_777_777, false), t1), None);
        let out = r.rewrite(&video(501, 7_777_777, true), t1).unwrap();
        assert_eq!(out.seq, 3);
        assert_eq!(
            out.time,
            4_000 + 9_000,
            "100 ms at 90 kHz after the last one"
        );
        let next = r.rewrite(&video(502, 7_777_777 + 3000, false), t1).unwrap();
        assert_eq!(next.time, 13_000 + 3000);
    }

    #[test]
    fn vp8_ids_pass_untouched_until_a_restart_then_continue() {
        let now = Instant::now();
        let mut r = Rewriter::new(true);
        let a = r.rewrite(&vp8(1, true, 700, 20), now).unwrap();
        assert_eq!(
            (a.picture_id, a.tl0_pic_idx),
            (None, None),
            "no patch needed"
        );
        r.rewrite(&vp8(2, false, 701, 21), now).unwrap();
        r.restart();
        assert_eq!(r.rewrite(&vp8(3, false, 702, 22), now), None);
        let b = r.rewrite(&vp8(9, true, 760, 80), now).unwrap();
        assert_eq!((b.picture_id, b.tl0_pic_idx), (Some(702), Some(22)));
        let c = r.rewrite(&vp8(10, false, 761, 81), now).unwrap();
        assert_eq!((c.picture_id, c.tl0_pic_idx), (Some(703), Some(23)));
    }

    #[test]
    fn vp8_picture_ids_wrap_within_their_width() {
        let now = Instant::now();
        let mut r = Rewriter::new(true);
        r.rewrite(&vp8(1, true, 0x7ffe, 255), now).unwrap();
        r.restart();
        let out = r.rewrite(&vp8(5, true, 10, 3), now).unwrap();
        assert_eq!(out.picture_id, Some(0x7fff));
        assert_eq!(out.tl0_pic_idx, Some(0));
        let next = r.rewrite(&vp8(6, false, 11, 4), now).unwrap();
        assert_eq!(next.picture_id, Some(0), "15-bit picture ids wrap to 0");
    }
}
