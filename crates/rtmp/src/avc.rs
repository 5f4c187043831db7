//! FLV/AVC (H.264) handling: AVCDecoderConfigurationRecord parsing and AVCC → Annex-B.
//!
//! Pure functions; the per-stream state lives in [`crate::MediaPipeline`]. No I/O.

use crate::MediaError;

/// Annex-B start code put before every NAL unit.
pub const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// Largest SPS/PPS we accept (real ones are tens of bytes).
const MAX_PARAM_SET: usize = 4096;

/// H.264 decoder configuration taken from the FLV "AVC sequence header"
/// (an `AVCDecoderConfigurationRecord`, ISO/IEC 14496-15 §5.2.4.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvcConfig {
    /// `profile_idc`, constraint flags and `level_idc`, taken from the first SPS
    /// (bytes 1..4 of the SPS NAL unit): the SDP `profile-level-id`.
    pub profile_level_id: [u8; 3],
    /// Sequence parameter sets (NAL units without start code or length prefix).
    pub sps: Vec<Vec<u8>>,
    /// Picture parameter sets (NAL units without start code or length prefix).
    pub pps: Vec<Vec<u8>>,
    /// Size in bytes of the NALU length prefix in the following AVCC frames (1, 2 or 4).
    pub nalu_length_size: usize,
}

impl AvcConfig {
    /// The SDP fmtp `profile-level-id` as 6 lower-case hex digits, e.g. `"42c01e"`.
    pub fn profile_level_id_hex(&self) -> String {
        self.profile_level_id
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Parses an `AVCDecoderConfigurationRecord`.
    pub fn parse(rec: &[u8]) -> Result<AvcConfig, MediaError> {
        let bad = |what: &str| MediaError::Malformed(format!("AVC sequence header: {what}"));
        if rec.len() < 7 {
            return Err(bad("too short"));
        }
        if rec[0] != 1 {
            return Err(bad("configurationVersion is not 1"));
        }
        let nalu_length_size = usize::from(rec[4] & 0x03) + 1;
        if nalu_length_size == 3 {
            return Err(bad("lengthSizeMinusOne = 2 is not allowed"));
        }
        let mut pos = 5;
        let num_sps = usize::from(rec[pos] & 0x1f);
        pos += 1;
        let mut sps = Vec::with_capacity(num_sps);
        for _ in 0..num_sps {
            sps.push(read_param_set(rec, &mut pos).ok_or_else(|| bad("truncated SPS"))?);
        }
        let num_pps = usize::from(*rec.get(pos).ok_or_else(|| bad("missing PPS count"))?);
        pos += 1;
        let mut pps = Vec::with_capacity(num_pps);
        for _ in 0..num_pps {
            pps.push(read_param_set(rec, &mut pos).ok_or_else(|| bad("truncated PPS"))?);
        }
        // Trailing bytes (High profile chroma/bit-depth extension) are ignored.
        let first = sps.first().ok_or_else(|| bad("no SPS"))?;
        if pps.is_empty() {
            return Err(bad("no PPS"));
        }
        if first.len() < 4 || first[0] & 0x1f != 7 {
            return Err(bad("first SPS is not an SPS NAL unit"));
        }
        if pps.iter().any(|p| p.is_empty() || p[0] & 0x1f != 8) {
            return Err(bad("PPS entry is not a PPS NAL unit"));
        }
        Ok(AvcConfig {
            profile_level_id: [first[1], first[2], first[3]],
            sps,
            pps,
            nalu_length_size,
        })
    }

    /// Writes all SPS then all PPS in Annex-B form.
    fn write_parameter_sets(&self, out: &mut Vec<u8>) {
        for ps in self.sps.iter().chain(self.pps.iter()) {
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(ps);
        }
    }
}

fn read_param_set(rec: &[u8], pos: &mut usize) -> Option<Vec<u8>> {
    let len_bytes = rec.get(*pos..*pos + 2)?;
    let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
    if len == 0 || len > MAX_PARAM_SET {
        return None;
    }
    let data = rec.get(*pos + 2..*pos + 2 + len)?;
    *pos += 2 + len;
    Some(data.to_vec())
}

/// H.264 NAL unit type of a NAL unit (first byte).
pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1f)
}

/// Converts one AVCC access unit (length-prefixed NAL units) to Annex-B.
///
/// Access unit delimiters (type 9) are dropped. When the access unit contains an IDR slice
/// (type 5) and no SPS of its own, the configuration's SPS and PPS are put in front, so a
/// player can start decoding from any keyframe. Returns `(annexb, is_idr)`; `annexb` is empty
/// when the access unit held no NAL unit worth sending.
pub fn avcc_to_annexb(cfg: &AvcConfig, avcc: &[u8]) -> Result<(Vec<u8>, bool), MediaError> {
    let n = cfg.nalu_length_size;
    // First pass: validate the framing and learn what the access unit holds.
    let mut has_idr = false;
    let mut has_sps = false;
    let mut nals = 0usize;
    let mut pos = 0;
    while pos < avcc.len() {
        let (start, len) = next_nal(avcc, pos, n)?;
        if len > 0 {
            match nal_type(&avcc[start..]) {
                5 => has_idr = true,
                7 => has_sps = true,
                _ => {}
            }
            nals += 1;
        }
        pos = start + len;
    }
    let mut out = Vec::with_capacity(avcc.len() + nals * 4 + if has_idr { 64 } else { 0 });
    if has_idr && !has_sps {
        cfg.write_parameter_sets(&mut out);
    }
    let mut pos = 0;
    while pos < avcc.len() {
        let (start, len) = next_nal(avcc, pos, n)?;
        let nal = &avcc[start..start + len];
        if len > 0 && nal_type(nal) != 9 {
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(nal);
        }
        pos = start + len;
    }
    Ok((out, has_idr))
}

