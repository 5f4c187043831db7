//! One live stream prepared for RTMP players: H.264 + Opus frames in (from a WebRTC or RTMP
//! publisher), FLV tags out to every player ([`Fanout`]).
//!
//! The embedder (the media plane) pushes frames with [`LiveFeed::push_h264`] /
//! [`LiveFeed::push_opus`], which never block: they queue into a bounded channel and report
//! `false` when the feed is behind. A tokio task does the work: H.264 Annex-B → AVCC with a
//! sequence header whenever SPS/PPS change, Opus → PCM → AAC in one ffmpeg process shared by
//! all players of the stream ([`crate::aac_encode`]). Timestamps: each track is anchored at
//! the arrival time of its first frame and then follows its RTP clock, so audio and video
//! stay in sync as the browser sent them; audio gaps are filled (packet loss concealment),
//! so the AAC track is continuous.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use huddle_record::codec::sps_dimensions;
use tokio::sync::mpsc;

use crate::aac_encode::{AacEncoder, AacOut, OpusToPcm, AAC_FRAME_SAMPLES, PCM_RATE};
use crate::fanout::{Fanout, PlayTag, PlayerFeed, TagKind};
use crate::flv_out;

/// Settings of a [`LiveFeed`].
#[derive(Clone, Debug)]
pub struct FeedConfig {
    /// The ffmpeg binary that encodes AAC.
    pub ffmpeg: PathBuf,
    /// AAC bit rate (bit/s).
    pub aac_bitrate: u32,
    /// Tags one player may have queued (about 75 a second for 30 fps video with audio);
    /// a player further behind skips to the next keyframe.
    pub player_queue: usize,
    /// Frames queued from the media plane before pushes are refused.
    pub input_queue: usize,
}

impl Default for FeedConfig {
    fn default() -> FeedConfig {
        FeedConfig {
            ffmpeg: PathBuf::from("ffmpeg"),
            aac_bitrate: 128_000,
            player_queue: 256,
            input_queue: 512,
        }
    }
}

enum FeedInput {
    H264 {
        annexb: Arc<[u8]>,
        rtp_ts: u32,
        arrival: Instant,
    },
    Opus {
        packet: Arc<[u8]>,
        rtp_ts: u32,
        arrival: Instant,
    },
}

/// A live stream's RTMP side. Cheap to clone; the stream ends for its players when every
/// clone is dropped.
#[derive(Clone)]
pub struct LiveFeed {
    input: mpsc::Sender<FeedInput>,
    fanout: Arc<Mutex<Fanout>>,
}

impl std::fmt::Debug for LiveFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveFeed")
            .field("players", &self.players())
            .finish()
    }
}

impl LiveFeed {
    /// Starts the feed's task. Must be called inside a tokio runtime.
    pub fn spawn(config: FeedConfig) -> LiveFeed {
        let (tx, rx) = mpsc::channel(config.input_queue.max(1));
        let fanout = Arc::new(Mutex::new(Fanout::new(config.player_queue)));
        tokio::spawn(run(config, rx, fanout.clone()));
        LiveFeed { input: tx, fanout }
    }

    /// One H.264 access unit (Annex-B) on the 90 kHz RTP clock. `false`: dropped (the feed
    /// is behind or gone).
    pub fn push_h264(&self, annexb: Arc<[u8]>, rtp_ts: u32, arrival: Instant) -> bool {
        self.input
            .try_send(FeedInput::H264 {
                annexb,
                rtp_ts,
                arrival,
            })
            .is_ok()
    }

    /// One Opus packet on the 48 kHz RTP clock. `false`: dropped.
    pub fn push_opus(&self, packet: Arc<[u8]>, rtp_ts: u32, arrival: Instant) -> bool {
        self.input
            .try_send(FeedInput::Opus {
                packet,
                rtp_ts,
                arrival,
            })
            .is_ok()
    }

