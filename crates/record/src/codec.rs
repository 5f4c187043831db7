//! Codec helpers: H.264 Annex-B parsing, AVCC conversion, avcC and SPS size
//! parsing, VP8 key-frame header parsing, OpusHead and G.711 decode tables.

/// Splits an Annex-B byte stream (start codes `00 00 01` / `00 00 00 01`)
/// into NAL units (without start codes). Bytes before the first start code
/// are ignored; trailing zero bytes of each NAL are trimmed (a NAL unit never
/// ends in `00`, H.264 §7.4.1: they are `trailing_zero_8bits` or the first
/// byte of a 4-byte start code), and empty NAL units are dropped.
///
/// The workspace's one Annex-B splitter: the recorder and the RTMP ingest's
/// tests use it, so both read the same NAL units out of the same bytes.
pub fn annexb_nals(data: &[u8]) -> Vec<&[u8]> {
    let mut nals = Vec::new();
    let mut i = 0;
    let mut start: Option<usize> = None;
    while i + 2 < data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            if let Some(s) = start {
                push_nal(&mut nals, &data[s..i]);
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    if let Some(s) = start {
        push_nal(&mut nals, &data[s.min(data.len())..]);
    }
    nals
}

fn push_nal<'a>(nals: &mut Vec<&'a [u8]>, nal: &'a [u8]) {
    let mut end = nal.len();
    while end > 0 && nal[end - 1] == 0 {
        end -= 1;
    }
    if end > 0 {
        nals.push(&nal[..end]);
    }
}

pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1F)
}

pub const NAL_IDR: u8 = 5;
pub const NAL_SPS: u8 = 7;
pub const NAL_PPS: u8 = 8;
pub const NAL_AUD: u8 = 9;

/// Converts NAL units to length-prefixed (4-byte big endian) AVCC, dropping
/// access unit delimiters. SPS/PPS stay in-band (valid in Matroska and
/// needed when the encoder changes resolution).
pub fn to_avcc(nals: &[&[u8]]) -> Vec<u8> {
    let total: usize = nals.iter().map(|n| n.len() + 4).sum();
    let mut out = Vec::with_capacity(total);
    for nal in nals {
        if nal_type(nal) == NAL_AUD {
            continue;
        }
        out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        out.extend_from_slice(nal);
    }
    out
}

/// Builds an `AVCDecoderConfigurationRecord` (ISO 14496-15) from one SPS and PPS.
pub fn avcc_record(sps: &[u8], pps: &[u8]) -> Option<Vec<u8>> {
    if sps.len() < 4 || pps.is_empty() || sps.len() > 0xFFFF || pps.len() > 0xFFFF {
        return None;
    }
    let mut v = Vec::with_capacity(11 + sps.len() + pps.len());
    v.push(1); // configurationVersion
    v.push(sps[1]); // AVCProfileIndication
    v.push(sps[2]); // profile_compatibility
    v.push(sps[3]); // AVCLevelIndication
    v.push(0xFF); // 6 bits reserved + lengthSizeMinusOne = 3
    v.push(0xE1); // 3 bits reserved + numOfSequenceParameterSets = 1
    v.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    v.extend_from_slice(sps);
    v.push(1); // numOfPictureParameterSets
    v.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    v.extend_from_slice(pps);
    Some(v)
}

struct BitReader {
    data: Vec<u8>,
    pos: usize,
}

impl BitReader {
    /// Takes an RBSP payload after removing emulation-prevention bytes.
    fn from_nal(nal: &[u8]) -> Self {
        let mut data = Vec::with_capacity(nal.len());
        let mut zeros = 0;
        for &b in nal {
            if zeros >= 2 && b == 3 {
                zeros = 0;
                continue;
            }
            zeros = if b == 0 { zeros + 1 } else { 0 };
            data.push(b);
        }
        Self { data, pos: 0 }
    }
    fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.pos / 8)?;
        let b = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Some(u32::from(b))
    }
    fn bits(&mut self, n: u32) -> Option<u32> {
        let mut v = 0;
        for _ in 0..n {
            v = (v << 1) | self.bit()?;
        }
        Some(v)
    }
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let rest = self.bits(zeros)?;
        Some(((1u64 << zeros) - 1 + u64::from(rest)).min(u64::from(u32::MAX)) as u32)
    }
    fn se(&mut self) -> Option<i32> {
        let k = self.ue()?;
        let v = k.div_ceil(2) as i32;
        Some(if k % 2 == 1 { v } else { -v })
    }
}

