//! Per-stream recorder: one Matroska file per published stream.

use crate::codec;
use crate::mkv::{MkvWriter, TrackKind, TrackSpec};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tracing::{debug, info};

/// Video track header data: avcC CodecPrivate (H.264) and picture size.
type VideoInfo = (Option<Vec<u8>>, (u32, u32));

/// Media codecs the recorder accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// H.264, frames in Annex-B (start codes), as str0m's depacketizer gives them.
    H264,
    /// VP8 frames.
    Vp8,
    /// Opus packets (48 kHz RTP clock).
    Opus,
    /// G.711 µ-law (8 kHz), stored decoded as 16-bit PCM.
    Pcmu,
    /// G.711 A-law (8 kHz), stored decoded as 16-bit PCM.
    Pcma,
}

impl Codec {
    pub fn is_video(self) -> bool {
        matches!(self, Codec::H264 | Codec::Vp8)
    }
    /// RTP clock rate in Hz.
    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::H264 | Codec::Vp8 => 90_000,
            Codec::Opus => 48_000,
            Codec::Pcmu | Codec::Pcma => 8_000,
        }
    }
    /// File extension that fits a recording with these codecs:
    /// `webm` for VP8 and/or Opus only, `mkv` otherwise.
    pub fn extension(video: Option<Codec>, audio: Option<Codec>) -> &'static str {
        if matches!(video, None | Some(Codec::Vp8)) && matches!(audio, None | Some(Codec::Opus)) {
            "webm"
        } else {
            "mkv"
        }
    }
}

/// A track whose timestamp jumps this far from the arrival clock is re-anchored.
const RESYNC_MS: i64 = 5_000;
/// A backwards step larger than this is a timestamp reset (re-anchor), a
/// smaller one is reordering (frame skipped).
const BACKWARD_RESET_MS: i64 = 500;
/// Audio kept while H.264 waits for its first key frame (newest kept).
const PENDING_AUDIO_MS: i64 = 5_000;
const PENDING_AUDIO_MAX: usize = 1_000;

/// Maps RTP timestamps of one track to ms on the recorder timeline.
#[derive(Debug)]
struct TrackClock {
    rate: i64,
    state: Option<ClockState>,
}

#[derive(Debug)]
struct ClockState {
    anchor_ms: i64,
    last_rtp: u32,
    ext: i64,
    last_ms: i64,
}

impl TrackClock {
    fn new(rate: u32) -> Self {
        Self {
            rate: i64::from(rate),
            state: None,
        }
    }

    /// Returns the timestamp (ms) or None when the frame goes backwards.
    fn map(&mut self, rtp: u32, arrival_ms: i64, what: &str) -> Option<i64> {
        let Some(s) = self.state.as_mut() else {
            self.state = Some(ClockState {
                anchor_ms: arrival_ms,
                last_rtp: rtp,
                ext: 0,
                last_ms: arrival_ms,
            });
            return Some(arrival_ms);
        };
        // Signed 32-bit difference handles wraparound and small reordering.
        s.ext += i64::from(rtp.wrapping_sub(s.last_rtp) as i32);
        s.last_rtp = rtp;
        let ts = s.anchor_ms + (s.ext * 1000).div_euclid(self.rate);
        if (ts - arrival_ms).abs() > RESYNC_MS || ts < s.last_ms - BACKWARD_RESET_MS {
            debug!(
                what,
                rtp, ts, arrival_ms, "timestamp jump, re-anchoring track"
            );
            let at = arrival_ms.max(s.last_ms);
            s.anchor_ms = at;
            s.ext = 0;
            s.last_ms = at;
            return Some(at);
        }
        if ts < s.last_ms {
            debug!(
                what,
                rtp,
                ts,
                last = s.last_ms,
                "timestamp went backwards, frame skipped"
            );
            return None;
        }
        s.last_ms = ts;
        Some(ts)
    }
}

