//! AAC-LC → PCM → 48 kHz → Opus (20 ms frames).
//!
//! [`AacToOpus`] is a synchronous, allocation-light pipeline: feed it raw AAC frames (as carried
//! in FLV/RTMP, no ADTS header) with their presentation time and it returns zero or more Opus
//! frames. Pure CPU work, no I/O.

use audiopus::coder::Encoder;
use audiopus::{Application, Bitrate, Channels, SampleRate};
use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{Fft, FixedSync, Resampler};
use symphonia::core::codecs::audio::well_known::CODEC_ID_AAC;
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::packet::PacketRef;
use symphonia::core::units::{Duration, Timestamp};
use symphonia::default::codecs::AacDecoder;

use crate::MediaError;

/// Opus output sample rate.
pub const OPUS_RATE: u32 = 48_000;
/// Samples per channel in one 20 ms Opus frame at 48 kHz.
pub const OPUS_FRAME: usize = 960;
/// Largest Opus packet we let the encoder produce.
const MAX_OPUS_PACKET: usize = 1500;
/// A gap or jump between the RTMP audio timestamps and the decoded sample count larger than
/// this re-anchors the output clock (encoder dropped audio, publisher paused, …).
const RESYNC_MS: i64 = 200;
/// Consecutive undecodable AAC frames tolerated before the stream is declared broken.
const MAX_DECODE_ERRORS: u32 = 50;
/// Resampler input chunk (frames at the source rate).
const RESAMPLE_CHUNK: usize = 1024;

/// One encoded 20 ms Opus frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioFrame {
    /// One Opus packet (RFC 6716), 20 ms, 48 kHz, mono or stereo like the source.
    pub opus: Vec<u8>,
    /// RTP timestamp on a 48 kHz clock: `pts_ms * 48` at the last (re)anchoring point, then
    /// advancing by exactly 960 per frame. Wraps at 2^32.
    pub rtp_time_48k: u32,
    /// Presentation time in ms since the start of the publish (same base as video).
    pub pts_ms: u64,
}

/// Source audio parameters, known once the AAC sequence header has been parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AudioConfig {
    /// Sample rate of the AAC source in Hz (the Opus output is always 48 kHz).
    pub source_rate: u32,
    /// 1 (mono) or 2 (stereo); the Opus output has the same count.
    pub channels: u8,
}

/// AAC-LC → Opus transcoder for one audio stream.
pub struct AacToOpus {
    decoder: AacDecoder,
    config: AudioConfig,
    resampler: Option<Fft<f32>>,
    /// Output frames of resampler delay still to drop (keeps samples aligned with time).
    trim: usize,
    src_fifo: Vec<Vec<f32>>,
    out_fifo: Vec<Vec<f32>>,
    scratch_out: Vec<Vec<f32>>,
    decoded: Vec<Vec<f32>>,
    interleaved: Vec<f32>,
    encoder: Encoder,
    opus_buf: Vec<u8>,
    anchor_ms: Option<u64>,
    src_frames: u64,
    out_frames: u64,
    decode_errors: u32,
}

