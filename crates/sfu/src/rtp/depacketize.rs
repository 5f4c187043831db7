//! Frames out of a publisher's RTP packets, for the recorder and the RTMP taps in RTP mode
//! (str0m no longer assembles frames then).
//!
//! The codec work is str0m's own: its H.264 and VP8 depacketizers (exported under its
//! `unversioned` feature; the same code frame mode runs), Opus/G.711 payloads are frames as
//! they are. What is ours is the assembly: packets may arrive out of order (a retransmission
//! fills a hole late), so they wait in a small buffer keyed by sequence number; a frame is the
//! run of packets from the end of the previous frame to the marker bit (or the last packet
//! before the timestamp changes). A hole that is not filled while [`GIVE_UP_AFTER`] packets
//! arrive behind it is given up: video then resumes at the next keyframe (a decoder cannot
//! use frames after a gap), audio at the next packet.
//!
//! Any input is safe: malformed payloads make a depacketizer error (the frame is dropped and
//! video waits for a keyframe), never a panic; the buffer is bounded.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use str0m::format::{Codec, CodecExtra};
use str0m::media::{MediaKind, MediaTime};
use str0m::unversioned::{Depacketizer as _, H264Depacketizer, Vp8Depacketizer};

use super::packet::SourcePacket;
use crate::forward::Frame;

/// Video packets that may arrive behind a hole before it is given up (~0.5 s of 1.5 Mbit/s
/// video: long enough for a NACK round trip to the publisher).
pub const GIVE_UP_AFTER: usize = 64;
/// Audio packets behind a hole before it is given up (100 ms of 20 ms Opus packets).
pub const GIVE_UP_AFTER_AUDIO: usize = 5;
/// At most this many packets are buffered; beyond it the buffer is reset (resync).
pub const MAX_BUFFERED: usize = 1024;

struct Buffered {
    time: MediaTime,
    rtp_time: u32,
    marker: bool,
    starts_keyframe: bool,
    arrived: Instant,
    payload: Arc<[u8]>,
}

enum Depack {
    H264(H264Depacketizer),
    Vp8(Vp8Depacketizer),
    /// The payload is the frame (Opus, G.711).
    Whole,
}

/// One track's assembler.
pub struct Depacketizer {
    kind: MediaKind,
    depack: Depack,
    buffer: BTreeMap<u64, Buffered>,
    /// Sequence number where the next frame starts; `None`: waiting for a start point.
    next: Option<u64>,
    /// Frames dropped (holes given up, malformed payloads).
    pub frames_lost: u64,
}

impl Depacketizer {
    pub fn new(kind: MediaKind, codec: Codec) -> Depacketizer {
        let depack = match codec {
            Codec::H264 => Depack::H264(H264Depacketizer::default()),
            Codec::Vp8 => Depack::Vp8(Vp8Depacketizer::default()),
            _ => Depack::Whole,
        };
        Depacketizer {
            kind,
            depack,
            buffer: BTreeMap::new(),
            next: None,
            frames_lost: 0,
        }
    }

    fn per_packet(&self) -> bool {
        matches!(self.depack, Depack::Whole)
    }

    /// Takes one packet (`time`: its extended media time); calls `out` for every frame it
    /// completes, in order.
    pub fn push(&mut self, p: &SourcePacket, time: MediaTime, mut out: impl FnMut(Frame)) {
        let seq = p.input.seq;
        if self.next.is_some_and(|n| seq < n) || self.buffer.contains_key(&seq) {
            return; // late (its frame is done or given up) or a duplicate
        }
        if self.buffer.len() >= MAX_BUFFERED {
            self.buffer.clear();
            self.next = None;
            self.frames_lost += 1;
        }
        self.buffer.insert(
            seq,
            Buffered {
                time,
                rtp_time: p.input.time,
                marker: p.marker,
                starts_keyframe: p.input.starts_keyframe,
                arrived: p.arrived,
                payload: p.payload.clone(),
            },
        );
        self.drain(&mut out);
    }

    fn drain(&mut self, out: &mut impl FnMut(Frame)) {
        loop {
            if self.next.is_none() && !self.resync() {
                return;
            }
            match self.complete_frame() {
                Some(last) => self.emit(last, out),
                None => {
                    if !self.hole_given_up() {
                        return;
                    }
                }
            }
        }
    }

    /// Finds a start point in the buffer: any packet for audio, a keyframe's first packet
    /// for video. Drops what comes before it.
    fn resync(&mut self) -> bool {
        let per_packet = self.per_packet();
        let start = self
            .buffer
            .iter()
            .find(|(_, b)| per_packet || b.starts_keyframe)
            .map(|(s, _)| *s);
        match start {
            Some(s) => {
                self.buffer = self.buffer.split_off(&s);
                self.next = Some(s);
                true
            }
            None => {
                // Nothing to start from yet: keep only a bounded tail.
                while self.buffer.len() > GIVE_UP_AFTER {
                    self.buffer.pop_first();
                }
                false
            }
        }
    }