    /// A new player: it gets the sequence headers and then the stream from the next keyframe
    /// (ask the publisher for one).
    pub fn subscribe(&self) -> PlayerFeed {
        lock(&self.fanout).subscribe()
    }

    /// Players connected.
    pub fn players(&self) -> usize {
        lock(&self.fanout).players()
    }

    /// Tags dropped for slow players so far.
    pub fn dropped_for_slow_players(&self) -> u64 {
        lock(&self.fanout).dropped()
    }

    /// The feed's task has ended (its ffmpeg failed to start is not an end: video goes on).
    pub fn is_closed(&self) -> bool {
        self.input.is_closed()
    }
}

/// A [`LiveFeed`] that does not keep the stream alive: it ends for its players when the
/// last `LiveFeed` clone (the one feeding it) is dropped, while the holder of this handle can
/// still add players and count them. For a registry of played streams.
#[derive(Clone)]
pub struct WeakFeed {
    input: mpsc::WeakSender<FeedInput>,
    fanout: Arc<Mutex<Fanout>>,
}

impl LiveFeed {
    pub fn downgrade(&self) -> WeakFeed {
        WeakFeed {
            input: self.input.downgrade(),
            fanout: self.fanout.clone(),
        }
    }
}

impl WeakFeed {
    /// See [`LiveFeed::subscribe`]; on an ended feed the player's queue ends at once.
    pub fn subscribe(&self) -> PlayerFeed {
        if self.is_closed() {
            // A fan-out of its own, dropped at once: the queue's sender is gone.
            return Fanout::new(1).subscribe();
        }
        lock(&self.fanout).subscribe()
    }

    pub fn players(&self) -> usize {
        lock(&self.fanout).players()
    }

    /// The feeding side is gone, or the feed's task ended.
    pub fn is_closed(&self) -> bool {
        self.input.upgrade().is_none_or(|tx| tx.is_closed())
    }
}

fn lock(m: &Mutex<Fanout>) -> std::sync::MutexGuard<'_, Fanout> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Maps one track's RTP timestamps to ms since the feed started: anchored at the first
/// frame's arrival, then following the RTP clock; re-anchored when the two drift apart by
/// more than [`TrackClock::RESYNC_MS`] (publisher restarted its clock). Never goes backwards.
#[derive(Debug)]
struct TrackClock {
    rate: i64,
    state: Option<(i64, u32, i64, i64)>, // anchor_ms, last_rtp, extended rtp, last_ms
}

impl TrackClock {
    const RESYNC_MS: i64 = 3000;

    fn new(rate: u32) -> TrackClock {
        TrackClock {
            rate: i64::from(rate),
            state: None,
        }
    }

    fn map(&mut self, rtp: u32, arrival_ms: i64) -> u64 {
        let Some((anchor, last_rtp, ext, last_ms)) = self.state.as_mut() else {
            self.state = Some((arrival_ms, rtp, 0, arrival_ms));
            return arrival_ms.max(0) as u64;
        };
        *ext += i64::from(rtp.wrapping_sub(*last_rtp) as i32);
        *last_rtp = rtp;
        let mut ts = *anchor + (*ext * 1000).div_euclid(self.rate);
        if (ts - arrival_ms).abs() > Self::RESYNC_MS {
            *anchor = arrival_ms.max(*last_ms);
            *ext = 0;
            ts = *anchor;
        }
        let ts = ts.max(*last_ms);
        *last_ms = ts;
        ts.max(0) as u64
    }
}

/// The audio half: Opus in, PCM to the shared encoder, AAC frames timed by sample count.
struct AudioPath {
    config: FeedConfig,
    decoder: Option<OpusToPcm>,
    encoder: Option<AacEncoder>,
    /// The encoder could not be started or died: audio is left out.
    failed: bool,
    /// RTP time of the next expected Opus sample.
    next_rtp: Option<u32>,
    /// Feed time (ms) of the first PCM sample.
    anchor_ms: u64,
    frames_out: u64,
}

