//! Ingest publishers: sources whose frames do not come over WebRTC (RTMP) and so have no
//! str0m `Rtc`. They are registered by name, get frames through [`crate::MediaHandle::ingest`],
//! and feed the same forwarding and recording code as browser publishers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::format::{Codec, CodecSpec, FormatParams, PayloadParams};
use str0m::media::{Frequency, MediaKind, MediaTime, Pt};

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

/// The codecs of an ingest from its description, e.g. `video=h264:42c01f;audio=opus:2`
/// (`video=h264:<profile-level-id hex>`, `audio=opus:<channels>`; either part may be absent,
/// not both). H.264 is offered to players with packetization-mode 1 and the source's
/// profile-level-id; Opus as `opus/48000/2`.
pub fn codecs_from_description(description: &str) -> Result<SourceCodecs, String> {
    let mut codecs = SourceCodecs::default();
    for part in description
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let bad = || format!("Bad ingest description: {description:?}");
        let (kind, spec) = part.split_once('=').ok_or_else(bad)?;
        let (codec, param) = spec.split_once(':').ok_or_else(bad)?;
        match (kind, codec) {
            ("video", "h264") => {
                if param.len() != 6 {
                    return Err(bad());
                }
                let plid = u32::from_str_radix(param, 16).map_err(|_| bad())?;
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
                            profile_level_id: Some(plid),
                            ..FormatParams::default()
                        },
                    },
                ));
            }
            ("audio", "opus") => {
                if !matches!(param, "1" | "2") {
                    return Err(bad());
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
            _ => return Err(format!("Unsupported ingest codec: {part:?}")),
        }
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

/// A registered ingest publisher.
pub(crate) struct Ingest {
    pub name: String,
    pub codecs: SourceCodecs,
    pub frames_in: u64,
    pub latency: LatencyStats,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_parses_to_h264_mode1_and_opus() {
        let c = codecs_from_description("video=h264:42c01f;audio=opus:1").unwrap();
        let v = c.video.unwrap().spec();
        assert_eq!(v.codec, Codec::H264);
        assert_eq!(v.format.profile_level_id, Some(0x42c01f));
        assert_eq!(v.format.packetization_mode, Some(1));
        let a = c.audio.unwrap().spec();
        assert_eq!((a.codec, a.channels), (Codec::Opus, Some(2)));
        assert!(codecs_from_description("audio=opus:2")
            .unwrap()
            .video
            .is_none());
        for bad in [
            "",
            "video=vp8:1",
            "video=h264:zz",
            "audio=opus:7",
            "nonsense",
        ] {
            assert!(codecs_from_description(bad).is_err(), "{bad}");
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
