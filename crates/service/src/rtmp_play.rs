//! RTMP play on the server: an RTMP client plays a room participant's stream.
//!
//! One [`LiveFeed`] per played source, fed by a tap on that source in the media plane
//! ([`FeedTap`], a `FrameSink` next to the source's recorder), shared by all RTMP players of
//! it (one AAC encoder per source). The first player of a source adds the tap; the tap is told
//! the source's codecs by the media plane and refuses what RTMP cannot carry (VP8), which the
//! player gets as the reason of its `NetStream.Play.Failed`. The sweep after the last player
//! left removes the tap; a source that closes closes its taps, which ends the feed for its
//! players. What this module needs from the media plane is the [`TapPlane`] trait: add/remove
//! a tap on a source by stream name; [`MediaTaps`] is the server's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use huddle_room::{PeerId, Snapshot};
use huddle_rtmp::{vp8_refusal, FeedConfig, LiveFeed, PlayerFeed, WeakFeed};
use huddle_sfu::{Frame, FrameSink, SourceCodecs, TapId};
use tokio::sync::oneshot;

use crate::media::MediaPlane;

/// How long the media plane may take to open a tap (it answers within a command turn).
const TAP_TIMEOUT: Duration = Duration::from_secs(5);

/// What RTMP play (and restreams) need from the media plane.
pub trait TapPlane {
    /// Adds `sink` as a tap `id` on the source `source` (a stream name); it is told the
    /// source's codecs ([`FrameSink::open`], it may refuse) and then gets every frame (the
    /// plane asks the publisher for a keyframe). An unknown stream is an `Err`, or (if it
    /// ended meanwhile) a sink closed without `open`.
    fn tap(&self, source: &str, id: TapId, sink: Box<dyn FrameSink>) -> Result<(), String>;
    /// Removes the tap (closing it).
    fn untap(&self, source: &str, id: TapId);
}

/// The server's [`TapPlane`]: stream names are resolved to media peers from the room
/// actor's [`Snapshot`] ([`MediaTaps::learn`] before tapping; peers are never reused, so a
/// stale entry only finds a closed source), and a tap is removed from the peer it was added on.
pub struct MediaTaps {
    media: Arc<dyn MediaPlane>,
    /// Told which sources have RTMP players (an encoder nobody can play is closed).
    watch: Option<Arc<crate::rtmp_edge::PlayWatch>>,
    names: Mutex<HashMap<String, PeerId>>,
    tapped: Mutex<HashMap<(String, TapId), PeerId>>,
}

impl MediaTaps {
    pub fn new(media: Arc<dyn MediaPlane>) -> MediaTaps {
        MediaTaps {
            media,
            watch: None,
            names: Mutex::new(HashMap::new()),
            tapped: Mutex::new(HashMap::new()),
        }
    }

    /// Tells `watch` which sources are tapped (they have RTMP players).
    pub(crate) fn with_watch(mut self, watch: Arc<crate::rtmp_edge::PlayWatch>) -> MediaTaps {
        self.watch = Some(watch);
        self
    }

    /// Takes the live streams of `snapshot` as the names to resolve.
    pub fn learn(&self, snapshot: &Snapshot) {
        let streams = snapshot
            .rooms
            .iter()
            .flat_map(|r| r.streams.iter())
            .chain(snapshot.streams.iter())
            .filter(|s| s.live)
            .map(|s| (s.name.clone(), s.peer));
        *lock(&self.names) = streams.collect();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl TapPlane for MediaTaps {
    fn tap(&self, source: &str, id: TapId, sink: Box<dyn FrameSink>) -> Result<(), String> {
        let peer = lock(&self.names)
            .get(source)
            .copied()
            .ok_or_else(|| "Stream not found".to_string())?;
        lock(&self.tapped).insert((source.to_string(), id), peer);
        if let Some(w) = &self.watch {
            w.rtmp_player(peer, true);
        }
        self.media.tap(peer, id, sink);
        Ok(())
    }

    fn untap(&self, source: &str, id: TapId) {
        if let Some(peer) = lock(&self.tapped).remove(&(source.to_string(), id)) {
            if let Some(w) = &self.watch {
                w.rtmp_player(peer, false);
            }
            self.media.untap(peer, id);
        }
    }
}

/// A source's codecs as the room knows them (lower-case names: `h264`, `vp8`, `opus`, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlayCodecs {
    pub video: Option<String>,
    pub audio: Option<String>,
}

impl PlayCodecs {
    pub fn of(codecs: &SourceCodecs) -> PlayCodecs {
        PlayCodecs {
            video: codecs
                .video
                .map(|p| p.spec().codec.to_string().to_lowercase()),
            audio: codecs
                .audio
                .map(|p| p.spec().codec.to_string().to_lowercase()),
        }
    }
}

/// Whether RTMP can carry a source: H.264 video (or none) and Opus audio (or none).
pub fn check_codecs(c: &PlayCodecs) -> Result<(), String> {
    match c.video.as_deref() {
        None | Some("h264") => {}
        Some("vp8") => return Err(vp8_refusal()),
        Some(other) => {
            return Err(format!(
                "the stream's video is {other}, which RTMP play does not carry; publish H.264"
            ))
        }
    }
    match c.audio.as_deref() {
        None | Some("opus") => {}
        Some(other) => {
            return Err(format!(
                "the stream's audio is {other}, which RTMP play does not carry; publish Opus"
            ))
        }
    }
    if c.video.is_none() && c.audio.is_none() {
        return Err("the stream has no media yet".into());
    }
    Ok(())
}

/// Pushes a source's frames into its [`LiveFeed`] (never blocks: a full feed drops). The
/// feed ends for its players when this tap is dropped (the source closed, or untapped).
pub struct FeedTap {
    feed: LiveFeed,
    /// Told whether the source's codecs can be played (once).
    opened: Option<oneshot::Sender<Result<(), String>>>,
}

impl FeedTap {
    pub fn new(feed: LiveFeed, opened: oneshot::Sender<Result<(), String>>) -> FeedTap {
        FeedTap {
            feed,
            opened: Some(opened),
        }
    }
}

impl FrameSink for FeedTap {
    fn open(&mut self, codecs: &SourceCodecs) -> Result<(), String> {
        let verdict = check_codecs(&PlayCodecs::of(codecs));
        if let Some(tx) = self.opened.take() {
            let _ = tx.send(verdict.clone());
        }
        verdict
    }