/// Longest gap filled with concealment (1 s); a longer one is filled only that far.
const MAX_FILL_SAMPLES: i64 = PCM_RATE as i64;
/// The encoder's first frame is priming (ffmpeg's AAC encoder delay is one frame).
const PRIMING_FRAMES: u64 = 1;

impl AudioPath {
    fn push(&mut self, packet: &[u8], rtp_ts: u32, arrival_ms: u64) {
        if self.failed {
            return;
        }
        if self.encoder.is_none() {
            match (
                OpusToPcm::new(),
                AacEncoder::spawn(&self.config.ffmpeg, self.config.aac_bitrate),
            ) {
                (Ok(d), Ok(e)) => {
                    self.decoder = Some(d);
                    self.encoder = Some(e);
                    self.anchor_ms = arrival_ms;
                }
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "RTMP play: no AAC encoder, players get video only");
                    self.failed = true;
                    return;
                }
            }
        }
        let (Some(dec), Some(enc)) = (self.decoder.as_mut(), self.encoder.as_mut()) else {
            return;
        };
        if let Some(next) = self.next_rtp {
            let gap = i64::from(rtp_ts.wrapping_sub(next) as i32);
            if gap < 0 {
                return; // late or repeated packet: its time is already filled
            }
            let mut fill = gap.min(MAX_FILL_SAMPLES);
            while fill > 0 {
                match dec.decode(None) {
                    Ok(pcm) if !pcm.is_empty() => {
                        let n = (pcm.len() / 2).min(fill as usize);
                        enc.push_pcm(&pcm[..n * 2]);
                        fill -= n as i64;
                    }
                    _ => break,
                }
            }
        }
        match dec.decode(Some(packet)) {
            Ok(pcm) => {
                let samples = (pcm.len() / 2) as u32;
                enc.push_pcm(pcm);
                self.next_rtp = Some(rtp_ts.wrapping_add(samples));
            }
            Err(e) => tracing::debug!(error = %e, "RTMP play: Opus packet dropped"),
        }
    }

    /// Feed time of the next AAC frame.
    fn next_frame_ms(&mut self) -> u64 {
        let n = self.frames_out.saturating_sub(PRIMING_FRAMES);
        self.frames_out += 1;
        self.anchor_ms + n * u64::from(AAC_FRAME_SAMPLES) * 1000 / u64::from(PCM_RATE)
    }

    async fn output(&mut self) -> Option<AacOut> {
        match self.encoder.as_mut() {
            Some(e) => e.output().await,
            None => std::future::pending().await,
        }
    }
}

async fn run(config: FeedConfig, mut rx: mpsc::Receiver<FeedInput>, fanout: Arc<Mutex<Fanout>>) {
    let epoch = Instant::now();
    let since = |t: Instant| t.saturating_duration_since(epoch).as_millis() as i64;
    let mut video_clock = TrackClock::new(90_000);
    let mut params: Option<(Vec<u8>, Vec<u8>)> = None;
    let mut audio = AudioPath {
        config,
        decoder: None,
        encoder: None,
        failed: false,
        next_rtp: None,
        anchor_ms: 0,
        frames_out: 0,
    };
    loop {
        tokio::select! {
            input = rx.recv() => match input {
                None => break,
                Some(FeedInput::H264 { annexb, rtp_ts, arrival }) => {
                    let ts_ms = video_clock.map(rtp_ts, since(arrival));
                    for tag in video_tags(&annexb, ts_ms, &mut params) {
                        lock(&fanout).deliver(tag);
                    }
                }
                Some(FeedInput::Opus { packet, rtp_ts, arrival }) => {
                    audio.push(&packet, rtp_ts, since(arrival).max(0) as u64);
                }
            },
            out = audio.output() => match out {
                Some(AacOut::Config(asc)) => lock(&fanout).deliver(PlayTag {
                    kind: TagKind::AudioConfig,
                    ts_ms: audio.anchor_ms,
                    body: Bytes::from(flv_out::aac_sequence_header(&asc)),
                }),
                Some(AacOut::Frame(raw)) => {
                    let ts_ms = audio.next_frame_ms();
                    lock(&fanout).deliver(PlayTag {
                        kind: TagKind::Audio,
                        ts_ms,
                        body: Bytes::from(flv_out::aac_frame(&raw)),
                    });
                }
                None => {
                    tracing::warn!("RTMP play: the AAC encoder exited, players get video only");
                    audio.encoder = None;
                    audio.failed = true;
                }
            },
        }
    }
    if let Some(e) = audio.encoder.as_ref() {
        if e.dropped_chunks() > 0 {
            tracing::info!(
                dropped = e.dropped_chunks(),
                "RTMP play: PCM chunks dropped (encoder behind)"
            );
        }
    }
    // The stream is over: players see the end of their queue.
    *lock(&fanout) = Fanout::new(0);
}

