//! Per-publish media pipeline (sans-IO): FLV tag bodies in, [`Media`] out.

use crate::audio::{AacToOpus, AudioConfig, AudioFrame};
use crate::avc::{avcc_to_annexb, AvcConfig};
use crate::flv::{self, AudioTag, VideoTag};
use crate::MediaError;

/// One H.264 access unit in Annex-B form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoFrame {
    /// NAL units, each preceded by a 4-byte start code. Keyframes start with SPS and PPS.
    pub annexb: Vec<u8>,
    /// The access unit holds an IDR slice.
    pub keyframe: bool,
    /// Presentation time in ms since the start of the publish (same base as audio).
    pub pts_ms: u64,
    /// `pts_ms * 90`, wrapping at 2^32: the RTP timestamp on the 90 kHz video clock.
    pub rtp_time_90k: u32,
}

/// Media produced by a publishing connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Media {
    /// The H.264 configuration (first one before any [`Media::Video`], again when the
    /// publisher sends a different one).
    VideoConfig(AvcConfig),
    /// The audio source parameters (before any [`Media::Audio`]).
    AudioConfig(AudioConfig),
    Video(VideoFrame),
    Audio(AudioFrame),
}

/// Extends 32-bit RTMP millisecond timestamps to a 64-bit time since the first media message.
///
/// Audio and video interleave with small backwards steps, so each step is taken as a signed
/// 32-bit delta; the result never goes below 0.
#[derive(Debug, Default)]
struct Clock {
    last: Option<(u32, i64)>,
}

impl Clock {
    fn ms(&mut self, raw: u32) -> u64 {
        let ext = match self.last {
            None => 0,
            Some((last_raw, last_ext)) => last_ext + i64::from(raw.wrapping_sub(last_raw) as i32),
        };
        self.last = Some((raw, ext));
        ext.max(0) as u64
    }
}

/// Turns the FLV audio/video message bodies of one publish into [`Media`].
///
/// Video must be H.264 (AVC) without frame reordering: the composition time offset (PTS − DTS)
/// must stay constant (x264/ffmpeg `-bf 0`, OBS "bframes=0"; it is then normally 0). The first
/// change of offset means B-frames and is reported as [`MediaError::Unsupported`] because
/// WebRTC players do not reorder frames. Video is dropped until the first keyframe after the
/// sequence header.
///
/// Audio must be AAC-LC (mono or stereo, any common rate) and is transcoded to Opus.
#[derive(Debug, Default)]
pub struct MediaPipeline {
    clock: Clock,
    avc: Option<AvcConfig>,
    cts: Option<i32>,
    seen_keyframe: bool,
    aac: Option<AacToOpus>,
    scratch: Vec<AudioFrame>,
}

/// Why a stream with B-frames is refused, and the fix in one try: a default x264/OBS setup
/// also sends the High profile, which browsers without a High decoder (Debian's Chromium)
/// cannot play either, so both settings are named. The cause and the fix come first: ffmpeg
/// shows 255 bytes of it (status.rs).
pub fn b_frames_refusal(first_cts: i32, cts: i32) -> String {
    format!(
        "H.264 B-frames are not supported (browsers cannot reorder frames): encode with \
         ffmpeg -bf 0 -profile:v baseline, or OBS Profile baseline + B-frames 0 \
         (composition offset {first_cts} -> {cts} ms)"
    )
}

impl MediaPipeline {
    pub fn new() -> MediaPipeline {
        MediaPipeline::default()
    }

    /// The current H.264 configuration, once known.
    pub fn video_config(&self) -> Option<&AvcConfig> {
        self.avc.as_ref()
    }

    /// Processes one RTMP video message (an FLV video tag body) with its RTMP timestamp (DTS).
    pub fn push_video(
        &mut self,
        body: &[u8],
        rtmp_ts: u32,
        out: &mut Vec<Media>,
    ) -> Result<(), MediaError> {
        let dts = self.clock.ms(rtmp_ts);
        match flv::parse_video(body)? {
            VideoTag::Info | VideoTag::AvcEndOfSequence => Ok(()),
            VideoTag::AvcSequenceHeader(rec) => {
                let cfg = AvcConfig::parse(rec)?;
                if self.avc.as_ref() != Some(&cfg) {
                    if self.avc.is_some() {
                        // New parameters: wait for a keyframe that uses them.
                        self.seen_keyframe = false;
                    }
                    self.avc = Some(cfg.clone());
                    out.push(Media::VideoConfig(cfg));
                }
                Ok(())
            }
            VideoTag::AvcNalu { cts, data, .. } => {
                match self.cts {
                    None => self.cts = Some(cts),
                    Some(first) if first != cts => {
                        return Err(MediaError::Unsupported(b_frames_refusal(first, cts)));
                    }
                    Some(_) => {}
                }
                let Some(cfg) = self.avc.as_ref() else {
                    // Frames before the sequence header cannot be decoded.
                    return Ok(());
                };
                let (annexb, keyframe) = avcc_to_annexb(cfg, data)?;
                if annexb.is_empty() {
                    return Ok(());
                }
                if keyframe {
                    self.seen_keyframe = true;
                } else if !self.seen_keyframe {
                    return Ok(());
                }
                let pts_ms = (dts as i64 + i64::from(cts)).max(0) as u64;
                out.push(Media::Video(VideoFrame {
                    annexb,
                    keyframe,
                    pts_ms,
                    rtp_time_90k: pts_ms.wrapping_mul(90) as u32,
                }));
                Ok(())
            }
        }
    }

