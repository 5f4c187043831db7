//! `forwarding = "rtp"` through the sans-IO core, deterministic: str0m clients publish
//! (str0m packetizes) and play (str0m depacketizes) while the SFU forwards packets; the
//! frames players and the recorder get must be the frames sent, exactly as in frame mode.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{assert_window, audio_frame, video_frame, Client};
use huddle_room::{MediaCommand, MediaEvent, PeerId};
use huddle_sfu::{Forwarding, Frame, FrameSink, Sfu};
use str0m::format::Codec;
use str0m::media::MediaKind;

const STEP: Duration = Duration::from_millis(5);

struct World {
    sfu: Sfu,
    server: SocketAddr,
    clients: Vec<Client>,
    now: Instant,
    events: Vec<MediaEvent>,
    /// Every Nth datagram from client 0 (the publisher) to the server is lost (0: none).
    drop_publisher_every: usize,
    publisher_datagrams: usize,
}

/// A recorder stand-in: keeps what it is given.
struct Keep(Arc<Mutex<Vec<Frame>>>);

impl FrameSink for Keep {
    fn frame(&mut self, frame: &Frame) {
        self.0.lock().unwrap().push(frame.clone());
    }
    fn close(&mut self) {}
}

impl World {
    fn new(forwarding: Forwarding) -> World {
        let now = Instant::now();
        let server: SocketAddr = "10.0.0.1:4000".parse().unwrap();
        let mut sfu = Sfu::new_standalone(vec![server], now);
        sfu.set_forwarding(forwarding);
        World {
            sfu,
            server,
            clients: Vec::new(),
            now,
            events: Vec::new(),
            drop_publisher_every: 0,
            publisher_datagrams: 0,
        }
    }

    fn record_into(&mut self) -> Arc<Mutex<Vec<Frame>>> {
        let frames = Arc::new(Mutex::new(Vec::new()));
        let keep = frames.clone();
        self.sfu.set_recorder_factory(Box::new(move |_, _, _| {
            Ok(Box::new(Keep(keep.clone())) as Box<dyn FrameSink>)
        }));
        frames
    }