/// At least one codec, each of its kind.
fn check_codecs(video: Option<Codec>, audio: Option<Codec>) -> io::Result<()> {
    let bad = |m: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, m.to_string()));
    if video.is_none() && audio.is_none() {
        return bad("a recording needs a video or an audio codec");
    }
    if video.is_some_and(|c| !c.is_video()) {
        return bad("video codec must be H264 or VP8");
    }
    if audio.is_some_and(|c| c.is_video()) {
        return bad("audio codec must be Opus, PCMU or PCMA");
    }
    Ok(())
}

/// Counters, e.g. for logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RecorderStats {
    pub video_frames: u64,
    pub audio_frames: u64,
    pub skipped_frames: u64,
    pub bytes: u64,
}

/// Records one published stream (its video and/or audio track) into one
/// crash-tolerant Matroska file.
///
/// Blocking file I/O: call it from a dedicated thread or `spawn_blocking`.
/// Each cluster (about 1 s, or from one video key frame to the next) is
/// written in one `write` and flushed, so after a crash (kill -9) the file
/// plays up to the last written cluster.
pub struct StreamRecorder {
    path: PathBuf,
    start_unix_ms: u64,
    epoch: Instant,
    mkv: Option<MkvWriter>,
    video: Option<Codec>,
    audio: Option<Codec>,
    video_track: u8,
    audio_track: u8,
    video_clock: TrackClock,
    audio_clock: TrackClock,
    /// Video frames are dropped until the first key frame is written.
    video_started: bool,
    sps: Option<Vec<u8>>,
    pps: Option<Vec<u8>>,
    pending_audio: VecDeque<(i64, Vec<u8>)>,
    stats: RecorderStats,
}

impl StreamRecorder {
    /// Creates `path` (never overwrites; parent folders are created).
    /// `start_unix_ms` becomes the file's DateUTC and time 0 of its
    /// timeline is "now" (this call). At least one codec is needed.
    pub fn create(
        path: &Path,
        start_unix_ms: u64,
        video: Option<Codec>,
        audio: Option<Codec>,
    ) -> io::Result<Self> {
        Self::create_with_epoch(path, start_unix_ms, Instant::now(), video, audio)
    }