    /// Processes one RTMP audio message (an FLV audio tag body) with its RTMP timestamp.
    pub fn push_audio(
        &mut self,
        body: &[u8],
        rtmp_ts: u32,
        out: &mut Vec<Media>,
    ) -> Result<(), MediaError> {
        let pts = self.clock.ms(rtmp_ts);
        match flv::parse_audio(body)? {
            AudioTag::AacSequenceHeader(asc) => {
                let t = AacToOpus::new(asc)?;
                let changed = self.aac.as_ref().map(|a| a.config()) != Some(t.config());
                if self.aac.is_none() || changed {
                    out.push(Media::AudioConfig(t.config()));
                    self.aac = Some(t);
                }
                Ok(())
            }
            AudioTag::AacRaw(frame) => {
                let Some(aac) = self.aac.as_mut() else {
                    return Ok(());
                };
                self.scratch.clear();
                aac.push(frame, pts, &mut self.scratch)?;
                out.extend(self.scratch.drain(..).map(Media::Audio));
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_extends_and_tolerates_small_reordering() {
        let mut c = Clock::default();
        assert_eq!(c.ms(1000), 0);
        assert_eq!(c.ms(1040), 40);
        assert_eq!(c.ms(1030), 30);
        assert_eq!(c.ms(1060), 60);
        let mut c = Clock::default();
        assert_eq!(c.ms(u32::MAX - 10), 0);
        assert_eq!(c.ms(5), 16); // wrap
        let mut c = Clock::default();
        assert_eq!(c.ms(100), 0);
        assert_eq!(c.ms(90), 0); // clamped
    }

    fn seq_header() -> Vec<u8> {
        let sps = [0x67, 0x42, 0xc0, 0x1e, 0xd9];
        let pps = [0x68, 0xce, 0x3c, 0x80];
        let mut v = vec![0x17, 0, 0, 0, 0, 1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 5];
        v.extend_from_slice(&sps);
        v.extend_from_slice(&[1, 0, 4]);
        v.extend_from_slice(&pps);
        v
    }

    fn nalu(key: bool, cts: i32, nal: &[u8]) -> Vec<u8> {
        let c = (cts as u32).to_be_bytes();
        let mut v = vec![if key { 0x17 } else { 0x27 }, 1, c[1], c[2], c[3]];
        v.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        v.extend_from_slice(nal);
        v
    }

    #[test]
    fn video_flow() {
        let mut p = MediaPipeline::new();
        let mut out = Vec::new();
        // inter frame before config and before keyframe: dropped
        p.push_video(&nalu(false, 0, &[0x41, 1]), 0, &mut out)
            .unwrap();
        p.push_video(&seq_header(), 0, &mut out).unwrap();
        p.push_video(&nalu(false, 0, &[0x41, 1]), 10, &mut out)
            .unwrap();
        p.push_video(&nalu(true, 0, &[0x65, 1]), 20, &mut out)
            .unwrap();
        p.push_video(&nalu(false, 0, &[0x41, 2]), 86, &mut out)
            .unwrap();
        assert_eq!(out.len(), 3);
        let Media::VideoConfig(cfg) = &out[0] else {
            panic!("{:?}", out[0])
        };
        assert_eq!(cfg.profile_level_id_hex(), "42c01e");
        let Media::Video(k) = &out[1] else { panic!() };
        assert!(k.keyframe);
        assert_eq!(k.pts_ms, 20);
        assert_eq!(k.rtp_time_90k, 1800);
        assert!(k.annexb.starts_with(&[0, 0, 0, 1, 0x67]));
        let Media::Video(d) = &out[2] else { panic!() };
        assert!(!d.keyframe);
        assert_eq!(d.pts_ms, 86);
        assert_eq!(d.annexb, vec![0, 0, 0, 1, 0x41, 2]);
    }

    #[test]
    fn changing_cts_is_rejected() {
        let mut p = MediaPipeline::new();
        let mut out = Vec::new();
        p.push_video(&seq_header(), 0, &mut out).unwrap();
        p.push_video(&nalu(true, 133, &[0x65, 1]), 0, &mut out)
            .unwrap();
        let err = p
            .push_video(&nalu(false, 266, &[0x41, 1]), 66, &mut out)
            .unwrap_err();
        assert!(
            matches!(err, MediaError::Unsupported(ref m)
                if m.contains("B-frames") && m.contains("-bf 0") && m.contains("-profile:v baseline")
                    && m.len() <= crate::status::MAX_DESCRIPTION),
            "{err}"
        );
        // A constant offset is a shift, not reordering: applied to the PTS.
        let Media::Video(k) = &out[1] else { panic!() };
        assert_eq!(k.pts_ms, 133);
    }
}
