//! RTMP play on the server: an RTMP client plays a room participant's stream.
//!
//! One [`LiveFeed`] per played source, fed by a tap on that source in the media plane
//! ([`FeedTap`], a `FrameSink` next to the source's recorder), shared by all RTMP players of
//! it (one AAC encoder per source). The first player of a source adds the tap, the sweep after
//! the last player left removes it. What this module needs from the media plane is the
//! [`TapPlane`] trait: add/remove a tap on a source.

use std::collections::HashMap;
use std::sync::Mutex;

use huddle_rtmp::{vp8_refusal, FeedConfig, LiveFeed, PlayerFeed};
use huddle_sfu::{Frame, FrameSink, TapId};

/// What RTMP play needs from the media plane.
pub trait TapPlane {
    /// Adds `sink` as a tap `id` on the source `source` (a stream name); it gets every frame
    /// from the next keyframe on (the plane asks the publisher for one).
    fn tap(&self, source: &str, id: TapId, sink: Box<dyn FrameSink>) -> Result<(), String>;
    /// Removes the tap (closing it).
    fn untap(&self, source: &str, id: TapId);
}

/// A source's codecs as the room knows them (lower-case names: `h264`, `vp8`, `opus`, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlayCodecs {
    pub video: Option<String>,
    pub audio: Option<String>,
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

/// Pushes a source's frames into its [`LiveFeed`] (never blocks: a full feed drops).
pub struct FeedTap {
    feed: LiveFeed,
}

impl FeedTap {
    pub fn new(feed: LiveFeed) -> FeedTap {
        FeedTap { feed }
    }
}

impl FrameSink for FeedTap {
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

    fn close(&mut self) {}
}

struct Played {
    feed: LiveFeed,
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
    /// plays it yet. Must run inside the tokio runtime (the feed's task).
    pub fn play(
        &self,
        plane: &impl TapPlane,
        source: &str,
        codecs: &PlayCodecs,
    ) -> Result<PlayerFeed, String> {
        check_codecs(codecs)?;
        let mut played = self.played.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = played.get(source) {
            if !p.feed.is_closed() {
                return Ok(p.feed.subscribe());
            }
        }
        let feed = LiveFeed::spawn(self.config.clone());
        let tap = {
            let mut n = self.next_tap.lock().unwrap_or_else(|e| e.into_inner());
            *n += 1;
            *n
        };
        let player = feed.subscribe();
        plane.tap(source, tap, Box::new(FeedTap { feed: feed.clone() }))?;
        played.insert(source.to_string(), Played { feed, tap });
        Ok(player)
    }

    /// Removes the taps of sources nobody plays any more (call when an RTMP connection
    /// closes). Returns how many were removed.
    pub fn sweep(&self, plane: &impl TapPlane) -> usize {
        let mut played = self.played.lock().unwrap_or_else(|e| e.into_inner());
        let idle: Vec<String> = played
            .iter()
            .filter(|(_, p)| p.feed.players() == 0)
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
        self.played.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct FakePlane {
        taps: Mutex<Vec<(String, TapId)>>,
        untaps: Mutex<Vec<(String, TapId)>>,
    }

    impl TapPlane for FakePlane {
        fn tap(&self, source: &str, id: TapId, _sink: Box<dyn FrameSink>) -> Result<(), String> {
            if source == "gone" {
                return Err("no such stream".into());
            }
            self.taps.lock().unwrap().push((source.into(), id));
            Ok(())
        }
        fn untap(&self, source: &str, id: TapId) {
            self.untaps.lock().unwrap().push((source.into(), id));
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

    #[tokio::test]
    async fn players_of_one_source_share_one_tap_removed_after_the_last() {
        let plane = FakePlane::default();
        let plays = RtmpPlays::new(FeedConfig::default());
        let c = codecs(Some("h264"), Some("opus"));
        let a = plays.play(&plane, "r1-alice", &c).unwrap();
        let b = plays.play(&plane, "r1-alice", &c).unwrap();
        assert_eq!(plane.taps.lock().unwrap().len(), 1);
        assert!(plays.play(&plane, "gone", &c).is_err());
        assert!(plays
            .play(&plane, "r1-bob", &codecs(Some("vp8"), None))
            .is_err());
        assert_eq!(plays.sources(), 1);
        drop(a);
        assert_eq!(plays.sweep(&plane), 0);
        drop(b);
        assert_eq!(plays.sweep(&plane), 1);
        let tapped = plane.taps.lock().unwrap()[0].clone();
        assert_eq!(*plane.untaps.lock().unwrap(), vec![tapped]);
        assert_eq!(plays.sources(), 0);
    }
}