    fn addr(i: usize) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 10 + i as u8], 5000))
    }

    fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            for (i, c) in self.clients.iter_mut().enumerate() {
                for (dest, data) in std::mem::take(&mut c.outbox) {
                    moved = true;
                    if i == 0 && c.connected && self.drop_publisher_every > 0 {
                        self.publisher_datagrams += 1;
                        if self
                            .publisher_datagrams
                            .is_multiple_of(self.drop_publisher_every)
                        {
                            continue;
                        }
                    }
                    if dest == self.server {
                        self.sfu
                            .handle_datagram(self.now, c.addr, self.server, &data);
                    }
                }
            }
            while let Some(t) = self.sfu.poll_transmit() {
                moved = true;
                if let Some(c) = self.clients.iter_mut().find(|c| c.addr == t.destination) {
                    c.receive(self.now, self.server, &t.contents);
                }
            }
            while let Some(e) = self.sfu.poll_event() {
                self.events.push(e);
            }
            if !moved {
                return;
            }
        }
        panic!("pump did not settle");
    }

    fn step(&mut self) {
        self.now += STEP;
        if self.sfu.poll_timeout() <= self.now {
            self.sfu.handle_timeout(self.now);
        }
        for c in &mut self.clients {
            if !c.negotiating() && c.next_timeout <= self.now {
                c.timeout(self.now);
            }
        }
        self.pump();
    }

    fn answer(&self, peer: PeerId) -> String {
        self.events
            .iter()
            .find_map(|e| match e {
                MediaEvent::Answer { peer: p, sdp } if *p == peer => Some(sdp.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no answer for {peer}: {:?}", self.events))
    }

    fn connected(&self, peer: PeerId) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, MediaEvent::Connected { peer: p } if *p == peer))
    }

    fn wait_connected(&mut self, peer: PeerId, idx: usize) {
        for _ in 0..1000 {
            if self.connected(peer) && self.clients[idx].connected {
                return;
            }
            self.step();
        }
        panic!("{peer} did not connect");
    }

    fn publish(&mut self, peer: PeerId, codecs: &[Codec], record: bool) {
        let idx = self.clients.len();
        let kinds = [MediaKind::Audio, MediaKind::Video];
        let (client, offer) = Client::publisher(Self::addr(idx), codecs, &kinds, self.now);
        self.clients.push(client);
        let record = record.then(|| huddle_room::RecordRequest {
            file_name: "rtp-mode-test".into(),
            room: None,
            login: "publisher".into(),
            stream: "s".into(),
            started_unix_ms: 0,
        });
        self.sfu.handle_command(
            MediaCommand::Publish {
                peer,
                room: None,
                offer,
                transport: Default::default(),
                record,
            },
            self.now,
        );
        self.pump();
        let answer = self.answer(peer);
        self.clients[idx].accept_answer(&answer);
        self.pump();
        self.wait_connected(peer, idx);
    }

    fn play(&mut self, peer: PeerId, source: PeerId) -> usize {
        let idx = self.clients.len();
        let (client, offer) = Client::player(Self::addr(idx), self.now);
        self.clients.push(client);
        self.sfu.handle_command(
            MediaCommand::Play {
                peer,
                source,
                offer,
                transport: Default::default(),
            },
            self.now,
        );
        self.pump();
        let answer = self.answer(peer);
        self.clients[idx].accept_answer(&answer);
        self.pump();
        self.wait_connected(peer, idx);
        idx
    }

    /// The publisher (client 0) sends `seconds` of 25 fps video (a keyframe every
    /// `key_every` frames, the first one a keyframe) and 50 packets/s audio.
    fn send(&mut self, video: Codec, audio: Codec, frames: u32, key_every: u32) -> Sent {
        let mut sent = Sent::default();
        for i in 0..frames {
            let key = i % key_every == 0;
            let v = video_frame(video, i, key);
            let now = self.now;
            self.clients[0].write(MediaKind::Video, now, 90_000 + i as u64 * 3600, &v);
            sent.video.push(v);
            for j in 0..2 {
                let n = i * 2 + j;
                let a = audio_frame(audio, n);
                let rate = if audio == Codec::Opus { 960 } else { 160 };
                self.clients[0].write(MediaKind::Audio, now, 48_000 + n as u64 * rate, &a);
                sent.audio.push(a);
                self.step();
                self.step();
                self.step();
                self.step();
            }
        }
        for _ in 0..200 {
            self.step();
        }
        sent
    }
}

#[derive(Default)]
struct Sent {
    video: Vec<Vec<u8>>,
    audio: Vec<Vec<u8>>,
}

fn fan_out(video: Codec, audio: Codec) {
    let mut w = World::new(Forwarding::Rtp);
    let publisher = PeerId(1);
    w.publish(publisher, &[audio, video], false);
    let players: Vec<usize> = (0..3).map(|i| w.play(PeerId(10 + i), publisher)).collect();
    let sent = w.send(video, audio, 60, 20);
    for (n, &idx) in players.iter().enumerate() {
        let c = &w.clients[idx];
        let got_v = c.frames(MediaKind::Video);
        let got_a = c.frames(MediaKind::Audio);
        println!(
            "{video:?}/{audio:?} player {n}: {} of {} video frames, {} of {} audio frames",
            got_v.len(),
            sent.video.len(),
            got_a.len(),
            sent.audio.len()
        );
        assert_eq!(
            got_v.len(),
            sent.video.len(),
            "every video frame, from the first keyframe"
        );
        assert_window(&sent.video, &got_v, "video");
        assert!(
            got_a.len() + 2 >= sent.audio.len(),
            "audio: {} of {}",
            got_a.len(),
            sent.audio.len()
        );
        assert_window(&sent.audio, &got_a, "audio");
        let first_key = c.received.iter().find(|(k, _, _)| *k == MediaKind::Video);
        assert!(
            first_key.unwrap().2,
            "the first video frame a player gets is a keyframe"
        );
    }
    assert_eq!(w.sfu.stats().players, 3);
}