    fn frame(&mut self, frame: &Frame) {
        // RTP time on the codec clock (90 kHz video, 48 kHz Opus); the feed unwraps it.
        let rtp = frame.time.numer() as u32;
        if frame.kind.is_video() {
            self.feed
                .push_h264(frame.data.clone(), rtp, frame.network_time);
        } else {
            self.feed
                .push_opus(frame.data.clone(), rtp, frame.network_time);
        }
    }

    fn close(&mut self) {
        // Closed before it was opened: the source was not there (any more).
        if let Some(tx) = self.opened.take() {
            let _ = tx.send(Err("Stream not found".into()));
        }
    }
}

struct Played {
    feed: WeakFeed,
    tap: TapId,
}

/// The sources being played over RTMP.
pub struct RtmpPlays {
    config: FeedConfig,
    played: Mutex<HashMap<String, Played>>,
    next_tap: Mutex<TapId>,
}

impl RtmpPlays {
    pub fn new(config: FeedConfig) -> RtmpPlays {
        RtmpPlays {
            config,
            played: Mutex::new(HashMap::new()),
            next_tap: Mutex::new(1),
        }
    }

    /// A new RTMP player of `source`: joins its feed, tapping the source first if nobody
    /// plays it yet, and waits for the media plane to accept the tap (the source exists and
    /// its codecs can be played). Must run inside the tokio runtime (the feed's task).
    pub async fn play(&self, plane: &impl TapPlane, source: &str) -> Result<PlayerFeed, String> {
        let (player, tap, opened) = {
            let mut played = lock(&self.played);
            if let Some(p) = played.get(source) {
                if !p.feed.is_closed() {
                    return Ok(p.feed.subscribe());
                }
            }
            let feed = LiveFeed::spawn(self.config.clone());
            let tap = {
                let mut n = lock(&self.next_tap);
                *n += 1;
                *n
            };
            let player = feed.subscribe();
            let (tx, opened) = oneshot::channel();
            let weak = feed.downgrade();
            plane.tap(source, tap, Box::new(FeedTap::new(feed, tx)))?;
            played.insert(source.to_string(), Played { feed: weak, tap });
            (player, tap, opened)
        };
        let verdict = match tokio::time::timeout(TAP_TIMEOUT, opened).await {
            Ok(Ok(v)) => v,
            Ok(Err(_)) => Err("the media plane is stopping".into()),
            Err(_) => Err("the media plane did not answer in time".into()),
        };
        if verdict.is_err() {
            let mut played = lock(&self.played);
            if played.get(source).is_some_and(|p| p.tap == tap) {
                played.remove(source);
            }
            drop(played);
            plane.untap(source, tap);
        }
        verdict.map(|()| player)
    }

    /// Removes the taps of sources nobody plays any more (call when an RTMP connection
    /// closes). Returns how many were removed.
    pub fn sweep(&self, plane: &impl TapPlane) -> usize {
        let mut played = lock(&self.played);
        let idle: Vec<String> = played
            .iter()
            .filter(|(_, p)| p.feed.players() == 0 || p.feed.is_closed())
            .map(|(s, _)| s.clone())
            .collect();
        for source in &idle {
            if let Some(p) = played.remove(source) {
                plane.untap(source, p.tap);
            }
        }
        idle.len()
    }

    /// Sources played now.
    pub fn sources(&self) -> usize {
        lock(&self.played).len()
    }
}

#[cfg(test)]
mod tests {
    use huddle_room::{IngestAudio, IngestCodecs, IngestVideo};