    /// Like [`StreamRecorder::create`], with an explicit `epoch`: the
    /// instant that corresponds to `start_unix_ms` (time 0 in the file).
    pub fn create_with_epoch(
        path: &Path,
        start_unix_ms: u64,
        epoch: Instant,
        video: Option<Codec>,
        audio: Option<Codec>,
    ) -> io::Result<Self> {
        check_codecs(video, audio)?;
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                fs::create_dir_all(parent)?;
            }
        }
        let file = OpenOptions::new().write(true).create_new(true).open(path)?;
        Self::with_file(file, path, start_unix_ms, epoch, video, audio)
    }

    /// A live Matroska stream into `file`, which may be a pipe or a socket (the room
    /// restream feeds ffmpeg this way): the same frames, clocks and key-frame start as a
    /// recording. `label` only names it in logs. Such a stream cannot be finalized (no
    /// seeking): drop it instead of calling [`StreamRecorder::finish`] — dropping writes the
    /// buffered cluster.
    pub fn live(
        file: File,
        label: &Path,
        start_unix_ms: u64,
        epoch: Instant,
        video: Option<Codec>,
        audio: Option<Codec>,
    ) -> io::Result<Self> {
        check_codecs(video, audio)?;
        Self::with_file(file, label, start_unix_ms, epoch, video, audio)
    }

    fn with_file(
        file: File,
        path: &Path,
        start_unix_ms: u64,
        epoch: Instant,
        video: Option<Codec>,
        audio: Option<Codec>,
    ) -> io::Result<Self> {
        let doc_type = if Codec::extension(video, audio) == "webm" {
            "webm"
        } else {
            "matroska"
        };
        let mkv = MkvWriter::new(file, doc_type, start_unix_ms);
        let mut rec = Self {
            path: path.to_path_buf(),
            start_unix_ms,
            epoch,
            mkv: Some(mkv),
            video,
            audio,
            video_track: 1,
            audio_track: if video.is_some() { 2 } else { 1 },
            video_clock: TrackClock::new(video.map_or(90_000, Codec::clock_rate)),
            audio_clock: TrackClock::new(audio.map_or(48_000, Codec::clock_rate)),
            video_started: false,
            sps: None,
            pps: None,
            pending_audio: VecDeque::new(),
            stats: RecorderStats::default(),
        };
        // Without H.264 nothing in the header depends on the media: write it now
        // (VP8's picture size is a hint; players take it from the bitstream).
        if video.is_none() {
            rec.write_header(None)?;
        }
        info!(path = %path.display(), ?video, ?audio, "recording started");
        Ok(rec)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn start_unix_ms(&self) -> u64 {
        self.start_unix_ms
    }

    pub fn stats(&self) -> RecorderStats {
        self.stats
    }

    fn arrival_ms(&self, arrival: Instant) -> i64 {
        arrival.saturating_duration_since(self.epoch).as_millis() as i64
    }

    fn skip(&mut self, why: &str) {
        self.stats.skipped_frames += 1;
        debug!(path = %self.path.display(), why, "frame skipped");
    }

    fn mkv(&mut self) -> io::Result<&mut MkvWriter> {
        self.mkv
            .as_mut()
            .ok_or_else(|| io::Error::other("recorder already finished"))
    }

    fn track_specs(&self, video_info: Option<VideoInfo>) -> Vec<TrackSpec> {
        let mut tracks = Vec::new();
        if let (Some(codec), Some((private, (width, height)))) = (self.video, video_info) {
            tracks.push(TrackSpec {
                number: self.video_track,
                kind: TrackKind::Video { width, height },
                codec_id: match codec {
                    Codec::H264 => "V_MPEG4/ISO/AVC",
                    _ => "V_VP8",
                },
                codec_private: private,
                opus_delays: None,
            });
        }
        match self.audio {
            Some(Codec::Opus) => tracks.push(TrackSpec {
                number: self.audio_track,
                kind: TrackKind::Audio {
                    rate: 48_000.0,
                    channels: 2,
                    bit_depth: None,
                },
                codec_id: "A_OPUS",
                codec_private: Some(codec::opus_head(2, 48_000)),
                opus_delays: Some((0, 80_000_000)),
            }),
            Some(_) => tracks.push(TrackSpec {
                number: self.audio_track,
                kind: TrackKind::Audio {
                    rate: 8_000.0,
                    channels: 1,
                    bit_depth: Some(16),
                },
                codec_id: "A_PCM/INT/LIT",
                codec_private: None,
                opus_delays: None,
            }),
            None => {}
        }
        tracks
    }

    /// Writes the header. `video_info` is None for audio-only headers.
    fn write_header(&mut self, video_info: Option<VideoInfo>) -> io::Result<()> {
        let video_info = match (self.video, video_info) {
            (Some(Codec::Vp8), None) => Some((None, (640, 480))),
            (_, v) => v,
        };
        if video_info.is_none() {
            // Audio-only file (no video codec, or H.264 never sent a key frame).
            self.video = None;
            self.audio_track = 1;
        }
        let tracks = self.track_specs(video_info);
        self.mkv()?.write_header(&tracks)?;
        let pending: Vec<_> = self.pending_audio.drain(..).collect();
        let track = self.audio_track;
        for (ts, data) in pending {
            self.mkv()?.add_block(track, ts, true, data)?;
            self.stats.audio_frames += 1;
        }
        Ok(())
    }

    /// One depacketized video frame. `keyframe` is a hint: the bitstream is
    /// checked (H.264: IDR slice present; VP8: key-frame header).
    pub fn write_video(
        &mut self,
        rtp_ts: u32,
        arrival: Instant,
        keyframe: bool,
        frame: &[u8],
    ) -> io::Result<()> {
        let Some(codec) = self.video else {
            self.skip("no video track");
            return Ok(());
        };
        if frame.is_empty() {
            self.skip("empty video frame");
            return Ok(());
        }
        let (key, data, header_info) = match codec {
            Codec::H264 => {
                let nals = codec::annexb_nals(frame);
                if nals.is_empty() {
                    self.skip("H.264 frame without NAL units");
                    return Ok(());
                }
                let mut idr = false;
                for nal in &nals {
                    match codec::nal_type(nal) {
                        codec::NAL_SPS => self.sps = Some(nal.to_vec()),
                        codec::NAL_PPS => self.pps = Some(nal.to_vec()),
                        codec::NAL_IDR => idr = true,
                        _ => {}
                    }
                }
                if keyframe != idr {
                    debug!(keyframe, idr, "H.264 key-frame flag differs from bitstream");
                }
                let mut header_info = None;
                if !self.mkv()?.header_written() {
                    if !idr {
                        self.skip("H.264 frame before the first key frame");
                        return Ok(());
                    }
                    let (Some(sps), Some(pps)) = (&self.sps, &self.pps) else {
                        self.skip("H.264 key frame without SPS/PPS");
                        return Ok(());
                    };
                    let Some(avcc) = codec::avcc_record(sps, pps) else {
                        self.skip("H.264 SPS/PPS unusable");
                        return Ok(());
                    };
                    let dims = codec::sps_dimensions(sps).unwrap_or((640, 480));
                    header_info = Some((Some(avcc), dims));
                }
                let data = codec::to_avcc(&nals);
                if data.is_empty() {
                    self.skip("H.264 frame with only delimiters");
                    return Ok(());
                }
                (idr, data, header_info)
            }
            _ => {
                let key = codec::vp8_is_keyframe(frame);
                if keyframe != key {
                    debug!(keyframe, key, "VP8 key-frame flag differs from bitstream");
                }
                let header_info = if self.mkv()?.header_written() {
                    None
                } else {
                    Some((None, codec::vp8_dimensions(frame).unwrap_or((640, 480))))
                };
                (key, frame.to_vec(), header_info)
            }
        };
        if !self.video_started && !key {
            self.skip("video frame before the first key frame");
            return Ok(());
        }
        let arrival_ms = self.arrival_ms(arrival);
        let Some(ts) = self.video_clock.map(rtp_ts, arrival_ms, "video") else {
            self.stats.skipped_frames += 1;
            return Ok(());
        };
        if let Some(info) = header_info {
            self.write_header(Some(info))?;
        }
        self.video_started = true;
        let track = self.video_track;
        self.stats.bytes += data.len() as u64;
        self.mkv()?.add_block(track, ts, key, data)?;
        self.stats.video_frames += 1;
        Ok(())
    }

    /// One audio frame: an Opus packet or G.711 bytes.
    pub fn write_audio(&mut self, rtp_ts: u32, arrival: Instant, frame: &[u8]) -> io::Result<()> {
        let Some(codec) = self.audio else {
            self.skip("no audio track");
            return Ok(());
        };
        if frame.is_empty() {
            self.skip("empty audio frame");
            return Ok(());
        }
        let arrival_ms = self.arrival_ms(arrival);
        let Some(ts) = self.audio_clock.map(rtp_ts, arrival_ms, "audio") else {
            self.stats.skipped_frames += 1;
            return Ok(());
        };
        let data = match codec {
            Codec::Pcmu => codec::g711_to_pcm16le(frame, false),
            Codec::Pcma => codec::g711_to_pcm16le(frame, true),
            _ => frame.to_vec(),
        };
        self.stats.bytes += data.len() as u64;
        if !self.mkv()?.header_written() {
            // Waiting for the first H.264 key frame: keep the newest audio.
            self.pending_audio.push_back((ts, data));
            while self.pending_audio.len() > PENDING_AUDIO_MAX
                || self
                    .pending_audio
                    .front()
                    .is_some_and(|(t, _)| ts - *t > PENDING_AUDIO_MS)
            {
                self.pending_audio.pop_front();
                self.skip("audio dropped while waiting for a video key frame");
            }
            return Ok(());
        }
        let track = self.audio_track;
        self.mkv()?.add_block(track, ts, true, data)?;
        self.stats.audio_frames += 1;
        Ok(())
    }

    /// Writes the frames buffered for the current cluster now. The recorder
    /// only acts when frames arrive, so when a stream goes quiet (muted,
    /// DTX) its last cluster stays in memory; call this from a periodic
    /// timer (e.g. every second) to bound what a crash can lose.
    pub fn flush(&mut self) -> io::Result<()> {
        let mkv = self.mkv()?;
        if mkv.header_written() {
            mkv.flush_cluster()?;
        }
        Ok(())
    }

    /// Writes the last cluster and finalizes the file (Duration, Cues).
    /// If H.264 never sent a key frame, buffered audio is written as an
    /// audio-only file. A file that got no frame at all is removed.
    pub fn finish(mut self) -> io::Result<RecorderStats> {
        let header_written = self.mkv()?.header_written();
        if !header_written && !self.pending_audio.is_empty() {
            self.write_header(None)?;
        }
        let stats = self.stats;
        if stats.video_frames + stats.audio_frames == 0 {
            drop(self.mkv.take());
            fs::remove_file(&self.path)?;
            info!(path = %self.path.display(), ?stats, "nothing recorded, file removed");
            return Ok(stats);
        }
        if let Some(mkv) = self.mkv.take() {
            let duration_ms = mkv.duration_ms();
            mkv.finalize()?;
            info!(path = %self.path.display(), duration_ms, ?stats, "recording finished");
        }
        Ok(stats)
    }
}

