//! The fan-out the benchmarks measure (tests/memory.rs, tests/instructions.rs): one publisher
//! (Opus + VP8) played by N players, sending ~1 Mbit/s of VP8 (4 kB frames at 30 fps, a
//! keyframe every 60 frames) and Opus (50 packets/s). And the meeting (tests/instructions.rs):
//! N participants, each publishing that media and playing every other one.

use std::time::Duration;

use huddle_room::PeerId;
use huddle_sfu::Forwarding;
use str0m::format::Codec;
use str0m::media::MediaKind;

use super::world::World;
use super::{audio_frame, video_frame};

/// A world where one publisher (PeerId 1, Opus + VP8) is played by `players` players
/// (PeerId 100..); and the publisher's client index.
pub fn fanout_world(mode: Forwarding, players: u64) -> (World, usize) {
    let mut w = World::with_forwarding(mode);
    let p = w.publish(
        PeerId(1),
        &[Codec::Opus, Codec::Vp8],
        &[MediaKind::Audio, MediaKind::Video],
    );
    for i in 0..players {
        w.play(PeerId(100 + i), PeerId(1));
    }
    (w, p)
}

/// A world where `participants` publishers (PeerId 1.., Opus + VP8) each play every other
/// one (PeerId 1000 + 100 x player + source); the publishers' client indices, and each
/// player's client index with the index (in the first list) of the publisher it plays.
pub fn meeting_world(
    mode: Forwarding,
    participants: u64,
) -> (World, Vec<usize>, Vec<(usize, usize)>) {
    let mut w = World::with_forwarding(mode);
    let pubs: Vec<usize> = (0..participants)
        .map(|i| {
            w.publish(
                PeerId(1 + i),
                &[Codec::Opus, Codec::Vp8],
                &[MediaKind::Audio, MediaKind::Video],
            )
        })
        .collect();
    let mut players = Vec::new();
    for viewer in 0..participants {
        for source in (0..participants).filter(|&s| s != viewer) {
            let (idx, _) = w.play(PeerId(1000 + 100 * viewer + source), PeerId(1 + source));
            players.push((idx, source as usize));
        }
    }
    (w, pubs, players)
}

/// Every publisher's media clock ([`FanoutMedia`]'s media), the publishers' frames spread
/// over a frame interval as real ones are not in step.
pub struct MeetingMedia {
    pub clocks: Vec<FanoutMedia>,
}

impl MeetingMedia {
    pub fn new(publishers: usize) -> Self {
        MeetingMedia {
            clocks: (0..publishers).map(|_| FanoutMedia::default()).collect(),
        }
    }

    /// Sends `how_long` of video and audio from each publisher (client indices `pubs`).
    pub fn send(&mut self, w: &mut World, pubs: &[usize], how_long: Duration) {
        let end = w.now + how_long;
        let n = pubs.len() as u32;
        let start = w.now;
        let mut next: Vec<(std::time::Instant, std::time::Instant)> = (0..n)
            .map(|i| {
                let t = start + Duration::from_millis(33) * i / n;
                (t, t)
            })
            .collect();
        while w.now < end {
            let now = w.now;
            for (i, &p) in pubs.iter().enumerate() {
                let clock = &mut self.clocks[i];
                let (next_v, next_a) = &mut next[i];
                if now >= *next_v {
                    let mut f =
                        video_frame(Codec::Vp8, clock.video, clock.video.is_multiple_of(60));
                    f.resize(4000, 7);
                    w.clients[p].write(MediaKind::Video, now, clock.video as u64 * 3000, &f);
                    clock.video += 1;
                    *next_v += Duration::from_millis(33);
                }
                if now >= *next_a {
                    let a = audio_frame(Codec::Opus, clock.audio);
                    w.clients[p].write(MediaKind::Audio, now, clock.audio as u64 * 960, &a);
                    clock.audio += 1;
                    *next_a += Duration::from_millis(20);
                }
            }
            w.step();
        }
    }
}

/// The publisher's media clock: frames and audio packets sent so far, carried from one
/// `send` into the next (a warm-up, then the measured seconds).
#[derive(Default)]
pub struct FanoutMedia {
    pub video: u32,
    pub audio: u32,
}

impl FanoutMedia {
    /// Sends `how_long` of video and audio from the publisher at client index `p`.
    pub fn send(&mut self, w: &mut World, p: usize, how_long: Duration) {
        let end = w.now + how_long;
        let mut next_v = w.now;
        let mut next_a = w.now;
        while w.now < end {
            let now = w.now;
            if now >= next_v {
                let mut f = video_frame(Codec::Vp8, self.video, self.video.is_multiple_of(60));
                f.resize(4000, 7);
                w.clients[p].write(MediaKind::Video, now, self.video as u64 * 3000, &f);
                self.video += 1;
                next_v += Duration::from_millis(33);
            }
            if now >= next_a {
                let a = audio_frame(Codec::Opus, self.audio);
                w.clients[p].write(MediaKind::Audio, now, self.audio as u64 * 960, &a);
                self.audio += 1;
                next_a += Duration::from_millis(20);
            }
            w.step();
        }
    }
}
