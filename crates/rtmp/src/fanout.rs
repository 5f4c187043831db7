//! Hands one stream's FLV tags to its RTMP players, each through its own bounded queue.
//!
//! A player starts on a keyframe (after the current sequence headers). A player whose queue
//! is full (a slow reader) loses tags until the next keyframe, then resumes with the sequence
//! headers again; it never holds up the stream or the other players.

use bytes::Bytes;
use tokio::sync::mpsc;

/// What a tag carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagKind {
    /// First tag of every player (empty body): what its `onMetaData` should say.
    Metadata {
        width: u32,
        height: u32,
        video: bool,
        audio: bool,
    },
    /// AVC sequence header; the picture size from the SPS when it parses.
    VideoConfig {
        width: u32,
        height: u32,
    },
    /// AAC sequence header.
    AudioConfig,
    Video {
        keyframe: bool,
    },
    Audio,
}

/// One FLV tag for players: its body and its time in ms on the stream's clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlayTag {
    pub kind: TagKind,
    pub ts_ms: u64,
    pub body: Bytes,
}

/// The receiving end of one player's queue. The stream ended when `recv` returns `None`.
#[derive(Debug)]
pub struct PlayerFeed {
    rx: mpsc::Receiver<PlayTag>,
}

impl PlayerFeed {
    pub async fn recv(&mut self) -> Option<PlayTag> {
        self.rx.recv().await
    }
}

#[derive(Debug)]
struct Player {
    tx: mpsc::Sender<PlayTag>,
    /// Has had its sequence headers and a start point.
    started: bool,
    /// Lost a tag: waits for the next keyframe.
    lagging: bool,
}

/// The players of one stream.
#[derive(Debug)]
pub struct Fanout {
    players: Vec<Player>,
    queue: usize,
    video_config: Option<PlayTag>,
    audio_config: Option<PlayTag>,
    /// Tags dropped for slow players, for logs and tests.
    dropped: u64,
}

impl Fanout {
    /// `queue`: tags a player may have waiting (video and audio together).
    pub fn new(queue: usize) -> Fanout {
        Fanout {
            players: Vec::new(),
            queue: queue.max(4),
            video_config: None,
            audio_config: None,
            dropped: 0,
        }
    }

    pub fn subscribe(&mut self) -> PlayerFeed {
        let (tx, rx) = mpsc::channel(self.queue);
        self.players.push(Player {
            tx,
            started: false,
            lagging: false,
        });
        PlayerFeed { rx }
    }