impl Drop for StreamRecorder {
    /// Dropped without `finish` (e.g. the task panicked): write what is
    /// buffered so the file keeps everything received, unfinalized.
    fn drop(&mut self) {
        if let Some(mkv) = self.mkv.as_mut() {
            if mkv.header_written() {
                if let Err(e) = mkv.flush_cluster() {
                    debug!(path = %self.path.display(), error = %e, "flush on drop failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_wraparound_and_backwards() {
        let mut c = TrackClock::new(90_000);
        assert_eq!(c.map(u32::MAX - 2999, 100, "v"), Some(100));
        // +3000 ticks across the wrap = +33 ms
        assert_eq!(c.map(0, 133, "v"), Some(133));
        assert_eq!(c.map(3000, 166, "v"), Some(166));
        // Slightly backwards (reordered): skipped.
        assert_eq!(c.map(0, 170, "v"), None);
        // Continues correctly after the reordered frame.
        assert_eq!(c.map(6000, 200, "v"), Some(200));
        // A jump of 1 hour re-anchors at arrival.
        assert_eq!(c.map(6000 + 90_000 * 3600, 233, "v"), Some(233));
        assert_eq!(c.map(6000 + 90_000 * 3600 + 9000, 333, "v"), Some(333));
    }

    #[test]
    fn clock_large_backward_reset() {
        let mut c = TrackClock::new(48_000);
        assert_eq!(c.map(48_000 * 10, 0, "a"), Some(0));
        assert_eq!(c.map(48_000 * 12, 2000, "a"), Some(2000));
        // Sender restarted its clock 2 s back: re-anchor, never go below last.
        assert_eq!(c.map(48_000 * 10, 2020, "a"), Some(2020));
        assert_eq!(c.map(48_000 * 10 + 960, 2040, "a"), Some(2040));
    }

    #[test]
    fn bad_codec_combinations() {
        let dir = std::env::temp_dir().join(format!("huddle-rec-unit-{}", std::process::id()));
        let p = dir.join("x.mkv");
        assert!(StreamRecorder::create(&p, 0, None, None).is_err());
        assert!(StreamRecorder::create(&p, 0, Some(Codec::Opus), None).is_err());
        assert!(StreamRecorder::create(&p, 0, None, Some(Codec::H264)).is_err());
        assert_eq!(
            Codec::extension(Some(Codec::Vp8), Some(Codec::Opus)),
            "webm"
        );
        assert_eq!(
            Codec::extension(Some(Codec::H264), Some(Codec::Opus)),
            "mkv"
        );
        assert_eq!(Codec::extension(None, Some(Codec::Pcmu)), "mkv");
        let _ = fs::remove_dir_all(&dir);
    }
}