/// Returns (start of NAL payload, NAL length) of the NAL unit whose length prefix is at `pos`.
fn next_nal(avcc: &[u8], pos: usize, n: usize) -> Result<(usize, usize), MediaError> {
    let prefix = avcc
        .get(pos..pos + n)
        .ok_or_else(|| MediaError::Malformed("AVC frame: truncated NALU length".into()))?;
    let len = prefix
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    let start = pos + n;
    if len > avcc.len() - start {
        return Err(MediaError::Malformed(format!(
            "AVC frame: NALU length {len} exceeds the {} remaining bytes",
            avcc.len() - start
        )));
    }
    Ok((start, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    // The one Annex-B splitter of the workspace (trailing zeros trimmed, empty NALs dropped).
    use huddle_record::codec::annexb_nals as split_annexb;

    fn config() -> AvcConfig {
        // version 1, profile 0x64 (High), compat 0x00, level 0x1f, 4-byte lengths, 1 SPS, 1 PPS.
        let sps = [0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9];
        let pps = [0x68, 0xeb, 0xe3, 0xcb];
        let mut rec = vec![1, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0, sps.len() as u8];
        rec.extend_from_slice(&sps);
        rec.extend_from_slice(&[1, 0, pps.len() as u8]);
        rec.extend_from_slice(&pps);
        AvcConfig::parse(&rec).unwrap()
    }

    fn avcc(nals: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for n in nals {
            v.extend_from_slice(&(n.len() as u32).to_be_bytes());
            v.extend_from_slice(n);
        }
        v
    }

    #[test]
    fn parses_config() {
        let c = config();
        assert_eq!(c.profile_level_id_hex(), "64001f");
        assert_eq!(c.nalu_length_size, 4);
        assert_eq!(c.sps.len(), 1);
        assert_eq!(c.pps[0], vec![0x68, 0xeb, 0xe3, 0xcb]);
    }

    #[test]
    fn rejects_bad_configs() {
        assert!(AvcConfig::parse(&[]).is_err());
        assert!(AvcConfig::parse(&[1, 2, 3, 4, 0xff, 0xe1, 0, 200, 0x67]).is_err());
        assert!(AvcConfig::parse(&[0, 0x64, 0, 0x1f, 0xff, 0xe0, 0]).is_err());
        // no SPS
        assert!(AvcConfig::parse(&[1, 0x64, 0, 0x1f, 0xff, 0xe0, 0]).is_err());
    }

    #[test]
    fn keyframe_gets_parameter_sets_and_aud_is_dropped() {
        let c = config();
        // A NAL unit never ends in 00 (H.264 §7.4.1): the splitter trims such bytes.
        let idr = [0x65u8, 0x88, 0x84, 0x21];
        let sei = [0x06u8, 0x05, 0x01];
        let aud = [0x09u8, 0xf0];
        let (out, key) = avcc_to_annexb(&c, &avcc(&[&aud, &sei, &idr])).unwrap();
        assert!(key);
        let nals = split_annexb(&out);
        let types: Vec<u8> = nals.iter().map(|n| nal_type(n)).collect();
        assert_eq!(types, vec![7, 8, 6, 5]);
        assert_eq!(nals[3], &idr);
        assert!(out.starts_with(&START_CODE));
    }

    #[test]
    fn inter_frame_has_no_parameter_sets() {
        let c = config();
        let p = [0x41u8, 0x9a, 0x02];
        let (out, key) = avcc_to_annexb(&c, &avcc(&[&p])).unwrap();
        assert!(!key);
        assert_eq!(out, [&START_CODE[..], &p[..]].concat());
    }

    #[test]
    fn inband_sps_is_not_duplicated() {
        let c = config();
        let sps = [0x67u8, 0x42, 0xc0, 0x1e, 0x01];
        let pps = [0x68u8, 0xce];
        let idr = [0x65u8, 0x11];
        let (out, key) = avcc_to_annexb(&c, &avcc(&[&sps, &pps, &idr])).unwrap();
        assert!(key);
        assert_eq!(split_annexb(&out), vec![&sps[..], &pps[..], &idr[..]]);
    }

    #[test]
    fn truncated_and_oversized_nalus_are_errors() {
        let c = config();
        assert!(avcc_to_annexb(&c, &[0, 0, 0]).is_err());
        assert!(avcc_to_annexb(&c, &[0, 0, 0, 9, 0x65]).is_err());
        assert!(avcc_to_annexb(&c, &[0xff, 0xff, 0xff, 0xff, 0x65]).is_err());
        // only an AUD: nothing to send
        let (out, _) = avcc_to_annexb(&c, &avcc(&[&[0x09, 0xf0]])).unwrap();
        assert!(out.is_empty());
    }
}