/// The tags for one access unit: a new sequence header when SPS/PPS change, then the frame.
/// Frames before the first SPS/PPS cannot be decoded and are dropped.
fn video_tags(annexb: &[u8], ts_ms: u64, params: &mut Option<(Vec<u8>, Vec<u8>)>) -> Vec<PlayTag> {
    let Some(au) = flv_out::access_unit(annexb) else {
        return Vec::new();
    };
    let mut tags = Vec::with_capacity(2);
    if let (Some(sps), Some(pps)) = (au.sps, au.pps) {
        if params.as_ref() != Some(&(sps.clone(), pps.clone())) {
            if let Some(body) = flv_out::avc_sequence_header(&sps, &pps) {
                let (width, height) = sps_dimensions(&sps).unwrap_or((0, 0));
                tags.push(PlayTag {
                    kind: TagKind::VideoConfig { width, height },
                    ts_ms,
                    body: Bytes::from(body),
                });
                *params = Some((sps, pps));
            }
        }
    }
    if params.is_none() {
        return Vec::new();
    }
    tags.push(PlayTag {
        kind: TagKind::Video {
            keyframe: au.keyframe,
        },
        ts_ms,
        body: Bytes::from(flv_out::avc_frame(&au.avcc, au.keyframe)),
    });
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_clock_follows_rtp_and_resyncs() {
        let mut c = TrackClock::new(90_000);
        assert_eq!(c.map(1000, 500), 500);
        assert_eq!(c.map(1000 + 3000, 530), 533);
        assert_eq!(c.map(1000 + 6000, 600), 566); // arrival jitter does not move it
        assert_eq!(c.map(1000 + 3000, 610), 566); // never backwards
        assert_eq!(c.map(5_000_000, 700), 700); // far jump: re-anchored at arrival
        assert_eq!(c.map(5_000_000 + 90, 701), 701);
        let mut w = TrackClock::new(90_000);
        w.map(u32::MAX - 89, 0);
        assert_eq!(w.map(90, 2), 2); // wraps
    }

    #[test]
    fn video_waits_for_parameter_sets_and_repeats_header_only_on_change() {
        let sps = [0u8, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0xd9];
        let pps = [0u8, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80];
        let idr = [0u8, 0, 0, 1, 0x65, 0x88];
        let key: Vec<u8> = [&sps[..], &pps[..], &idr[..]].concat();
        let mut params = None;
        assert!(video_tags(&[0, 0, 1, 0x41, 1], 0, &mut params).is_empty());
        let t = video_tags(&key, 10, &mut params);
        assert_eq!(t.len(), 2);
        assert!(matches!(t[0].kind, TagKind::VideoConfig { .. }));
        assert_eq!(t[1].kind, TagKind::Video { keyframe: true });
        assert_eq!(video_tags(&key, 20, &mut params).len(), 1);
        let t = video_tags(&[0, 0, 1, 0x41, 1], 30, &mut params);
        assert_eq!(t[0].kind, TagKind::Video { keyframe: false });
    }
}
