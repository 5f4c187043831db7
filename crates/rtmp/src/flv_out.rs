//! FLV tag bodies for RTMP players (the reverse of [`crate::flv`]): H.264 access units from
//! Annex-B, the AVC and AAC sequence headers, raw AAC frames.

use huddle_record::codec::{
    annexb_nals, avcc_record, nal_type, to_avcc, NAL_IDR, NAL_PPS, NAL_SPS,
};

/// FLV `VideoTagHeader`: frame type (1 key, 2 inter) in the high nibble, codec 7 (AVC).
const AVC_KEY: u8 = 0x17;
const AVC_INTER: u8 = 0x27;
/// FLV `AudioTagHeader` for AAC: format 10, "44 kHz" (always for AAC), 16 bit, stereo. The
/// real rate and channels are in the AudioSpecificConfig.
const AAC_HEADER: u8 = 0xAF;

/// One H.264 access unit taken apart for FLV.
#[derive(Debug, PartialEq, Eq)]
pub struct AccessUnit {
    /// Length-prefixed NAL units (AVCC, 4-byte lengths), access unit delimiters removed.
    pub avcc: Vec<u8>,
    /// Holds an IDR slice.
    pub keyframe: bool,
    /// The SPS and PPS carried in this access unit, if any (WebRTC and the RTMP ingest put
    /// them in front of every keyframe).
    pub sps: Option<Vec<u8>>,
    pub pps: Option<Vec<u8>>,
}

/// Splits an Annex-B access unit. `None` when it holds no NAL unit.
pub fn access_unit(annexb: &[u8]) -> Option<AccessUnit> {
    let nals = annexb_nals(annexb);
    if nals.is_empty() {
        return None;
    }
    let find = |t: u8| nals.iter().find(|n| nal_type(n) == t).map(|n| n.to_vec());
    Some(AccessUnit {
        avcc: to_avcc(&nals),
        keyframe: nals.iter().any(|n| nal_type(n) == NAL_IDR),
        sps: find(NAL_SPS),
        pps: find(NAL_PPS),
    })
}

/// The AVC sequence header tag body (`AVCDecoderConfigurationRecord`) for one SPS and PPS.
pub fn avc_sequence_header(sps: &[u8], pps: &[u8]) -> Option<Vec<u8>> {
    let record = avcc_record(sps, pps)?;
    let mut v = vec![AVC_KEY, 0, 0, 0, 0];
    v.extend_from_slice(&record);
    Some(v)
}

/// A video tag body for one access unit (composition time 0: WebRTC has no B-frames).
pub fn avc_frame(avcc: &[u8], keyframe: bool) -> Vec<u8> {
    let mut v = Vec::with_capacity(5 + avcc.len());
    v.extend_from_slice(&[if keyframe { AVC_KEY } else { AVC_INTER }, 1, 0, 0, 0]);
    v.extend_from_slice(avcc);
    v
}

/// The AAC sequence header tag body.
pub fn aac_sequence_header(audio_specific_config: &[u8]) -> Vec<u8> {
    let mut v = vec![AAC_HEADER, 0];
    v.extend_from_slice(audio_specific_config);
    v
}

/// An audio tag body for one raw AAC frame.
pub fn aac_frame(raw: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(2 + raw.len());
    v.extend_from_slice(&[AAC_HEADER, 1]);
    v.extend_from_slice(raw);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flv::{parse_audio, parse_video, AudioTag, VideoTag};
    use crate::AvcConfig;

    const SPS: [u8; 5] = [0x67, 0x42, 0xc0, 0x1e, 0xd9];
    const PPS: [u8; 4] = [0x68, 0xce, 0x3c, 0x80];

    #[test]
    fn keyframe_round_trips_through_the_ingest_parser() {
        let mut au = vec![0, 0, 0, 1, 9, 0xf0]; // access unit delimiter: dropped
        for nal in [&SPS[..], &PPS[..], &[0x65, 0x88, 0x80][..]] {
            au.extend_from_slice(&[0, 0, 0, 1]);
            au.extend_from_slice(nal);
        }
        let unit = access_unit(&au).unwrap();
        assert!(unit.keyframe);
        assert_eq!(unit.sps.as_deref(), Some(&SPS[..]));
        assert_eq!(unit.pps.as_deref(), Some(&PPS[..]));

        let header = avc_sequence_header(&SPS, &PPS).unwrap();
        let VideoTag::AvcSequenceHeader(rec) = parse_video(&header).unwrap() else {
            panic!("not a sequence header")
        };
        let cfg = AvcConfig::parse(rec).unwrap();
        assert_eq!(cfg.profile_level_id_hex(), "42c01e");

        let body = avc_frame(&unit.avcc, unit.keyframe);
        let VideoTag::AvcNalu {
            keyframe,
            cts,
            data,
            ..
        } = parse_video(&body).unwrap()
        else {
            panic!("not a NALU tag")
        };
        assert!(keyframe);
        assert_eq!(cts, 0);
        let (annexb, key) = crate::avc::avcc_to_annexb(&cfg, data).unwrap();
        assert!(key);
        assert!(annexb.ends_with(&[0, 0, 0, 1, 0x65, 0x88, 0x80]));
    }

    #[test]
    fn inter_frame_and_empty_input() {
        let unit = access_unit(&[0, 0, 1, 0x41, 7]).unwrap();
        assert!(!unit.keyframe && unit.sps.is_none());
        assert_eq!(avc_frame(&unit.avcc, false)[0], 0x27);
        assert!(access_unit(&[0, 0, 0]).is_none());
        assert!(avc_sequence_header(&[0x67], &PPS).is_none());
    }

    #[test]
    fn aac_tags_parse() {
        let asc = [0x11, 0x90]; // AAC-LC, 48 kHz, stereo
        assert!(matches!(
            parse_audio(&aac_sequence_header(&asc)).unwrap(),
            AudioTag::AacSequenceHeader(a) if a == asc
        ));
        assert!(matches!(
            parse_audio(&aac_frame(&[1, 2, 3])).unwrap(),
            AudioTag::AacRaw(f) if f == [1, 2, 3]
        ));
    }
}
