//! Ingest publishers: sources whose frames do not come over WebRTC (RTMP) and so have no
//! str0m `Rtc`. They are registered by `PeerId`, get frames through [`crate::MediaHandle::ingest`],
//! and feed the same forwarding and recording code as browser publishers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::format::{Codec, CodecSpec, FormatParams, PayloadParams};
use str0m::media::{Frequency, MediaKind, MediaTime, Pt};

use huddle_room::{IngestAudio, IngestCodecs, IngestVideo};

use crate::codecs::SourceCodecs;
use crate::forward::Frame;

/// One frame of an ingest publisher, as the RTMP edge produces it.
#[derive(Debug, Clone)]
pub enum IngestFrame {
    /// One H.264 access unit in Annex-B form; keyframes carry SPS and PPS.
    Video {
        annexb: Arc<[u8]>,
        keyframe: bool,
        rtp_time_90k: u32,
        /// When the frame arrived at the server (for RTCP and the added-latency figure).
        received: Instant,
    },
    /// One Opus packet (20 ms, 48 kHz).
    Audio {
        opus: Arc<[u8]>,
        rtp_time_48k: u32,
        received: Instant,
    },
}

impl IngestFrame {
    pub(crate) fn into_frame(self) -> Frame {
        match self {
            IngestFrame::Video {
                annexb,
                keyframe,
                rtp_time_90k,
                received,
            } => Frame {
                kind: MediaKind::Video,
                time: MediaTime::new(u64::from(rtp_time_90k), Frequency::NINETY_KHZ),
                network_time: received,
                keyframe,
                data: annexb,
            },
            IngestFrame::Audio {
                opus,
                rtp_time_48k,
                received,
            } => Frame {
                kind: MediaKind::Audio,
                time: MediaTime::new(u64::from(rtp_time_48k), Frequency::FORTY_EIGHT_KHZ),
                network_time: received,
                keyframe: false,
                data: opus,
            },
        }
    }
}

/// Payload types of an ingest's source codecs (players get their own numbers).
const VIDEO_PT: u8 = 102;
const AUDIO_PT: u8 = 111;

/// The source codecs of an ingest, as players are offered them: H.264 with
/// packetization-mode 1 and the encoder's profile-level-id; Opus as `opus/48000/2` (a mono
/// encoder's packets decode as stereo). At least one of the two.
pub fn source_codecs(wanted: &IngestCodecs) -> Result<SourceCodecs, String> {
    let mut codecs = SourceCodecs::default();
    if let Some(IngestVideo::H264 { profile_level_id }) = wanted.video {
        if profile_level_id > 0xff_ffff {
            return Err(format!("Bad H.264 profile-level-id {profile_level_id:#x}"));
        }
        codecs.video = Some(PayloadParams::new(
            Pt::from(VIDEO_PT),
            None,
            CodecSpec {
                codec: Codec::H264,
                clock_rate: Frequency::NINETY_KHZ,
                channels: None,
                format: FormatParams {
                    level_asymmetry_allowed: Some(true),
                    packetization_mode: Some(1),
                    profile_level_id: Some(profile_level_id),
                    ..FormatParams::default()
                },
            },
        ));
    }
    if let Some(IngestAudio::Opus { channels }) = wanted.audio {
        if !matches!(channels, 1 | 2) {
            return Err(format!("Unsupported Opus channel count {channels}"));
        }
        codecs.audio = Some(PayloadParams::new(
            Pt::from(AUDIO_PT),
            None,
            CodecSpec {
                codec: Codec::Opus,
                clock_rate: Frequency::FORTY_EIGHT_KHZ,
                channels: Some(2),
                format: FormatParams {
                    min_p_time: Some(10),
                    use_inband_fec: Some(true),
                    ..FormatParams::default()
                },
            },
        ));
    }
    if codecs.audio.is_none() && codecs.video.is_none() {
        return Err("No common codecs".into());
    }
    Ok(codecs)
}

/// Server-side added latency of an ingest: from a frame's arrival at the server
/// ([`IngestFrame`]'s `received`) to its write into a player's Rtc.
#[derive(Debug, Default, Clone)]
pub struct LatencyStats {
    pub writes: u64,
    sum_us: u64,
    pub max: Duration,
    /// Counts per millisecond bucket (last bucket: 255 ms and more).
    buckets: Vec<u64>,
}

impl LatencyStats {
    pub fn add(&mut self, d: Duration) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; 256];
        }
        self.writes += 1;
        self.sum_us += d.as_micros() as u64;
        self.max = self.max.max(d);
        let b = (d.as_millis() as usize).min(255);
        self.buckets[b] += 1;
    }

    pub fn mean(&self) -> Duration {
        Duration::from_micros(self.sum_us.checked_div(self.writes).unwrap_or(0))
    }

    /// Upper bound (ms bucket) of the `q` quantile, 0 < q <= 1.
    pub fn quantile_ms(&self, q: f64) -> u64 {
        let want = ((self.writes as f64) * q).ceil() as u64;
        let mut seen = 0;
        for (ms, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= want && want > 0 {
                return ms as u64 + 1;
            }
        }
        0
    }
}

/// What an ingest publisher has beside its recorder (see source.rs).
pub(crate) struct Ingest {
    pub codecs: SourceCodecs,
    pub frames_in: u64,
    pub latency: LatencyStats,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h264(profile_level_id: u32) -> Option<IngestVideo> {
        Some(IngestVideo::H264 { profile_level_id })
    }

    #[test]
    fn ingest_codecs_become_h264_mode1_and_stereo_opus() {
        let c = source_codecs(&IngestCodecs {
            video: h264(0x42c01f),
            audio: Some(IngestAudio::Opus { channels: 1 }),
        })
        .unwrap();
        let v = c.video.unwrap().spec();
        assert_eq!(v.codec, Codec::H264);
        assert_eq!(v.format.profile_level_id, Some(0x42c01f));
        assert_eq!(v.format.packetization_mode, Some(1));
        let a = c.audio.unwrap().spec();
        assert_eq!((a.codec, a.channels), (Codec::Opus, Some(2)));
        let audio_only = IngestCodecs {
            video: None,
            audio: Some(IngestAudio::Opus { channels: 2 }),
        };
        assert!(source_codecs(&audio_only).unwrap().video.is_none());
        for bad in [
            IngestCodecs::default(),
            IngestCodecs {
                video: h264(0x1_000_000),
                audio: None,
            },
            IngestCodecs {
                video: None,
                audio: Some(IngestAudio::Opus { channels: 7 }),
            },
        ] {
            assert!(source_codecs(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn latency_quantiles() {
        let mut l = LatencyStats::default();
        for ms in 1..=100 {
            l.add(Duration::from_millis(ms));
        }
        assert_eq!(l.writes, 100);
        assert_eq!(l.quantile_ms(0.5), 51);
        assert_eq!(l.quantile_ms(1.0), 101);
        assert_eq!(l.max, Duration::from_millis(100));
        assert!(l.mean() > Duration::from_millis(50));
    }
}