impl std::fmt::Debug for AacToOpus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AacToOpus")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AacToOpus {
    /// Builds the pipeline from an `AudioSpecificConfig` (the FLV AAC sequence header).
    pub fn new(audio_specific_config: &[u8]) -> Result<AacToOpus, MediaError> {
        if audio_specific_config.len() < 2 || audio_specific_config.len() > 64 {
            return Err(MediaError::Malformed(format!(
                "AudioSpecificConfig of {} bytes",
                audio_specific_config.len()
            )));
        }
        let mut params = AudioCodecParameters::new();
        params.codec = CODEC_ID_AAC;
        params.with_extra_data(audio_specific_config.to_vec().into_boxed_slice());
        let decoder = AacDecoder::try_new(&params, &AudioDecoderOptions::default()).map_err(|e| {
            MediaError::Unsupported(format!(
                "AAC configuration {audio_specific_config:02x?} not supported ({e}): publish AAC-LC, mono or stereo (ffmpeg -c:a aac)"
            ))
        })?;
        let out_params = decoder.codec_params();
        let source_rate = out_params
            .sample_rate
            .filter(|r| (8_000..=96_000).contains(r))
            .ok_or_else(|| MediaError::Unsupported("AAC sample rate outside 8..96 kHz".into()))?;
        let channels = out_params
            .channels
            .as_ref()
            .map(|c| c.count())
            .filter(|c| (1..=2).contains(c))
            .ok_or_else(|| MediaError::Unsupported("AAC channel count must be 1 or 2".into()))?;
        let resampler = if source_rate == OPUS_RATE {
            None
        } else {
            Some(
                Fft::<f32>::new(
                    source_rate as usize,
                    OPUS_RATE as usize,
                    RESAMPLE_CHUNK,
                    channels,
                    FixedSync::Input,
                )
                .map_err(|e| MediaError::Unsupported(format!("resampler: {e}")))?,
            )
        };
        let trim = resampler.as_ref().map_or(0, |r| r.output_delay());
        let scratch_len = resampler.as_ref().map_or(0, |r| r.output_frames_max());
        let mut encoder = Encoder::new(
            SampleRate::Hz48000,
            if channels == 1 {
                Channels::Mono
            } else {
                Channels::Stereo
            },
            Application::Audio,
        )
        .map_err(|e| MediaError::Unsupported(format!("opus encoder: {e}")))?;
        encoder
            .set_bitrate(Bitrate::BitsPerSecond(64_000 * channels as i32))
            .map_err(|e| MediaError::Unsupported(format!("opus encoder: {e}")))?;
        Ok(AacToOpus {
            decoder,
            config: AudioConfig {
                source_rate,
                channels: channels as u8,
            },
            resampler,
            trim,
            src_fifo: vec![Vec::with_capacity(4 * RESAMPLE_CHUNK); channels],
            out_fifo: vec![Vec::with_capacity(4 * OPUS_FRAME); channels],
            scratch_out: vec![vec![0.0; scratch_len]; channels],
            decoded: Vec::new(),
            interleaved: Vec::with_capacity(OPUS_FRAME * channels),
            encoder,
            opus_buf: vec![0; MAX_OPUS_PACKET],
            anchor_ms: None,
            src_frames: 0,
            out_frames: 0,
            decode_errors: 0,
        })
    }

    /// Source parameters.
    pub fn config(&self) -> AudioConfig {
        self.config
    }

    /// Decodes one raw AAC frame presented at `pts_ms` and appends every Opus frame that became
    /// complete to `out`.
    pub fn push(
        &mut self,
        aac: &[u8],
        pts_ms: u64,
        out: &mut Vec<AudioFrame>,
    ) -> Result<(), MediaError> {
        if aac.is_empty() {
            return Ok(());
        }
        self.check_clock(pts_ms);
        let packet = PacketRef::new(0, Timestamp::new(0), Duration::new(1024), aac);
        match self.decoder.decode_ref(&packet) {
            Ok(buf) => {
                self.decode_errors = 0;
                buf.copy_to_vecs_planar::<f32>(&mut self.decoded);
            }
            Err(e) => {
                self.decode_errors += 1;
                tracing::debug!(error = %e, "undecodable AAC frame skipped");
                if self.decode_errors > MAX_DECODE_ERRORS {
                    return Err(MediaError::Malformed(format!(
                        "{} consecutive undecodable AAC frames (last: {e})",
                        self.decode_errors
                    )));
                }
                return Ok(());
            }
        }
        let channels = usize::from(self.config.channels);
        if self.decoded.len() != channels {
            return Err(MediaError::Malformed(format!(
                "AAC frame decoded to {} channels, the configuration says {channels}",
                self.decoded.len()
            )));
        }
        let n = self.decoded[0].len();
        self.src_frames += n as u64;
        match self.resampler.is_some() {
            false => {
                for (fifo, plane) in self.out_fifo.iter_mut().zip(&self.decoded) {
                    fifo.extend_from_slice(plane);
                }
            }
            true => {
                for (fifo, plane) in self.src_fifo.iter_mut().zip(&self.decoded) {
                    fifo.extend_from_slice(plane);
                }
                self.resample()?;
            }
        }
        self.encode(out)
    }

    /// Re-anchors the output clock when the RTMP timestamp disagrees with the sample count.
    fn check_clock(&mut self, pts_ms: u64) {
        if let Some(anchor) = self.anchor_ms {
            let expected = anchor + self.src_frames * 1000 / u64::from(self.config.source_rate);
            let drift = pts_ms as i64 - expected as i64;
            if drift.abs() <= RESYNC_MS {
                return;
            }
            tracing::debug!(
                pts_ms,
                expected,
                "AAC timestamps jumped; re-anchoring audio clock"
            );
            for fifo in self.src_fifo.iter_mut().chain(self.out_fifo.iter_mut()) {
                fifo.clear();
            }
            if let Some(r) = self.resampler.as_mut() {
                r.reset();
                self.trim = r.output_delay();
            }
        }
        self.anchor_ms = Some(pts_ms);
        self.src_frames = 0;
        self.out_frames = 0;
    }

    fn resample(&mut self) -> Result<(), MediaError> {
        let Some(resampler) = self.resampler.as_mut() else {
            return Ok(());
        };
        let channels = self.src_fifo.len();
        loop {
            let need = resampler.input_frames_next();
            let have = self.src_fifo[0].len();
            if have < need {
                return Ok(());
            }
            let input = SequentialSliceOfVecs::new(&self.src_fifo, channels, have)
                .map_err(|e| MediaError::Malformed(format!("resampler input: {e}")))?;
            let out_len = self.scratch_out[0].len();
            let mut output =
                SequentialSliceOfVecs::new_mut(&mut self.scratch_out, channels, out_len)
                    .map_err(|e| MediaError::Malformed(format!("resampler output: {e}")))?;
            let (consumed, produced) = resampler
                .process_into_buffer(&input, &mut output, None)
                .map_err(|e| MediaError::Malformed(format!("resampler: {e}")))?;
            for fifo in self.src_fifo.iter_mut() {
                fifo.drain(..consumed);
            }
            let skip = self.trim.min(produced);
            self.trim -= skip;
            for (fifo, plane) in self.out_fifo.iter_mut().zip(&self.scratch_out) {
                fifo.extend_from_slice(&plane[skip..produced]);
            }
        }
    }

    fn encode(&mut self, out: &mut Vec<AudioFrame>) -> Result<(), MediaError> {
        let anchor = self.anchor_ms.unwrap_or(0);
        while self.out_fifo[0].len() >= OPUS_FRAME {
            self.interleaved.clear();
            for i in 0..OPUS_FRAME {
                for plane in &self.out_fifo {
                    self.interleaved.push(plane[i].clamp(-1.0, 1.0));
                }
            }
            for fifo in self.out_fifo.iter_mut() {
                fifo.drain(..OPUS_FRAME);
            }
            let len = self
                .encoder
                .encode_float(&self.interleaved, &mut self.opus_buf)
                .map_err(|e| MediaError::Malformed(format!("opus encode: {e}")))?;
            let offset_ms = self.out_frames * 1000 / u64::from(OPUS_RATE);
            let rtp = anchor.wrapping_mul(48).wrapping_add(self.out_frames) as u32;
            out.push(AudioFrame {
                opus: self.opus_buf[..len].to_vec(),
                rtp_time_48k: rtp,
                pts_ms: anchor + offset_ms,
            });
            self.out_frames += OPUS_FRAME as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unsupported_configs() {
        assert!(AacToOpus::new(&[]).is_err());
        // AOT 5 (SBR / HE-AAC), 44.1 kHz, stereo.
        assert!(AacToOpus::new(&[0x2a, 0x10]).is_err());
        // AAC-LC 44.1 kHz with 6 channels.
        assert!(AacToOpus::new(&[0x12, 0x30]).is_err());
    }

    #[test]
    fn accepts_lc_configs() {
        // AAC-LC (2), 44.1 kHz (idx 4), stereo (2): 00010 0100 0010 000 = 0x12 0x10
        let t = AacToOpus::new(&[0x12, 0x10]).unwrap();
        assert_eq!(
            t.config(),
            AudioConfig {
                source_rate: 44_100,
                channels: 2
            }
        );
        // AAC-LC, 48 kHz (idx 3), mono (1): 00010 0011 0001 000 = 0x11 0x88
        let t = AacToOpus::new(&[0x11, 0x88]).unwrap();
        assert_eq!(
            t.config(),
            AudioConfig {
                source_rate: 48_000,
                channels: 1
            }
        );
        assert!(t.resampler.is_none());
    }

    #[test]
    fn undecodable_frames_are_skipped_then_fatal() {
        let mut t = AacToOpus::new(&[0x12, 0x10]).unwrap();
        let mut out = Vec::new();
        // First element id 5 (program config element): symphonia refuses these frames.
        let bad = [0xa0u8; 40];
        for i in 0..u64::from(MAX_DECODE_ERRORS) {
            t.push(&bad, i * 23, &mut out).unwrap();
        }
        let err = t.push(&bad, 9999, &mut out).unwrap_err();
        assert!(err.to_string().contains("consecutive undecodable"), "{err}");
        assert!(out.is_empty());
    }
}