    /// The last sequence number of the frame starting at `next`, if all of it is here.
    fn complete_frame(&self) -> Option<u64> {
        let first = self.next?;
        let head = self.buffer.get(&first)?;
        if self.per_packet() {
            return Some(first);
        }
        let mut seq = first;
        loop {
            let b = self.buffer.get(&seq)?;
            if b.rtp_time != head.rtp_time {
                return Some(seq - 1); // the timestamp changed: the frame ended unmarked
            }
            if b.marker {
                return Some(seq);
            }
            seq += 1;
        }
    }

    /// The packet at `next` is missing (or its frame is): give it up once enough packets
    /// have arrived behind it. Returns true if the state moved on.
    fn hole_given_up(&mut self) -> bool {
        let Some(next) = self.next else {
            return false;
        };
        let limit = if self.per_packet() {
            GIVE_UP_AFTER_AUDIO
        } else {
            GIVE_UP_AFTER
        };
        if self.buffer.range(next..).count() <= limit {
            return false;
        }
        self.frames_lost += 1;
        if self.per_packet() {
            self.next = self.buffer.keys().next().copied();
        } else {
            // Frames after a gap are useless to a decoder: start again at a keyframe.
            self.buffer.remove(&next);
            self.next = None;
        }
        true
    }

    fn emit(&mut self, last: u64, out: &mut impl FnMut(Frame)) {
        let rest = self.buffer.split_off(&(last + 1));
        let packets = std::mem::replace(&mut self.buffer, rest);
        self.next = Some(last + 1);
        let head = packets.values().next().expect("a frame has packets");
        let (time, arrived) = (head.time, head.arrived);
        let mut data = Vec::new();
        let mut extra = CodecExtra::None;
        let mut keyframe = head.starts_keyframe;
        for b in packets.values() {
            let r = match &mut self.depack {
                Depack::H264(d) => d.depacketize(&b.payload, &mut data, &mut extra),
                Depack::Vp8(d) => d.depacketize(&b.payload, &mut data, &mut extra),
                Depack::Whole => {
                    data.extend_from_slice(&b.payload);
                    Ok(())
                }
            };
            if r.is_err() {
                self.frames_lost += 1;
                if self.kind == MediaKind::Video {
                    self.next = None;
                }
                return;
            }
        }
        keyframe |= match extra {
            CodecExtra::H264(e) => e.is_keyframe,
            CodecExtra::Vp8(e) => e.is_keyframe,
            _ => false,
        };
        if data.is_empty() {
            return;
        }
        out(Frame {
            kind: self.kind,
            time,
            network_time: arrived,
            keyframe: keyframe && self.kind == MediaKind::Video,
            data: data.into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::packet::{Fields, ParseState};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use str0m::media::Frequency;

    /// VP8 payloads of one frame split in `n` packets: descriptor (S bit on the first),
    /// then the frame bytes.
    fn vp8_packets(frame: &[u8], n: usize) -> Vec<Vec<u8>> {
        let chunk = frame.len().div_ceil(n);
        frame
            .chunks(chunk)
            .enumerate()
            .map(|(i, c)| {
                let mut p = vec![if i == 0 { 0x10 } else { 0x00 }];
                p.extend_from_slice(c);
                p
            })
            .collect()
    }

    fn vp8_frame(index: u8, key: bool) -> Vec<u8> {
        let mut f = vec![if key { 0x10 } else { 0x11 }, 0x02, 0x00];
        if key {
            f.extend_from_slice(&[0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]);
        }
        f.extend((0..300).map(|i| (i as u8).wrapping_mul(index)));
        f
    }

    struct Feed {
        d: Depacketizer,
        state: ParseState,
        now: Instant,
        out: Vec<Frame>,
    }

    impl Feed {
        fn new(kind: MediaKind, codec: Codec) -> Feed {
            Feed {
                d: Depacketizer::new(kind, codec),
                state: ParseState::default(),
                now: Instant::now(),
                out: Vec::new(),
            }
        }

        fn push(&mut self, codec: Codec, seq: u64, time: u32, marker: bool, payload: &[u8]) {
            let kind = self.d.kind;
            let fields = Fields {
                seq,
                time,
                marker,
                arrived: self.now,
            };
            let payload: Arc<[u8]> = payload.into();
            let Some(p) = SourcePacket::from_parts(kind, codec, fields, &payload, &mut self.state)
            else {
                return;
            };
            let freq = match kind {
                MediaKind::Video => Frequency::NINETY_KHZ,
                MediaKind::Audio => Frequency::FORTY_EIGHT_KHZ,
            };
            let out = &mut self.out;
            self.d
                .push(&p, MediaTime::new(time as u64, freq), |f| out.push(f));
        }
    }

    /// (seq, time, marker, payload) of `frames` VP8 frames of 3 packets each, a keyframe
    /// every `key_every`.
    /// (seq, time, marker, payload).
    type Packet = (u64, u32, bool, Vec<u8>);

    fn vp8_stream(frames: u8, key_every: u8) -> (Vec<Packet>, Vec<Vec<u8>>) {
        let mut packets = Vec::new();
        let mut sent = Vec::new();
        let mut seq = 65_530u64; // crosses the 16-bit wrap: numbers are extended
        for i in 0..frames {
            let f = vp8_frame(i + 1, i % key_every == 0);
            let parts = vp8_packets(&f, 3);
            let n = parts.len();
            for (j, p) in parts.into_iter().enumerate() {
                packets.push((seq, 3000 * i as u32, j + 1 == n, p));
                seq += 1;
            }
            sent.push(f);
        }
        (packets, sent)
    }

    #[test]
    fn reordered_packets_make_the_frames_in_order() {
        let (mut packets, sent) = vp8_stream(6, 3);
        // Swap neighbours and delay one packet by four: a retransmission arriving late.
        packets.swap(1, 2);
        let late = packets.remove(4);
        packets.insert(8, late);
        let mut f = Feed::new(MediaKind::Video, Codec::Vp8);
        for (seq, time, marker, p) in &packets {
            f.push(Codec::Vp8, *seq, *time, *marker, p);
        }
        let got: Vec<Vec<u8>> = f.out.iter().map(|fr| fr.data.to_vec()).collect();
        assert_eq!(got, sent);
        assert!(f.out[0].keyframe && !f.out[1].keyframe && f.out[3].keyframe);
        assert_eq!(f.out[1].time.numer(), 3000);
    }

    #[test]
    fn a_hole_never_filled_is_given_up_and_video_resumes_at_the_next_keyframe() {
        let (mut packets, sent) = vp8_stream(60, 30);
        packets.remove(10); // frame 3's second packet, lost for good
        let mut f = Feed::new(MediaKind::Video, Codec::Vp8);
        for (seq, time, marker, p) in &packets {
            f.push(Codec::Vp8, *seq, *time, *marker, p);
        }
        let got: Vec<Vec<u8>> = f.out.iter().map(|fr| fr.data.to_vec()).collect();
        // Frames 0..3 complete, then nothing until the keyframe at 30, then all of them.
        let mut want = sent[..3].to_vec();
        want.extend_from_slice(&sent[30..]);
        assert_eq!(got, want);
        assert!(f.d.frames_lost >= 1);
    }

    #[test]
    fn video_starts_at_a_keyframe() {
        let (packets, sent) = vp8_stream(10, 5);
        let mut f = Feed::new(MediaKind::Video, Codec::Vp8);
        for (seq, time, marker, p) in &packets[3..] {
            f.push(Codec::Vp8, *seq, *time, *marker, p);
        }
        let got: Vec<Vec<u8>> = f.out.iter().map(|fr| fr.data.to_vec()).collect();
        assert_eq!(got, sent[5..].to_vec());
    }

    #[test]
    fn audio_packets_are_frames_and_a_lost_one_is_skipped() {
        let mut f = Feed::new(MediaKind::Audio, Codec::Opus);
        for seq in 0..20u64 {
            if seq == 7 {
                continue;
            }
            f.push(Codec::Opus, seq, seq as u32 * 960, false, &[seq as u8; 40]);
        }
        let got: Vec<u8> = f.out.iter().map(|fr| fr.data[0]).collect();
        let want: Vec<u8> = (0..20).filter(|s| *s != 7).collect();
        // Audio waits a few packets for the hole, then moves on: all but the lost one.
        assert_eq!(&got[..], &want[..got.len()]);
        assert!(got.len() >= want.len() - GIVE_UP_AFTER_AUDIO);
    }

    /// Random, truncated and duplicated packets of every codec: never a panic, never more
    /// than the bounded buffer.
    #[test]
    fn random_and_truncated_packets_never_panic() {
        let mut rng = StdRng::seed_from_u64(15);
        let (packets, _) = vp8_stream(20, 5);
        for (codec, kind) in [
            (Codec::Vp8, MediaKind::Video),
            (Codec::H264, MediaKind::Video),
            (Codec::Opus, MediaKind::Audio),
        ] {
            let mut f = Feed::new(kind, codec);
            for round in 0..20_000u64 {
                let len = rng.random_range(0..64usize);
                let mut payload: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                if round % 3 == 0 {
                    // A real packet, cut short somewhere.
                    let (_, _, _, p) = &packets[round as usize % packets.len()];
                    payload = p[..rng.random_range(0..=p.len())].to_vec();
                }
                // Mostly ascending, sometimes far off, sometimes repeated.
                let seq = match rng.random_range(0..10) {
                    0 => rng.random_range(0..1_000_000),
                    1 => round.saturating_sub(3),
                    _ => round,
                };
                f.push(codec, seq, rng.random(), rng.random_bool(0.3), &payload);
                assert!(f.d.buffer.len() <= MAX_BUFFERED);
            }
            println!("{codec:?}: {} frames out of random input", f.out.len());
        }
    }
}