    /// Players still connected (as of the last delivery).
    pub fn players(&self) -> usize {
        self.players.iter().filter(|p| !p.tx.is_closed()).count()
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Gives a tag to every player that can take it.
    pub fn deliver(&mut self, tag: PlayTag) {
        match tag.kind {
            TagKind::VideoConfig { .. } => self.video_config = Some(tag.clone()),
            TagKind::AudioConfig => self.audio_config = Some(tag.clone()),
            _ => {}
        }
        // Without video a player starts on any audio frame.
        let start_point = match tag.kind {
            TagKind::Video { keyframe } => keyframe,
            TagKind::Audio => self.video_config.is_none(),
            _ => false,
        };
        let configs: Vec<PlayTag> = [&self.video_config, &self.audio_config]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        let mut dropped = 0;
        self.players.retain_mut(|p| {
            if p.tx.is_closed() {
                return false;
            }
            if !p.started || p.lagging {
                if !start_point || (tag.kind == TagKind::Audio && !tag_is_audio_start(&configs)) {
                    dropped += u64::from(p.started);
                    return true;
                }
                // Headers first (the current ones, also after a change while lagging).
                if p.tx.capacity() < configs.len() + 2 {
                    dropped += 1;
                    return true;
                }
                if !p.started {
                    let _ = p.tx.try_send(metadata(&configs, tag.ts_ms));
                }
                for c in &configs {
                    let start = PlayTag {
                        ts_ms: tag.ts_ms,
                        ..c.clone()
                    };
                    let _ = p.tx.try_send(start);
                }
                p.started = true;
                p.lagging = false;
                let _ = p.tx.try_send(tag.clone());
                return true;
            }
            match p.tx.try_send(tag.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    p.lagging = true;
                    dropped += 1;
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        self.dropped += dropped;
    }
}

/// The first tag of a player, from the sequence headers it starts with.
fn metadata(configs: &[PlayTag], ts_ms: u64) -> PlayTag {
    let mut meta = TagKind::Metadata {
        width: 0,
        height: 0,
        video: false,
        audio: false,
    };
    if let TagKind::Metadata {
        width,
        height,
        video,
        audio,
    } = &mut meta
    {
        for c in configs {
            match c.kind {
                TagKind::VideoConfig {
                    width: w,
                    height: h,
                } => {
                    (*width, *height, *video) = (w, h, true);
                }
                TagKind::AudioConfig => *audio = true,
                _ => {}
            }
        }
    }
    PlayTag {
        kind: meta,
        ts_ms,
        body: Bytes::new(),
    }
}

/// An audio-only stream starts once its AAC header is known.
fn tag_is_audio_start(configs: &[PlayTag]) -> bool {
    configs.iter().any(|c| c.kind == TagKind::AudioConfig)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(kind: TagKind, ts_ms: u64) -> PlayTag {
        PlayTag {
            kind,
            ts_ms,
            body: Bytes::from(vec![ts_ms as u8]),
        }
    }
    const KEY: TagKind = TagKind::Video { keyframe: true };
    const DELTA: TagKind = TagKind::Video { keyframe: false };
    const VCFG: TagKind = TagKind::VideoConfig {
        width: 640,
        height: 480,
    };

    fn drain(feed: &mut PlayerFeed) -> Vec<(TagKind, u64)> {
        let mut v = Vec::new();
        while let Ok(t) = feed.rx.try_recv() {
            v.push((t.kind, t.ts_ms));
        }
        v
    }

    #[test]
    fn a_player_starts_on_a_keyframe_after_the_headers() {
        let mut f = Fanout::new(16);
        f.deliver(tag(TagKind::AudioConfig, 0));
        f.deliver(tag(VCFG, 0));
        let mut p = f.subscribe();
        f.deliver(tag(DELTA, 10));
        f.deliver(tag(TagKind::Audio, 15));
        f.deliver(tag(KEY, 40));
        f.deliver(tag(TagKind::Audio, 45));
        f.deliver(tag(DELTA, 80));
        assert_eq!(
            drain(&mut p),
            vec![
                (
                    TagKind::Metadata {
                        width: 640,
                        height: 480,
                        video: true,
                        audio: true
                    },
                    40
                ),
                (VCFG, 40),
                (TagKind::AudioConfig, 40),
                (KEY, 40),
                (TagKind::Audio, 45),
                (DELTA, 80)
            ]
        );
    }

    #[test]
    fn audio_only_streams_start_on_audio() {
        let mut f = Fanout::new(16);
        let mut p = f.subscribe();
        f.deliver(tag(TagKind::Audio, 5)); // before the header: not decodable
        f.deliver(tag(TagKind::AudioConfig, 10));
        f.deliver(tag(TagKind::Audio, 21));
        assert_eq!(
            drain(&mut p),
            vec![
                (
                    TagKind::Metadata {
                        width: 0,
                        height: 0,
                        video: false,
                        audio: true
                    },
                    21
                ),
                (TagKind::AudioConfig, 21),
                (TagKind::Audio, 21)
            ]
        );
    }

    #[test]
    fn a_slow_player_skips_to_the_next_keyframe_and_others_get_everything() {
        let mut f = Fanout::new(5);
        f.deliver(tag(VCFG, 0));
        let mut slow = f.subscribe();
        let mut fast = f.subscribe();
        f.deliver(tag(KEY, 0));
        let mut fast_got = drain(&mut fast).len();
        for ts in 1..10 {
            f.deliver(tag(DELTA, ts));
            fast_got += drain(&mut fast).len();
        }
        assert_eq!(fast_got, 3 + 9);
        // The slow player's queue (5) filled: metadata, header, key, 2 deltas; the rest was
        // dropped.
        assert_eq!(f.dropped(), 7);
        assert_eq!(drain(&mut slow).len(), 5);
        // Room again, but a delta frame does not resume it; the next keyframe does, headers first.
        f.deliver(tag(DELTA, 10));
        f.deliver(tag(KEY, 11));
        f.deliver(tag(DELTA, 12));
        assert_eq!(drain(&mut slow), vec![(VCFG, 11), (KEY, 11), (DELTA, 12)]);
        assert_eq!(f.players(), 2);
    }

    #[test]
    fn gone_players_are_removed() {
        let mut f = Fanout::new(4);
        let p = f.subscribe();
        assert_eq!(f.players(), 1);
        drop(p);
        f.deliver(tag(TagKind::AudioConfig, 0));
        assert_eq!(f.players(), 0);
        assert!(f.players.is_empty());
    }
}