#[test]
fn vp8_and_opus_reach_every_player_unchanged() {
    fan_out(Codec::Vp8, Codec::Opus);
}

#[test]
fn h264_and_opus_reach_every_player_unchanged() {
    fan_out(Codec::H264, Codec::Opus);
}

#[test]
fn h264_and_pcmu_reach_every_player_unchanged() {
    fan_out(Codec::H264, Codec::PCMU);
}

/// What the recorder gets: (kind, media time, keyframe, bytes).
/// A recorded frame: (kind, media time, keyframe, bytes).
type Recorded = (MediaKind, u64, bool, Vec<u8>);

fn recorded(forwarding: Forwarding, video: Codec) -> (Vec<Recorded>, Sent) {
    let mut w = World::new(forwarding);
    let frames = w.record_into();
    w.publish(PeerId(1), &[Codec::Opus, video], true);
    let sent = w.send(video, Codec::Opus, 40, 20);
    let got = frames
        .lock()
        .unwrap()
        .iter()
        .map(|f| (f.kind, f.time.numer(), f.keyframe, f.data.to_vec()))
        .collect();
    (got, sent)
}

fn recorder_frames_equal_frame_mode(video: Codec) {
    let (frame_mode, sent) = recorded(Forwarding::Frame, video);
    let (rtp_mode, _) = recorded(Forwarding::Rtp, video);
    let kind = |v: &[Recorded], k| v.iter().filter(|f| f.0 == k).cloned().collect::<Vec<_>>();
    for k in [MediaKind::Video, MediaKind::Audio] {
        let (a, b) = (kind(&frame_mode, k), kind(&rtp_mode, k));
        println!(
            "{video:?} {k:?}: frame mode {} frames, rtp mode {}",
            a.len(),
            b.len()
        );
        assert!(!b.is_empty());
        assert_eq!(
            a, b,
            "{k:?} frames (time, keyframe flag, bytes) as frame mode gives them"
        );
    }
    let rec_video: Vec<&[u8]> = rtp_mode
        .iter()
        .filter(|f| f.0 == MediaKind::Video)
        .map(|f| f.3.as_slice())
        .collect();
    assert_eq!(rec_video.len(), sent.video.len());
    assert_window(&sent.video, &rec_video, "recorded video");
}

#[test]
fn recorder_gets_the_frames_frame_mode_gives_vp8() {
    recorder_frames_equal_frame_mode(Codec::Vp8);
}

#[test]
fn recorder_gets_the_frames_frame_mode_gives_h264() {
    recorder_frames_equal_frame_mode(Codec::H264);
}

/// Loss between publisher and server: str0m NACKs the publisher, the retransmission comes
/// back late (out of order) and is forwarded under the number the player expects.
#[test]
fn publisher_loss_is_repaired_by_nack_and_players_still_get_every_frame() {
    let mut w = World::new(Forwarding::Rtp);
    let publisher = PeerId(1);
    w.publish(publisher, &[Codec::Opus, Codec::Vp8], false);
    let idx = w.play(PeerId(2), publisher);
    w.drop_publisher_every = 23;
    let sent = w.send(Codec::Vp8, Codec::Opus, 50, 25);
    let got = w.clients[idx].frames(MediaKind::Video);
    println!(
        "1 of 23 publisher datagrams lost: player got {} of {} video frames",
        got.len(),
        sent.video.len()
    );
    assert_window(&sent.video, &got, "video");
    assert!(
        got.len() + 2 >= sent.video.len(),
        "NACK repaired the losses: {} of {}",
        got.len(),
        sent.video.len()
    );
}
