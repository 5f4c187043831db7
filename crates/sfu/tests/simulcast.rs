//! Simulcast, deterministic: str0m publishers sending three rid layers (as a browser with
//! `sendEncodings`), players behind simulated links, some limited to 300 kbit/s (one of them
//! with two players on that one link, as a browser in a 3-party call). Every scenario runs in
//! both forwarding modes (frame, and RTP where players follow a layer packet by packet through
//! their `Rewriter`), with the same assertions. Prints the figures it measured.

use crate::common;

use std::time::{Duration, Instant};

use common::lab::{Lab, Link, Node};
use common::Client;
use std::sync::{Arc, Mutex};

use huddle_room::{MediaCommand, PeerId, PlayConstraints, RecordRequest};
use huddle_sfu::{Forwarding, Frame, FrameSink};
use str0m::media::MediaKind;

/// Three layers like the opt-in script's (web/client/js/simulcast.js): rid and bytes per frame
/// at 30 fps (about 36, 480 and 1440 kbit/s; two q layers with their audio and packet
/// overhead take about 190 kbit/s of a 300 kbit/s link).
const LAYERS: [(&str, usize); 3] = [("q", 200), ("h", 2000), ("f", 6000)];

/// The layers' picture sizes, as a 1280x720 camera's scaled down by 4, 2 and 1.
const SIZES: [(u16, u16); 3] = [(320, 180), (640, 360), (1280, 720)];

/// A synthetic VP8 frame of `layer`: its picture size in the keyframe header, its index into
/// LAYERS in byte 10 after the header, the frame number after that.
fn layer_frame(layer: usize, index: u32, keyframe: bool) -> Vec<u8> {
    let mut v = Vec::with_capacity(LAYERS[layer].1);
    v.push(if keyframe { 0x10 } else { 0x11 });
    v.extend_from_slice(&[0x02, 0x00]);
    v.extend_from_slice(&[0x9d, 0x01, 0x2a]);
    let (w, h) = SIZES[layer];
    v.extend_from_slice(&w.to_le_bytes());
    v.extend_from_slice(&h.to_le_bytes());
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
    /// Layers the encoder no longer sends (as Chrome drops a layer under CPU or uplink
    /// limits), the others going on.
    dropped: [bool; 3],
}

