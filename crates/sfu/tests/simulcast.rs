//! Simulcast in frame mode, deterministic: a str0m publisher sending three rid layers (as a
//! browser with `sendEncodings`), two players behind simulated links, one of them limited
//! to 300 kbit/s. Prints the figures it measured.

mod common;

use std::time::{Duration, Instant};

use common::lab::{Lab, Link, Node};
use common::Client;
use std::sync::{Arc, Mutex};

use huddle_room::{MediaCommand, PeerId, RecordRequest};
use huddle_sfu::{Frame, FrameSink};
use str0m::media::MediaKind;

/// Three layers like the opt-in script's (web/client/js/simulcast.js): rid and bytes per frame
/// at 30 fps (about 145, 480 and 1440 kbit/s).
const LAYERS: [(&str, usize); 3] = [("q", 600), ("h", 2000), ("f", 6000)];

/// A synthetic VP8 frame of `layer` (its index into LAYERS in byte 10 after the header, the
/// frame number after that).
fn layer_frame(layer: usize, index: u32, keyframe: bool) -> Vec<u8> {
    let mut v = Vec::with_capacity(LAYERS[layer].1);
    v.push(if keyframe { 0x10 } else { 0x11 });
    v.extend_from_slice(&[0x02, 0x00]);
    v.extend_from_slice(&[0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]);
    v.push(layer as u8);
    v.extend_from_slice(&index.to_be_bytes());
    v.resize(LAYERS[layer].1, 0x55 + layer as u8);
    v
}

fn layer_of(frame: &[u8]) -> usize {
    frame[10] as usize
}

/// The publisher's camera: every layer at 30 fps, each layer's own RTP clock base (browsers
/// need not share one across layers), a keyframe on a layer that was asked for one, and
/// Opus every 20 ms.
struct Camera {
    node: usize,
    next_video: Instant,
    next_audio: Instant,
    vi: u32,
    ai: u32,
    answered: usize,
    keyframes: [u32; 3],
}

impl Camera {
    fn run(&mut self, lab: &mut Lab) {
        let now = lab.now;
        let c = &mut lab.nodes[self.node].client;
        if now >= self.next_video {
            let asked: Vec<_> = c.keyframe_request_layers[self.answered..].to_vec();
            self.answered = c.keyframe_request_layers.len();
            for (i, (rid, _)) in LAYERS.iter().enumerate() {
                let key = self.vi == 0
                    || asked
                        .iter()
                        .any(|r| r.is_none() || r.is_some_and(|r| r.to_string() == *rid));
                if key {
                    self.keyframes[i] += 1;
                }
                let base = 1_000_000 * i as u64;
                let frame = layer_frame(i, self.vi, key);
                c.write_layer(rid, now, base + self.vi as u64 * 3000, &frame);
            }
            self.vi += 1;
            self.next_video += Duration::from_micros(33_333);
        }
        if now >= self.next_audio {
            let frame = common::audio_frame(str0m::format::Codec::Opus, self.ai);
            c.write(MediaKind::Audio, now, self.ai as u64 * 960, &frame);
            self.ai += 1;
            self.next_audio += Duration::from_millis(20);
        }
    }
}

fn run(lab: &mut Lab, cam: &mut Camera, d: Duration) {
    let end = lab.now + d;
    while lab.now < end {
        cam.run(lab);
        lab.pump();
        lab.tick();
    }
}

/// The video a player received at or after `since`: (arrival, layer, media time, keyframe).
fn video_since(c: &Client, since: Instant) -> Vec<(Instant, usize, u64, bool)> {
    c.received
        .iter()
        .zip(&c.received_at)
        .zip(&c.received_time)
        .filter(|(((k, _, _), t), _)| *k == MediaKind::Video && **t >= since)
        .map(|(((_, d, key), t), time)| (*t, layer_of(d), *time, *key))
        .collect()
}

/// The longest time between two video frames, and the largest media-time step (90 kHz).
fn longest_gap(video: &[(Instant, usize, u64, bool)]) -> (Duration, i64) {
    let mut gap = Duration::ZERO;
    let mut step = 0i64;
    for w in video.windows(2) {
        gap = gap.max(w[1].0 - w[0].0);
        step = step.max((w[1].2 as i64 - w[0].2 as i64).abs());
    }
    (gap, step)
}