/// Picture size (width, height) from an H.264 SPS NAL (with its header byte).
pub fn sps_dimensions(sps: &[u8]) -> Option<(u32, u32)> {
    let mut r = BitReader::from_nal(sps.get(1..)?);
    let profile = r.bits(8)?;
    r.bits(16)?; // constraint flags + level
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format = 1;
    if matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format = r.ue()?;
        if chroma_format == 3 {
            r.bit()?;
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.bit()?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? == 1 {
            let lists = if chroma_format == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? == 1 {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i32, 8i32);
                    for _ in 0..size {
                        if next != 0 {
                            next = (last + r.se()? + 256) % 256;
                        }
                        if next != 0 {
                            last = next;
                        }
                    }
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?;
        }
        1 => {
            r.bit()?;
            r.se()?;
            r.se()?;
            let n = r.ue()?;
            if n > 255 {
                return None;
            }
            for _ in 0..n {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    let w_mbs = r.ue()?.checked_add(1)?;
    let h_units = r.ue()?.checked_add(1)?;
    let frame_mbs_only = r.bit()?;
    if frame_mbs_only == 0 {
        r.bit()?;
    }
    r.bit()?; // direct_8x8_inference_flag
    let (mut cl, mut cr, mut ct, mut cb) = (0, 0, 0, 0);
    if r.bit()? == 1 {
        cl = r.ue()?;
        cr = r.ue()?;
        ct = r.ue()?;
        cb = r.ue()?;
    }
    let (sub_w, sub_h) = match chroma_format {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let crop_x = sub_w;
    let crop_y = sub_h * (2 - frame_mbs_only);
    let width = w_mbs.checked_mul(16)?.checked_sub(crop_x * (cl + cr))?;
    let height = (2 - frame_mbs_only)
        .checked_mul(h_units)?
        .checked_mul(16)?
        .checked_sub(crop_y * (ct + cb))?;
    (width > 0 && height > 0 && width <= 16384 && height <= 16384).then_some((width, height))
}

/// VP8: a frame is a key frame when bit 0 of the first byte is 0.
pub fn vp8_is_keyframe(frame: &[u8]) -> bool {
    frame.len() >= 10 && frame[0] & 1 == 0 && frame[3..6] == [0x9D, 0x01, 0x2A]
}

/// VP8 key-frame picture size (RFC 6386 §9.1).
pub fn vp8_dimensions(frame: &[u8]) -> Option<(u32, u32)> {
    if !vp8_is_keyframe(frame) {
        return None;
    }
    let w = u32::from(u16::from_le_bytes([frame[6], frame[7]]) & 0x3FFF);
    let h = u32::from(u16::from_le_bytes([frame[8], frame[9]]) & 0x3FFF);
    (w > 0 && h > 0).then_some((w, h))
}

/// `OpusHead` identification header (RFC 7845 §5.1), used as CodecPrivate.
/// Pre-skip is 0: WebRTC streams start mid-stream, nothing to trim.
pub fn opus_head(channels: u8, sample_rate: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(19);
    v.extend_from_slice(b"OpusHead");
    v.push(1); // version
    v.push(channels);
    v.extend_from_slice(&0u16.to_le_bytes()); // pre-skip
    v.extend_from_slice(&sample_rate.to_le_bytes());
    v.extend_from_slice(&0i16.to_le_bytes()); // output gain
    v.push(0); // channel mapping family 0 (mono/stereo)
    v
}

const fn ulaw_to_linear(u: u8) -> i16 {
    let u = !u;
    let exp = (u >> 4) & 0x07;
    let mant = (u & 0x0F) as i16;
    let t = (((mant << 3) + 0x84) << exp) - 0x84;
    if u & 0x80 != 0 {
        -t
    } else {
        t
    }
}

const fn alaw_to_linear(a: u8) -> i16 {
    let a = a ^ 0x55;
    let mut t = ((a & 0x0F) as i16) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    if a & 0x80 != 0 {
        t
    } else {
        -t
    }
}

const fn build_table(alaw: bool) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if alaw {
            alaw_to_linear(i as u8)
        } else {
            ulaw_to_linear(i as u8)
        };
        i += 1;
    }
    t
}

/// ITU-T G.711 µ-law to 16-bit linear PCM, 256-entry table built at compile time.
pub static ULAW_TABLE: [i16; 256] = build_table(false);
/// ITU-T G.711 A-law to 16-bit linear PCM, 256-entry table built at compile time.
pub static ALAW_TABLE: [i16; 256] = build_table(true);

/// Decodes G.711 bytes to little-endian signed 16-bit PCM.
pub fn g711_to_pcm16le(data: &[u8], alaw: bool) -> Vec<u8> {
    let table = if alaw { &ALAW_TABLE } else { &ULAW_TABLE };
    let mut out = Vec::with_capacity(data.len() * 2);
    for &b in data {
        out.extend_from_slice(&table[usize::from(b)].to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annexb_split() {
        let data = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5, 0, 0,
        ];
        let nals = annexb_nals(&data);
        assert_eq!(nals, vec![&[0x67, 1, 2][..], &[0x68, 3], &[0x65, 4, 5]]);
        assert!(annexb_nals(&[]).is_empty());
        assert!(annexb_nals(&[1, 2, 3]).is_empty());
        assert!(annexb_nals(&[0, 0, 1]).is_empty());
        let avcc = to_avcc(&nals);
        assert_eq!(&avcc[..7], &[0, 0, 0, 3, 0x67, 1, 2]);
        assert_eq!(avcc.len(), 3 * 4 + 3 + 2 + 3);
    }

    #[test]
    fn annexb_start_codes_of_three_and_four_bytes() {
        let three = [0, 0, 1, 0x67, 7, 0, 0, 1, 0x68, 8];
        let four = [0, 0, 0, 1, 0x67, 7, 0, 0, 0, 1, 0x68, 8];
        let mixed = [0, 0, 1, 0x67, 7, 0, 0, 0, 1, 0x68, 8];
        let want = vec![&[0x67, 7][..], &[0x68, 8][..]];
        assert_eq!(annexb_nals(&three), want);
        assert_eq!(annexb_nals(&four), want);
        assert_eq!(annexb_nals(&mixed), want);
        // Bytes before the first start code are not a NAL unit.
        assert_eq!(annexb_nals(&[9, 9, 0, 0, 1, 0x41, 1]), vec![&[0x41, 1][..]]);
    }

    #[test]
    fn annexb_trailing_zeros_are_trimmed_on_every_nal() {
        // Zeros after the last NAL unit and after one in the middle (trailing_zero_8bits).
        let data = [0, 0, 1, 0x67, 7, 0, 0, 0, 0, 0, 1, 0x65, 5, 0, 0, 0];
        assert_eq!(annexb_nals(&data), vec![&[0x67, 7][..], &[0x65, 5][..]]);
        // A zero inside a NAL unit stays.
        assert_eq!(annexb_nals(&[0, 0, 1, 0x41, 0, 2]), vec![&[0x41, 0, 2][..]]);
    }

    #[test]
    fn annexb_empty_nals_are_dropped() {
        // Two start codes back to back, a start code followed only by zeros, one at the end.
        let data = [
            0, 0, 1, 0, 0, 1, 0x41, 1, 0, 0, 1, 0, 0, 0, 1, 0x41, 2, 0, 0, 1,
        ];
        assert_eq!(annexb_nals(&data), vec![&[0x41, 1][..], &[0x41, 2][..]]);
        assert!(annexb_nals(&[0, 0, 0, 1, 0, 0, 0]).is_empty());
    }

    #[test]
    fn g711_known_values() {
        assert_eq!(ULAW_TABLE[0xFF], 0);
        assert_eq!(ULAW_TABLE[0x7F], 0);
        assert_eq!(ULAW_TABLE[0x00], -32124);
        assert_eq!(ULAW_TABLE[0x80], 32124);
        assert_eq!(ALAW_TABLE[0xD5], 8);
        assert_eq!(ALAW_TABLE[0x55], -8);
        assert_eq!(ALAW_TABLE[0xAA], 32256);
        assert_eq!(ALAW_TABLE[0x2A], -32256);
    }

    #[test]
    fn sps_of_x264_baseline_320x240() {
        // SPS produced by x264 (ffmpeg 5.1) for 320x240 baseline.
        let sps = [
            0x67, 0x42, 0xC0, 0x0D, 0xD9, 0x01, 0x41, 0xFB, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
            0x10, 0x00, 0x00, 0x03, 0x03, 0xC0, 0xF1, 0x42, 0xA4, 0x80,
        ];
        assert_eq!(sps_dimensions(&sps), Some((320, 240)));
        // High profile, 330x250 (cropping in both directions).
        let sps = [
            0x67, 0x64, 0x00, 0x0D, 0xAC, 0xB2, 0x02, 0xA1, 0x0F, 0x24, 0x98, 0x08, 0x80, 0x00,
            0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x1E, 0x07, 0x8A, 0x15, 0x24,
        ];
        assert_eq!(sps_dimensions(&sps), Some((330, 250)));
        assert_eq!(sps_dimensions(&[0x67]), None);
        assert_eq!(sps_dimensions(&[0x67, 0xFF, 0xFF, 0xFF]), None);
    }

    #[test]
    fn opus_head_layout() {
        let h = opus_head(2, 48000);
        assert_eq!(h.len(), 19);
        assert_eq!(&h[..8], b"OpusHead");
        assert_eq!(h[9], 2);
        assert_eq!(u32::from_le_bytes([h[12], h[13], h[14], h[15]]), 48000);
    }
}