impl Camera {
    fn run(&mut self, lab: &mut Lab) {
        let now = lab.now;
        let c = &mut lab.nodes[self.node].client;
        if now >= self.next_video {
            let asked: Vec<_> = c.keyframe_request_layers[self.answered..].to_vec();
            self.answered = c.keyframe_request_layers.len();
            for (i, (rid, _)) in LAYERS.iter().enumerate() {
                if self.dropped[i] {
                    continue;
                }
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
    run_all(lab, std::slice::from_mut(cam), d)
}

fn run_all(lab: &mut Lab, cams: &mut [Camera], d: Duration) {
    let end = lab.now + d;
    while lab.now < end {
        for cam in cams.iter_mut() {
            cam.run(lab);
        }
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

/// The encoder drops `layer` (its other layers go on) and the lab runs for `watch`: when it
/// dropped, and node `n`'s video frames from 100 ms before.
fn drop_layer(
    lab: &mut Lab,
    cam: &mut Camera,
    layer: usize,
    n: usize,
    watch: Duration,
) -> (Instant, Vec<(Instant, usize, u64, bool)>) {
    let dropped_at = lab.now;
    cam.dropped[layer] = true;
    run(lab, cam, watch);
    let v = video_since(
        &lab.nodes[n].client,
        dropped_at - Duration::from_millis(100),
    );
    (dropped_at, v)
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
        dropped: [false; 3],
    }
}

fn a_slow_player_gets_the_low_layer_the_others_the_high_one_without_freezes(mode: Forwarding) {
    let mut lab = Lab::new();
    lab.sfu.set_forwarding(mode);
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
        constraints: Default::default(),
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
    // Both start on the low layer (no estimate yet); B climbs, C stays.
    let (gap_b, step_b) = longest_gap(&vb);
    let (gap_c, step_c) = longest_gap(&vc);
    assert_eq!(vb[0].1, 0, "B starts on the low layer");
    assert_eq!(vc[0].1, 0, "C starts on the low layer");
    println!(
        "first frame after the play: B {:?}, C {:?}",
        vb[0].0 - start,
        vc[0].0 - start
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

    // The last 8 s: B above the low layer (it climbs as its estimate grows, which from a
    // low start takes longer than 20 s to reach f: see docs/RTP_MODE.md), C on the low layer
    // only, both at ~30 fps.
    assert!(lb.len() >= 8 * 28, "B got {} frames in 8 s", lb.len());
    assert!(lb.iter().all(|&l| l >= 1), "B's layers: {lb:?}");
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

/// A player whose client is at `addr`, its downlink its own node's or (`via`) another
/// node's; returns its node.
fn add_player(
    lab: &mut Lab,
    peer: PeerId,
    source: PeerId,
    addr: std::net::SocketAddr,
    via: Option<usize>,
    constraints: PlayConstraints,
) -> usize {
    let (client, offer) = Client::player(addr, lab.now);
    let n = lab.nodes.len();
    lab.nodes.push(Node {
        client,
        up: Link::new(1000 + n as u64),
        down: Link::new(2000 + n as u64),
    });
    if let Some(v) = via {
        lab.down_via.push((addr, v));
    }
    lab.command(MediaCommand::Play {
        peer,
        source,
        offer,
        transport: Default::default(),
        constraints,
    });
    let answer = lab.answer_for(peer).expect("play answer");
    lab.nodes[n].client.accept_answer(&answer);
    n
}

/// The netlab's 3-party call, in simulated time: A and B on fine links see each other on the
/// high layer; C plays both from one browser (one IP) behind one 300 kbit/s link: both its
/// players start on the low layer and stay there, the sum of their layers fitting the link,
/// with no freeze from their first frame on.
fn two_players_of_one_browser_behind_300_kbits_share_the_link_on_the_low_layer(mode: Forwarding) {
    let mut lab = Lab::new();
    lab.sfu.set_forwarding(mode);
    let (a, b) = (PeerId(1), PeerId(2));
    let mut cams = vec![publish(&mut lab, a, None), publish(&mut lab, b, None)];
    run_all(&mut lab, &mut cams, Duration::from_millis(1500));

    let start = lab.now;
    let a_addr = lab.next_addr();
    let free = PlayConstraints::default();
    let na = add_player(&mut lab, PeerId(11), b, a_addr, None, free);
    let b_addr = lab.next_addr();
    let nb = add_player(&mut lab, PeerId(12), a, b_addr, None, free);
    let c_ip = lab.next_addr();
    let nc_a = add_player(&mut lab, PeerId(13), a, c_ip, None, free);
    lab.nodes[nc_a].down.rate_bps = Some(300_000);
    lab.nodes[nc_a].down.queue_limit = Duration::from_millis(200);
    let c_port2 = std::net::SocketAddr::new(c_ip.ip(), c_ip.port() + 1);
    let nc_b = add_player(&mut lab, PeerId(14), b, c_port2, Some(nc_a), free);
    // A and B climb q -> h -> f as their estimates grow (each step held UP_AFTER): ~10 s.
    run_all(&mut lab, &mut cams, Duration::from_secs(25));

    let settled = start + Duration::from_secs(17);
    let quality = lab.sfu.peer_stats();
    for (name, node, peer, want) in [
        // Above the low layer (the climb to f from a low start is slow: see the first test).
        ("A<-B", na, PeerId(11), 1),
        ("B<-A", nb, PeerId(12), 1),
        ("C<-A", nc_a, PeerId(13), 0),
        ("C<-B", nc_b, PeerId(14), 0),
    ] {
        let v = video_since(&lab.nodes[node].client, start);
        assert!(!v.is_empty(), "{name}: no video");
        let late: Vec<usize> = v.iter().filter(|f| f.0 >= settled).map(|f| f.1).collect();
        let (gap, step) = longest_gap(&v);
        let switches: Vec<String> = v
            .windows(2)
            .filter(|w| w[0].1 != w[1].1)
            .map(|w| format!("{}->{} at {:?}", w[0].1, w[1].1, w[1].0 - start))
            .collect();
        let q = quality.iter().find(|q| q.peer == peer).unwrap();
        println!(
            "{name}: first frame {:?} after the plays (layer {}), switches {switches:?}, {} frames, last 8 s {} frames, longest gap {gap:?}, largest time step {step}, estimate {} kbit/s, paused {}, dropped {}",
            v[0].0 - start,
            v[0].1,
            v.len(),
            late.len(),
            q.estimate_bps.unwrap_or(0) / 1000,
            q.video_paused,
            q.video_frames_dropped
        );
        if let Some(w) = v.windows(2).find(|w| w[1].0 - w[0].0 == gap) {
            println!("{name}: longest gap at {:?}", w[0].0 - start);
        }
        assert_eq!(v[0].1, 0, "{name} starts on the low layer");
        assert!(late.len() >= 8 * 28, "{name}: {} frames in 8 s", late.len());
        let fits = |l: usize| if want == 0 { l == 0 } else { l >= want };
        assert!(late.iter().all(|&l| fits(l)), "{name}: layers {late:?}");
        assert!(gap <= Duration::from_millis(300), "{name} froze {gap:?}");
        assert!(step <= 90 * 300, "{name}: time step {step}");
        for w in v.windows(2).filter(|w| w[0].1 != w[1].1) {
            assert!(w[1].3, "{name}: a switch starts on a keyframe");
        }
    }
    println!(
        "C's link: {} packets sent, {} tail-dropped",
        lab.nodes[nc_a].down.sent, lab.nodes[nc_a].down.dropped
    );
    // The link is not kept full: what it drops is under 1 %. (Both players probing it high at
    // their start, before layers.rs `aim_above_own_layer`, overflowed its queue: 30 drops of
    // ~4200, 0.7 %, and the freezes of 324-446 ms the bound above now catches; since, none.)
    let link = &lab.nodes[nc_a].down;
    assert!(
        link.dropped * 100 <= link.sent,
        "C's link dropped {}",
        link.dropped
    );
}

/// `playStream` constraints cap the layer whatever the link: on fast links a player that asked
/// for 320x240 gets the low layer from its first frame to the last (no probing, no switch),
/// one that asked quality 50 climbs no higher than the middle layer, and one that asked
/// nothing climbs to the top.
fn play_constraints_cap_the_layer_on_a_fast_link(mode: Forwarding) {
    let mut lab = Lab::new();
    lab.sfu.set_forwarding(mode);
    // 1 ms steps: str0m pads at most one packet per timeout, so at the lab's default 2 ms the
    // padding toward f (a probe) stalls at ~800 kbit/s above the media and the probe fails;
    // a server's driver wakes at every timeout str0m asks for.
    lab.step = Duration::from_millis(1);
    let a = PeerId(1);
    let mut cam = publish(&mut lab, a, None);
    run(&mut lab, &mut cam, Duration::from_millis(1500));

    let start = lab.now;
    let asked = [
        (
            "320x240",
            PlayConstraints {
                width: Some(320),
                height: Some(240),
                ..Default::default()
            },
        ),
        (
            "quality 50",
            PlayConstraints {
                quality: Some(50),
                ..Default::default()
            },
        ),
        ("nothing", PlayConstraints::default()),
    ];
    let mut nodes = Vec::new();
    for (i, (_, constraints)) in asked.iter().enumerate() {
        let addr = lab.next_addr();
        nodes.push(add_player(
            &mut lab,
            PeerId(11 + i as u64),
            a,
            addr,
            None,
            *constraints,
        ));
    }
    run(&mut lab, &mut cam, Duration::from_secs(25));

    let settled = start + Duration::from_secs(20);
    let mut top = Vec::new();
    for ((name, _), node) in asked.iter().zip(&nodes) {
        let v = video_since(&lab.nodes[*node].client, start);
        let layers: Vec<usize> = v.iter().map(|f| f.1).collect();
        let late = v.iter().filter(|f| f.0 >= settled).count();
        let (gap, _) = longest_gap(&v);
        let switches: Vec<String> = v
            .windows(2)
            .filter(|w| w[0].1 != w[1].1)
            .map(|w| format!("{}->{} at {:?}", w[0].1, w[1].1, w[1].0 - start))
            .collect();
        println!(
            "asked {name}: {} frames, last 5 s {late}, switches {switches:?}, longest gap {gap:?}",
            v.len()
        );
        assert!(late >= 5 * 28, "{name}: {late} frames in 5 s");
        assert!(gap <= Duration::from_millis(300), "{name} froze {gap:?}");
        top.push((
            layers[0],
            *layers.iter().max().unwrap(),
            *layers.last().unwrap(),
        ));
    }
    // (first, highest, last) layer of each.
    assert_eq!(top[0], (0, 0, 0), "320x240: the low layer only");
    assert_eq!(top[1].1, 1, "quality 50: up to the middle layer, not above");
    assert_eq!(top[2].2, 2, "nothing asked: the top layer in the end");
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
fn the_recorder_takes_the_highest_layer(mode: Forwarding) {
    let mut lab = Lab::new();
    lab.sfu.set_forwarding(mode);
    let frames = Arc::new(Mutex::new(Vec::new()));
    let keep = frames.clone();
    let keep_all = frames.clone();
    lab.sfu.set_recorder_factory(Box::new(move |_, _, _| {
        Ok(Box::new(Keep(keep.clone())) as Box<dyn FrameSink>)
    }));
    let record = common::record_request("simulcast-test");
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
    let recorded = video.len();
    drop(frames);

    // The encoder drops the top layer: the recorder moves to the next one at once, on its
    // keyframe, its clock continuous.
    let dropped_at = lab.now;
    cam.dropped[2] = true;
    run(&mut lab, &mut cam, Duration::from_secs(2));
    let frames = keep_all.lock().unwrap();
    let video: Vec<&Frame> = frames
        .iter()
        .filter(|f| f.kind == MediaKind::Video)
        .collect();
    let after = &video[recorded - 1..];
    let first_h = after
        .iter()
        .position(|f| layer_of(&f.data) == 1)
        .expect("the recorder moved to h");
    let gap = after[first_h].network_time - after[first_h - 1].network_time;
    println!(
        "recorder: top layer dropped; h from {:?} after the drop, a gap of {gap:?}",
        after[first_h].network_time - dropped_at
    );
    assert!(after[first_h].keyframe, "the move starts on a keyframe");
    assert!(gap <= Duration::from_millis(300), "recording gap {gap:?}");
    assert!(after[first_h..].iter().all(|f| layer_of(&f.data) == 1));
    for w in after.windows(2) {
        let step = w[1].time.numer() as i64 - w[0].time.numer() as i64;
        assert!((1..=90 * 300).contains(&step), "time step {step}");
    }
}

/// The publisher's encoder drops the layer a player follows while its other layers go on
/// (Chrome does under CPU or uplink limits): the player moves to another layer at once, on
/// a keyframe, without a freeze (issue 15: switches freeze < 300 ms). The server took a layer
/// for stopped only after 1 s without a frame, noticed at its next 500 ms housekeeping:
/// 1-1.5 s of frozen picture, the gaps the browser lab saw (docs/NETLAB.md). The lowest
/// layer skipping frames (its encoder after a keyframe, to keep to its few kbit/s) moves
/// nobody: its players are those no other layer fits.
fn a_layer_the_encoder_drops_moves_its_players_without_a_freeze(mode: Forwarding) {
    let mut lab = Lab::new();
    lab.sfu.set_forwarding(mode);
    let (a, b, c) = (PeerId(1), PeerId(2), PeerId(3));
    let mut cam = publish(&mut lab, a, None);
    run(&mut lab, &mut cam, Duration::from_millis(1500));
    // B on a fast link climbs above the low layer; C is capped to the low one.
    let nb = lab.play(b, a);
    let nc_addr = lab.next_addr();
    let cap = PlayConstraints {
        width: Some(320),
        ..Default::default()
    };
    let nc = add_player(&mut lab, c, a, nc_addr, None, cap);
    run(&mut lab, &mut cam, Duration::from_secs(20));
    let last_layer = |lab: &Lab, n: usize| {
        let v = video_since(&lab.nodes[n].client, lab.now - Duration::from_secs(1));
        v.last().map(|f| f.1)
    };
    let followed = last_layer(&lab, nb).expect("B gets video");
    assert!(followed >= 1, "B climbed above the low layer");
    assert_eq!(last_layer(&lab, nc), Some(0), "C is on the low layer");

    // The low layer skips 400 ms of frames: C stays on it.
    let skip = lab.now;
    cam.dropped[0] = true;
    run(&mut lab, &mut cam, Duration::from_millis(400));
    cam.dropped[0] = false;
    run(&mut lab, &mut cam, Duration::from_secs(2));
    let vc = video_since(&lab.nodes[nc].client, skip);
    let (gap_c, _) = longest_gap(&vc);
    println!("C: the low layer skipped 400 ms; longest gap {gap_c:?}");
    assert!(vc.iter().all(|f| f.1 == 0), "C stayed on the low layer");
    assert!(gap_c <= Duration::from_millis(450), "C froze {gap_c:?}");

    // The encoder drops B's layer.
    let (dropped_at, v) = drop_layer(&mut lab, &mut cam, followed, nb, Duration::from_secs(3));
    let (gap, step) = longest_gap(&v);
    let moved = v
        .iter()
        .find(|f| f.1 != followed)
        .map(|f| (f.0 - dropped_at, f.1, f.3));
    println!("B: layer {followed} dropped; first frame of another layer {moved:?}, longest gap {gap:?}, largest time step {step}");
    let (_, layer, keyframe) = moved.expect("B left the dropped layer");
    assert!(keyframe, "B's switch to layer {layer} starts on a keyframe");
    assert!(gap <= Duration::from_millis(300), "B froze {gap:?}");
    assert!(step <= 90 * 300, "B's time step {step}");
    let end: Vec<usize> = v
        .iter()
        .filter(|f| f.0 >= lab.now - Duration::from_secs(1))
        .map(|f| f.1)
        .collect();
    assert!(
        end.len() >= 28,
        "B got {} frames in the last second",
        end.len()
    );
    assert!(end.iter().all(|&l| l != followed), "B's layers: {end:?}");

    // C's decoder asks for a keyframe, and 300 ms later the encoder drops B's new layer too:
    // B's request may not wait out the publisher's whole keyframe interval behind C's (it
    // froze ~750 ms then), only the short gap Chrome needs between two requests.
    let now_on = *end.last().unwrap();
    assert_ne!(now_on, 0, "B is above the low layer");
    let keyframes_before = cam.keyframes;
    lab.nodes[nc].client.request_keyframe(lab.now);
    run(&mut lab, &mut cam, Duration::from_millis(300));
    assert!(
        cam.keyframes[0] > keyframes_before[0],
        "C's request reached the publisher: {keyframes_before:?} -> {:?}",
        cam.keyframes
    );
    let (dropped_at, v) = drop_layer(&mut lab, &mut cam, now_on, nb, Duration::from_secs(2));
    let (gap, _) = longest_gap(&v);
    let moved = v.iter().find(|f| f.1 == 0).map(|f| (f.0 - dropped_at, f.3));
    println!("B: layer {now_on} dropped 300 ms after C's keyframe request; on the low layer {moved:?}, longest gap {gap:?}");
    let (_, keyframe) = moved.expect("B moved to the low layer");
    assert!(keyframe, "B's switch to the low layer starts on a keyframe");
    assert!(gap <= Duration::from_millis(300), "B froze {gap:?}");
    println!(
        "publisher keyframes per layer (q, h, f): {:?}",
        cam.keyframes
    );
}

in_both_modes!(
    a_layer_the_encoder_drops_moves_its_players_without_a_freeze,
    a_slow_player_gets_the_low_layer_the_others_the_high_one_without_freezes,
    two_players_of_one_browser_behind_300_kbits_share_the_link_on_the_low_layer,
    play_constraints_cap_the_layer_on_a_fast_link,
    the_recorder_takes_the_highest_layer,
);