/// Publishes `peer` with the three layers and runs its camera until connected.
fn publish(lab: &mut Lab, peer: PeerId, record: Option<RecordRequest>) -> Camera {
    let rids: Vec<&str> = LAYERS.iter().map(|(r, _)| *r).collect();
    let (client, offer) = Client::simulcast_publisher(lab.next_addr(), &rids, lab.now);
    let pa = lab.nodes.len();
    lab.nodes.push(Node {
        client,
        up: Link::new(1000),
        down: Link::new(2000),
    });
    lab.command(MediaCommand::Publish {
        peer,
        room: None,
        offer,
        transport: Default::default(),
        record,
    });
    let answer = lab.answer_for(peer).expect("publish answer");
    assert!(
        answer.contains("a=simulcast:recv q;h;f"),
        "the answer accepts the layers:\n{answer}"
    );
    lab.nodes[pa].client.accept_answer(&answer);
    lab.run_until(Duration::from_secs(5), |l| {
        l.connected(peer) && l.nodes[pa].client.connected
    });
    Camera {
        node: pa,
        next_video: lab.now,
        next_audio: lab.now,
        vi: 0,
        ai: 0,
        answered: 0,
        keyframes: [0; 3],
    }
}

#[test]
fn a_slow_player_gets_the_low_layer_the_others_the_high_one_without_freezes() {
    let mut lab = Lab::new();
    let (a, b, c) = (PeerId(1), PeerId(2), PeerId(3));
    let mut cam = publish(&mut lab, a, None);
    run(&mut lab, &mut cam, Duration::from_millis(1500));

    // B on a fine link, C behind 300 kbit/s with a 200 ms router queue.
    let nb = lab.play(b, a);
    let nc_addr = lab.next_addr();
    let (cc, coffer) = Client::player(nc_addr, lab.now);
    let nc = lab.nodes.len();
    lab.nodes.push(Node {
        client: cc,
        up: Link::new(1000 + nc as u64),
        down: Link::new(2000 + nc as u64),
    });
    lab.nodes[nc].down.rate_bps = Some(300_000);
    lab.nodes[nc].down.queue_limit = Duration::from_millis(200);
    lab.command(MediaCommand::Play {
        peer: c,
        source: a,
        offer: coffer,
        transport: Default::default(),
    });
    let answer = lab.answer_for(c).expect("play answer");
    lab.nodes[nc].client.accept_answer(&answer);
    let start = lab.now;
    run(&mut lab, &mut cam, Duration::from_secs(20));

    let quality = lab.sfu.peer_stats();
    let row = |p: PeerId| quality.iter().find(|q| q.peer == p).unwrap().clone();
    let (qb, qc) = (row(b), row(c));
    let settled = start + Duration::from_secs(12);
    let vb = video_since(&lab.nodes[nb].client, start);
    let vc = video_since(&lab.nodes[nc].client, start);
    let last_layers = |v: &[(Instant, usize, u64, bool)]| -> Vec<usize> {
        v.iter().filter(|f| f.0 >= settled).map(|f| f.1).collect()
    };
    let (lb, lc) = (last_layers(&vb), last_layers(&vc));
    let switches = |v: &[(Instant, usize, u64, bool)]| {
        v.windows(2)
            .filter(|w| w[0].1 != w[1].1)
            .map(|w| format!("{}->{} at {:?}", w[0].1, w[1].1, w[1].0 - start))
            .collect::<Vec<_>>()
    };
    // C starts on the middle layer (its estimate starts at 1.5 Mbit/s) and is over its link
    // until it moves down: its freeze check starts at its first low-layer frame.
    let (gap_b, step_b) = longest_gap(&vb);
    let c_low = vc
        .iter()
        .position(|f| f.1 == 0)
        .expect("C reached the low layer");
    let (gap_c, step_c) = longest_gap(&vc[c_low..]);
    let (gap_c_all, _) = longest_gap(&vc);
    println!(
        "C: first low-layer frame {:?} after its play; longest gap before it {gap_c_all:?}",
        vc[c_low].0 - start
    );
    println!(
        "B: estimate {} kbit/s, {} frames, switches {:?}, longest gap {:?}, largest time step {step_b}",
        qb.estimate_bps.unwrap_or(0) / 1000,
        vb.len(),
        switches(&vb),
        gap_b
    );
    println!(
        "C: estimate {} kbit/s, {} frames, switches {:?}, longest gap {:?}, largest time step {step_c}, paused {}, dropped {}",
        qc.estimate_bps.unwrap_or(0) / 1000,
        vc.len(),
        switches(&vc),
        gap_c,
        qc.video_paused,
        qc.video_frames_dropped
    );
    println!(
        "publisher keyframes per layer (q, h, f): {:?}",
        cam.keyframes
    );

    // The last 8 s: B on the high layer only, C on the low layer only, both at ~30 fps.
    assert!(lb.len() >= 8 * 28, "B got {} frames in 8 s", lb.len());
    assert!(lb.iter().all(|&l| l == 2), "B's layers: {lb:?}");
    assert!(lc.len() >= 8 * 28, "C got {} frames in 8 s", lc.len());
    assert!(lc.iter().all(|&l| l == 0), "C's layers: {lc:?}");
    assert!(!qc.video_paused, "the low layer fits C's link");
    // Every switch went through a keyframe of the new layer, with no freeze and with
    // continuous timestamps (each layer has its own clock base, 1 000 000 ticks apart).
    for v in [&vb, &vc] {
        for w in v.windows(2).filter(|w| w[0].1 != w[1].1) {
            assert!(w[1].3, "a switch starts on a keyframe");
        }
    }
    assert!(gap_b <= Duration::from_millis(300), "B froze {gap_b:?}");
    assert!(gap_c <= Duration::from_millis(300), "C froze {gap_c:?}");
    assert!(
        step_b <= 90 * 300 && step_c <= 90 * 300,
        "time steps {step_b} {step_c}"
    );
    // A switch asks its own layer for a keyframe, not all of them every time.
    assert!(cam.keyframes[2] < cam.keyframes[0] + cam.keyframes[1] + 2);
}