    use super::*;

    /// A media plane with one source "r1-alice" (H.264 + Opus): it opens taps on it as the
    /// real one does (codecs first), keeps them, and closes taps of unknown sources.
    /// A tap the fake plane holds: source name, id, sink.
    type HeldTap = (String, TapId, Box<dyn FrameSink>);

    #[derive(Default)]
    struct FakePlane {
        taps: Mutex<Vec<HeldTap>>,
        untaps: Mutex<Vec<(String, TapId)>>,
    }

    impl TapPlane for FakePlane {
        fn tap(&self, source: &str, id: TapId, mut sink: Box<dyn FrameSink>) -> Result<(), String> {
            match source {
                "unknown" => return Err("Stream not found".into()),
                "r1-alice" => {
                    let codecs = huddle_sfu::source_codecs(&IngestCodecs {
                        video: Some(IngestVideo::H264 {
                            profile_level_id: 0x42e01f,
                        }),
                        audio: Some(IngestAudio::Opus { channels: 2 }),
                    })
                    .unwrap();
                    sink.open(&codecs).unwrap();
                }
                // Ended between the lookup and the tap: closed without open.
                _ => sink.close(),
            }
            lock(&self.taps).push((source.into(), id, sink));
            Ok(())
        }
        fn untap(&self, source: &str, id: TapId) {
            lock(&self.untaps).push((source.into(), id));
            lock(&self.taps).retain(|(s, i, _)| !(s == source && *i == id));
        }
    }

    fn codecs(video: Option<&str>, audio: Option<&str>) -> PlayCodecs {
        PlayCodecs {
            video: video.map(Into::into),
            audio: audio.map(Into::into),
        }
    }

    #[test]
    fn codec_checks_name_the_codec() {
        assert!(check_codecs(&codecs(Some("h264"), Some("opus"))).is_ok());
        assert!(check_codecs(&codecs(None, Some("opus"))).is_ok());
        assert!(check_codecs(&codecs(Some("vp8"), Some("opus")))
            .unwrap_err()
            .contains("VP8"));
        assert!(check_codecs(&codecs(Some("h264"), Some("pcmu")))
            .unwrap_err()
            .contains("pcmu"));
        assert!(check_codecs(&codecs(None, None)).is_err());
    }

    #[test]
    fn play_codecs_are_named_from_the_negotiated_codecs() {
        let c = huddle_sfu::source_codecs(&IngestCodecs {
            video: Some(IngestVideo::H264 {
                profile_level_id: 0x640028,
            }),
            audio: Some(IngestAudio::Opus { channels: 1 }),
        })
        .unwrap();
        assert_eq!(PlayCodecs::of(&c), codecs(Some("h264"), Some("opus")));
    }

    #[tokio::test]
    async fn players_of_one_source_share_one_tap_removed_after_the_last() {
        let plane = FakePlane::default();
        let plays = RtmpPlays::new(FeedConfig::default());
        let a = plays.play(&plane, "r1-alice").await.unwrap();
        let b = plays.play(&plane, "r1-alice").await.unwrap();
        assert_eq!(lock(&plane.taps).len(), 1);
        assert_eq!(plays.sources(), 1);
        drop(a);
        assert_eq!(plays.sweep(&plane), 0);
        drop(b);
        assert_eq!(plays.sweep(&plane), 1);
        assert_eq!(lock(&plane.untaps).len(), 1);
        assert!(lock(&plane.taps).is_empty());
        assert_eq!(plays.sources(), 0);
    }

    #[tokio::test]
    async fn unknown_and_vanished_sources_are_refused_and_leave_nothing() {
        let plane = FakePlane::default();
        let plays = RtmpPlays::new(FeedConfig::default());
        assert_eq!(
            plays.play(&plane, "unknown").await.unwrap_err(),
            "Stream not found"
        );
        assert_eq!(
            plays.play(&plane, "r1-gone").await.unwrap_err(),
            "Stream not found"
        );
        assert_eq!(plays.sources(), 0);
        assert_eq!(*lock(&plane.untaps), vec![("r1-gone".to_string(), 3)]);
    }

    #[tokio::test]
    async fn a_closed_source_ends_its_players() {
        let plane = FakePlane::default();
        let plays = RtmpPlays::new(FeedConfig::default());
        let mut player = plays.play(&plane, "r1-alice").await.unwrap();
        // The source closes: the media plane closes and drops its taps.
        for (_, _, mut sink) in lock(&plane.taps).drain(..) {
            sink.close();
        }
        let end = tokio::time::timeout(Duration::from_secs(5), player.recv()).await;
        assert!(matches!(end, Ok(None)), "the player's feed ends");
        // A new player of the ended source is not attached to the dead feed.
        assert_eq!(plays.sweep(&plane), 1);
        let _again = plays.play(&plane, "r1-alice").await.unwrap();
        assert_eq!(lock(&plane.taps).len(), 1);
    }
}
