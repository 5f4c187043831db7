//! Synthetic media: VP8-shaped video frames and Opus-shaped audio packets that carry a send
//! timestamp and a sequence number, so that a subscriber can measure one-way latency and loss.
//!
//! Layout of every payload: `<codec header><8-byte send stamp, ns, big endian><4-byte seq, BE><padding>`.
//! The codec header is a valid VP8 frame header (3 bytes for an interframe, 10 bytes for a
//! keyframe, keyframe bit = bit 0 of byte 0 clear) or a one-byte Opus TOC.

/// Bytes of stamp + sequence number after the codec header.
pub const STAMP_LEN: usize = 12;
/// VP8 keyframe header: 3-byte frame tag + start code + width + height.
pub const VP8_KEY_HDR: usize = 10;
/// VP8 interframe header: 3-byte frame tag.
pub const VP8_DELTA_HDR: usize = 3;
/// Opus TOC byte: config 31 (CELT fullband, 20 ms), mono, one frame.
pub const OPUS_TOC: u8 = 31 << 3;

/// The shape of the synthetic streams.
#[derive(Debug, Clone, Copy)]
pub struct MediaShape {
    pub fps: u32,
    pub video_bitrate: u32,
    pub keyframe_interval_frames: u32,
    /// How many delta frames' worth of bytes a keyframe has.
    pub keyframe_factor: u32,
    pub audio_ptime_ms: u32,
    pub audio_bytes: usize,
}

impl Default for MediaShape {
    fn default() -> Self {
        MediaShape {
            fps: 30,
            video_bitrate: 1_500_000,
            keyframe_interval_frames: 60,
            keyframe_factor: 5,
            audio_ptime_ms: 20,
            audio_bytes: 80,
        }
    }
}

impl MediaShape {
    /// (keyframe size, delta frame size) in bytes for the configured bitrate.
    pub fn frame_sizes(&self) -> (usize, usize) {
        let bytes_per_gop =
            self.video_bitrate as u64 / 8 * self.keyframe_interval_frames as u64 / self.fps as u64;
        let units = (self.keyframe_interval_frames - 1 + self.keyframe_factor) as u64;
        let delta = (bytes_per_gop / units).max((VP8_KEY_HDR + STAMP_LEN) as u64) as usize;
        (delta * self.keyframe_factor as usize, delta)
    }
}

/// A VP8 frame of `size` bytes (at least the header plus stamp).
pub fn vp8_frame(key: bool, size: usize, stamp_ns: u64, seq: u32) -> Vec<u8> {
    let hdr = if key { VP8_KEY_HDR } else { VP8_DELTA_HDR };
    let size = size.max(hdr + STAMP_LEN);
    let mut v = vec![0u8; size];
    // Frame tag (RFC 6386 §9.1): bit 0 = !key_frame, bits 1-3 version, bit 4 show_frame,
    // bits 5-23 first_part_size.
    let first_part = ((size - hdr) as u32).min((1 << 19) - 1);
    let tag: u32 = (first_part << 5) | (1 << 4) | u32::from(!key);
    v[0] = tag as u8;
    v[1] = (tag >> 8) as u8;
    v[2] = (tag >> 16) as u8;
    if key {
        v[3..6].copy_from_slice(&[0x9d, 0x01, 0x2a]);
        // 640x360, no scaling.
        v[6..8].copy_from_slice(&640u16.to_le_bytes());
        v[8..10].copy_from_slice(&360u16.to_le_bytes());
    }
    v[hdr..hdr + 8].copy_from_slice(&stamp_ns.to_be_bytes());
    v[hdr + 8..hdr + 12].copy_from_slice(&seq.to_be_bytes());
    // Cheap filler so the payload is not all zeros.
    for (i, b) in v[hdr + STAMP_LEN..].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31) ^ (seq as u8);
    }
    v
}

/// An Opus packet of `size` bytes.
pub fn opus_frame(size: usize, stamp_ns: u64, seq: u32) -> Vec<u8> {
    let size = size.max(1 + STAMP_LEN);
    let mut v = vec![0u8; size];
    v[0] = OPUS_TOC;
    v[1..9].copy_from_slice(&stamp_ns.to_be_bytes());
    v[9..13].copy_from_slice(&seq.to_be_bytes());
    v
}

/// What a subscriber reads back from a received frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub sent_ns: u64,
    pub seq: u32,
    pub keyframe: bool,
}

/// Parse a depacketized VP8 frame made by [`vp8_frame`].
pub fn parse_vp8(data: &[u8]) -> Option<Stamp> {
    if data.len() < VP8_DELTA_HDR + STAMP_LEN {
        return None;
    }
    let key = data[0] & 1 == 0;
    let hdr = if key {
        if data.len() < VP8_KEY_HDR + STAMP_LEN || data[3..6] != [0x9d, 0x01, 0x2a] {
            return None;
        }
        VP8_KEY_HDR
    } else {
        VP8_DELTA_HDR
    };
    Some(read_stamp(&data[hdr..], key))
}

/// Parse an Opus packet made by [`opus_frame`].
pub fn parse_opus(data: &[u8]) -> Option<Stamp> {
    if data.len() < 1 + STAMP_LEN || data[0] != OPUS_TOC {
        return None;
    }
    Some(read_stamp(&data[1..], false))
}

fn read_stamp(d: &[u8], keyframe: bool) -> Stamp {
    Stamp {
        sent_ns: u64::from_be_bytes(d[0..8].try_into().expect("8 bytes")),
        seq: u32::from_be_bytes(d[8..12].try_into().expect("4 bytes")),
        keyframe,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_round_trip_and_keyframe_bit() {
        let k = vp8_frame(true, 3000, 123_456_789, 7);
        assert_eq!(k.len(), 3000);
        assert_eq!(k[0] & 1, 0, "keyframe has P=0");
        assert_eq!(&k[3..6], &[0x9d, 0x01, 0x2a]);
        let first_part = (u32::from(k[0]) | u32::from(k[1]) << 8 | u32::from(k[2]) << 16) >> 5;
        assert_eq!(first_part as usize, 3000 - VP8_KEY_HDR);
        assert_eq!(
            parse_vp8(&k),
            Some(Stamp {
                sent_ns: 123_456_789,
                seq: 7,
                keyframe: true
            })
        );
        let d = vp8_frame(false, 500, 42, 8);
        assert_eq!(d[0] & 1, 1, "interframe has P=1");
        assert_eq!(
            parse_vp8(&d),
            Some(Stamp {
                sent_ns: 42,
                seq: 8,
                keyframe: false
            })
        );
        assert_eq!(parse_vp8(&d[..5]), None);
    }

    #[test]
    fn opus_round_trip() {
        let a = opus_frame(80, 99, 3);
        assert_eq!(a.len(), 80);
        assert_eq!(
            parse_opus(&a),
            Some(Stamp {
                sent_ns: 99,
                seq: 3,
                keyframe: false
            })
        );
        assert_eq!(parse_opus(&[1, 2, 3]), None);
    }

    #[test]
    fn sizes_match_bitrate() {
        let s = MediaShape::default();
        let (k, d) = s.frame_sizes();
        let per_2s = k + 59 * d;
        // 1.5 Mbit/s over 2 s = 375000 bytes, within rounding.
        assert!((370_000..=375_000).contains(&per_2s), "{per_2s}");
        assert_eq!(k, 5 * d);
    }
}