/// A recorder keeping every frame.
struct Keep(Arc<Mutex<Vec<Frame>>>);

impl FrameSink for Keep {
    fn frame(&mut self, frame: &Frame) {
        self.0.lock().unwrap().push(frame.clone());
    }
    fn close(&mut self) {}
}

/// The recorder takes the highest layer only, its times continuous, whatever players get.
#[test]
fn the_recorder_takes_the_highest_layer() {
    let mut lab = Lab::new();
    let frames = Arc::new(Mutex::new(Vec::new()));
    let keep = frames.clone();
    lab.sfu.set_recorder_factory(Box::new(move |_, _, _| {
        Ok(Box::new(Keep(keep.clone())) as Box<dyn FrameSink>)
    }));
    let record = RecordRequest {
        file_name: "simulcast-test".into(),
        room: None,
        login: "publisher".into(),
        stream: "s".into(),
        started_unix_ms: 0,
    };
    let a = PeerId(1);
    let mut cam = publish(&mut lab, a, Some(record));
    run(&mut lab, &mut cam, Duration::from_secs(3));
    let frames = frames.lock().unwrap();
    let video: Vec<&Frame> = frames
        .iter()
        .filter(|f| f.kind == MediaKind::Video)
        .collect();
    let layers: Vec<usize> = video.iter().map(|f| layer_of(&f.data)).collect();
    println!(
        "recorder: {} video frames of {} sent per layer, first layers {:?}",
        video.len(),
        cam.vi,
        &layers[..layers.len().min(5)]
    );
    // The first frames of the lower layers arrive before the top one is known; from the top
    // layer's first keyframe on, only it.
    let top = layers.iter().position(|&l| l == 2).expect("the top layer");
    assert!(
        top <= 2,
        "the top layer's first frame is recorded at once: {layers:?}"
    );
    assert!(layers[top..].iter().all(|&l| l == 2), "{layers:?}");
    assert!(
        video.len() >= cam.vi as usize - 3,
        "{} of {}",
        video.len(),
        cam.vi
    );
    for w in video.windows(2) {
        let step = w[1].time.numer() as i64 - w[0].time.numer() as i64;
        assert!((1..=3100).contains(&step), "time step {step}");
    }
}
