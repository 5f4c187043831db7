//! Issue 11's lossy participant, deterministic: 5 % random loss both ways and 60 ms RTT on C's
//! links, no rate limit, 30 s in simulated time. Mirrors `e2e/netlab/loss.test.js` (A publishes
//! on a perfect link, C plays A; C publishes through its lossy uplink, B plays C on a perfect
//! link) without a browser, so what the server does about loss is measured without the
//! machine's load in the figures.
//!
//! "Frozen" is counted as Chrome counts it (`totalFreezesDuration`): a gap between two
//! delivered video frames longer than max(3 x the mean frame interval, mean + 150 ms); here at
//! 30 fps, any gap over 200 ms, all of it counted.

use crate::common;

use std::time::{Duration, Instant};

use common::lab::{Lab, Link, Source};
use common::Client;
use huddle_room::PeerId;
use huddle_sfu::{Forwarding, PeerQuality};
use str0m::format::Codec;
use str0m::media::MediaKind;
use str0m::rtp::Extension;
use str0m::Rtc;

const AV: &[MediaKind] = &[MediaKind::Audio, MediaKind::Video];
const VP8_OPUS: &[Codec] = &[Codec::Opus, Codec::Vp8];
/// A video frame of the synthetic camera: 800 bytes at 30 fps is about 190 kbit/s, what
/// Chrome's fake camera at 320x240 sends in the browser scenario.
const FRAME_BYTES: usize = 800;
const FREEZE_GAP: Duration = Duration::from_millis(200);

/// What one player got in the measuring window.
#[derive(Debug)]
struct Picture {
    frames: usize,
    frozen: Duration,
    freezes: usize,
    longest_gap: Duration,
}

fn picture(lab: &Lab, node: usize, from: Instant, to: Instant) -> Picture {
    let c = &lab.nodes[node].client;
    let times: Vec<Instant> = c
        .received
        .iter()
        .zip(&c.received_at)
        .filter(|((k, _, _), t)| *k == MediaKind::Video && **t >= from && **t < to)
        .map(|(_, t)| *t)
        .collect();
    let mut p = Picture {
        frames: times.len(),
        frozen: Duration::ZERO,
        freezes: 0,
        longest_gap: Duration::ZERO,
    };
    // The window's edges count as frames: a player that gets nothing is frozen throughout.
    let edges: Vec<Instant> = std::iter::once(from)
        .chain(times)
        .chain(std::iter::once(to))
        .collect();
    for w in edges.windows(2) {
        let gap = w[1] - w[0];
        p.longest_gap = p.longest_gap.max(gap);
        if gap > FREEZE_GAP {
            p.frozen += gap;
            p.freezes += 1;
        }
    }
    p
}

/// The video frames `node` received that are not byte-exact a frame its publisher wrote (the
/// synthetic camera writes `common::video_frame`, its index in the frame). A player's decoder
/// rejects such a frame and asks for a keyframe: in the browser lab, A's and B's Chrome logged
/// "Rejecting corrupted VP8 frame" for C's stream 9-10 times per 30 s, each a freeze.
fn corrupted_frames(lab: &Lab, node: usize) -> usize {
    let c = &lab.nodes[node].client;
    c.received
        .iter()
        .filter(|(k, _, _)| *k == MediaKind::Video)
        .filter(|(_, data, _)| {
            let key = data.first().is_some_and(|b| b & 1 == 0);
            let at = if key { 10 } else { 3 };
            let Some(index) = data.get(at..at + 4) else {
                return true;
            };
            let index = u32::from_be_bytes(index.try_into().expect("4 bytes"));
            let mut sent = common::video_frame(Codec::Vp8, index, key);
            sent.resize(FRAME_BYTES.max(sent.len()), 0x55);
            *data != sent
        })
        .count()
}

/// The video frames `node` received whose RTP time is not after the frame before it: frames
/// the server sent out of their order.
fn frames_out_of_order(lab: &Lab, node: usize) -> usize {
    let c = &lab.nodes[node].client;
    let times: Vec<u64> = c
        .received
        .iter()
        .zip(&c.received_time)
        .filter(|((k, _, _), _)| *k == MediaKind::Video)
        .map(|(_, t)| *t)
        .collect();
    times.windows(2).filter(|w| w[1] <= w[0]).count()
}

/// The playout-delay floors (ms; none = 0, the receiver's default) on the video frames `node`
/// received, in order.
fn playout_floors(lab: &Lab, node: usize) -> Vec<u64> {
    let c = &lab.nodes[node].client;
    c.received
        .iter()
        .zip(&c.received_playout_min)
        .filter(|((k, _, _), _)| *k == MediaKind::Video)
        .map(|(_, min)| min.unwrap_or(0))
        .collect()
}

/// The largest rise of the playout-delay floor from one video frame to the next. Chrome
/// applies a new minimum to the very next frame (a clamp, not its 100 ms/s smoothing), so a
/// rise of 250 ms at once held that frame ~230 ms: a freeze (netlab loss run, session 9).
/// Chrome counts a gap of max(3x, +150 ms) the mean frame interval as a freeze: a rise of
/// 80 ms (playout.rs's largest step) leaves 20 fps frames 130 ms apart.
const MAX_FLOOR_RISE_MS: u64 = 80;

fn row(lab: &Lab, peer: PeerId) -> PeerQuality {
    lab.sfu
        .peer_stats()
        .into_iter()
        .find(|q| q.peer == peer)
        .expect("a stats row per peer")
}

fn run(lab: &mut Lab, sources: &mut [&mut Source], d: Duration) {
    let end = lab.now + d;
    while lab.now < end {
        for s in sources.iter_mut() {
            s.run(lab);
        }
        lab.pump();
        lab.tick();
    }
}

/// The loss seeds judged, and the bounds. The loss is drawn per packet from a seeded
/// generator, so one seed is one draw: a 30 s run's frozen time spreads about +-0.35 s from
/// seed to seed (session 6, 40 seeds: B <- C 0.73 s on average, 11 runs of 40 over 1 s), and
/// any change that moves one packet (the DTLS client role's handshake did) reshuffles which
/// packets are lost. A single seed passed or failed the 1 s by luck about one run in
/// four. So the bound is held by the mean over several seeds, and each seed by a
/// looser one that still catches a real stall (a lost keyframe never repaired, a pause).
const SEEDS: std::ops::Range<u64> = 0..8;
const MEAN_FROZEN_BOUND: Duration = Duration::from_secs(1);
const SEED_FROZEN_BOUND: Duration = Duration::from_secs(2);

/// C's downlink loses 5 % and C's uplink loses 5 %, 30 ms each way: what C plays of A (loss
/// repaired by RTX from our resend cache) and what B plays of C (loss repaired by our NACKs
/// to C) stay fluid: frozen < 1 s in 30 s on average over the seeds, as issue 11 asks of the
/// browsers, < 2 s in every run.
fn five_percent_loss_both_ways_keeps_the_picture_fluid(mode: Forwarding) {
    // Every seed runs before anything is judged, so a failure shows the whole spread.
    let runs: Vec<Run> = SEEDS.map(|seed| lossy_call(mode, seed)).collect();
    let mean = |f: fn(&Run) -> Duration| runs.iter().map(f).sum::<Duration>() / runs.len() as u32;
    let (mean_ca, mean_bc) = (mean(|r| r.ca.frozen), mean(|r| r.bc.frozen));
    println!(
        "{mode} mode, over {} seeds: C <- A frozen {:.2} s on average, B <- C {:.2} s; per seed C <- A / B <- C {:?}",
        runs.len(),
        mean_ca.as_secs_f64(),
        mean_bc.as_secs_f64(),
        runs.iter()
            .map(|r| format!("{:.2}/{:.2}", r.ca.frozen.as_secs_f64(), r.bc.frozen.as_secs_f64()))
            .collect::<Vec<_>>()
    );
    for r in &runs {
        assert!(
            r.bc.frozen < SEED_FROZEN_BOUND,
            "seed {}: B <- C frozen {:?} ({:?}, {:?})",
            r.seed,
            r.bc.frozen,
            r.bc,
            r.qc
        );
    }
    // C's own play under random loss still stalls now and then: str0m's loss-based estimate
    // falls below the stream and C's video is paused once, a ~1.8 s gap (docs/MEDIA_QUALITY.md
    // "Loss"; the vendored pacer work is on it). At most one seed of eight may (seed 2 did at
    // the commit that made this test judge several seeds; seed 3 since the players' RTX ratio
    // cap went from 0.15 to 0.5 (peer.rs): its estimate fell to 0.785x the need, just under
    // headroom.rs's 0.8, so no restart and a 2 s pause); more is a regression.
    let stalled: Vec<(u64, Duration, u64)> = runs
        .iter()
        .filter(|r| r.ca.frozen >= SEED_FROZEN_BOUND || r.qa.video_pauses > 0)
        .map(|r| (r.seed, r.ca.frozen, r.qa.video_pauses))
        .collect();
    assert!(
        stalled.len() <= 1,
        "C <- A stalled (seed, frozen, pauses) {stalled:?}: random loss is not a slow link"
    );
    assert!(
        mean_ca < MEAN_FROZEN_BOUND,
        "C <- A frozen {mean_ca:?} on average"
    );
    assert!(
        mean_bc < MEAN_FROZEN_BOUND,
        "B <- C frozen {mean_bc:?} on average"
    );
}

/// What one seed's call gave: C <- A and B <- C, and their players' stats rows.
struct Run {
    seed: u64,
    ca: Picture,
    bc: Picture,
    qa: PeerQuality,
    qc: PeerQuality,
}

/// One 35 s call with C's links losing packets drawn from `seed`; asserts that every frame
/// is byte-exact and in order, returns the rest for the caller to judge.
fn lossy_call(mode: Forwarding, seed: u64) -> Run {
    println!("{mode} mode, loss seed {seed}:");
    let mut lab = Lab::new();
    lab.sfu.set_forwarding(mode);
    let (a, c_pub, c_plays_a, b_plays_c) = (PeerId(1), PeerId(2), PeerId(3), PeerId(4));
    let na = lab.publish(a, VP8_OPUS, AV);
    let nc = lab.publish(c_pub, VP8_OPUS, AV);
    let mut src_a = Source::new(na, FRAME_BYTES, lab.now);
    let mut src_c = Source::new(nc, FRAME_BYTES, lab.now);
    // C's player offers the playout-delay extension at Chrome's id, so what the server puts
    // on C's frames is seen (playout.rs: a jitter-buffer floor while C's downlink loses).
    let chrome_like = Rtc::builder()
        .enable_pcmu(true, false)
        .enable_pcma(true, false)
        .set_extension(5, Extension::PlayoutDelay);
    let player = Client::player_from(lab.next_addr(), chrome_like.clone(), lab.now);
    let n_ca = lab.play_with(c_plays_a, a, player);
    // B's player offers it too: C's lossy uplink delays C's frames to B as well (held for our
    // NACKs in frame mode, resent in RTP mode), so B gets the floor.
    let player = Client::player_from(lab.next_addr(), chrome_like, lab.now);
    let n_bc = lab.play_with(b_plays_c, c_pub, player);
    run(
        &mut lab,
        &mut [&mut src_a, &mut src_c],
        Duration::from_secs(2),
    );

    // C's links: publish uplink and play downlink, 5 % loss, 30 ms each way. Each link is
    // new, drawing from `seed` (what was in flight on the old one, 10 ms of packets, is lost
    // with it: a short burst before the settling time, repaired like any loss).
    for (node, up, down) in [(nc, true, true), (n_ca, true, true)] {
        let n = &mut lab.nodes[node];
        for (i, (on, link)) in [(up, &mut n.up), (down, &mut n.down)]
            .into_iter()
            .enumerate()
        {
            if on {
                *link = Link::new(seed * 100 + node as u64 * 2 + i as u64);
                link.loss = 0.05;
                link.delay = Duration::from_millis(30);
            }
        }
    }
    // Settle into the loss (the browsers' measuring window starts after C's join), then 30 s.
    run(
        &mut lab,
        &mut [&mut src_a, &mut src_c],
        Duration::from_secs(3),
    );
    let from = lab.now;
    let (ka, kc) = (src_a.keyframes, src_c.keyframes);
    run(
        &mut lab,
        &mut [&mut src_a, &mut src_c],
        Duration::from_secs(30),
    );
    let to = lab.now;

    let ca = picture(&lab, n_ca, from, to);
    let bc = picture(&lab, n_bc, from, to);
    let (qa, qc) = (row(&lab, c_plays_a), row(&lab, b_plays_c));
    let qpub = row(&lab, c_pub);
    println!(
        "C <- A (C's lossy downlink): {} frames, frozen {:.2} s in {} freezes, longest gap {} ms; \
         NACKs from C {}, estimate {:?} kbit/s, paused {} times, estimator restarted {} times, {} video frames dropped; A's keyframes {}",
        ca.frames,
        ca.frozen.as_secs_f64(),
        ca.freezes,
        ca.longest_gap.as_millis(),
        qa.nacks_in,
        qa.estimate_bps.map(|e| e / 1000),
        qa.video_pauses,
        qa.estimator_restarts,
        qa.video_frames_dropped,
        src_a.keyframes - ka,
    );
    println!(
        "B <- C (C's lossy uplink): {} frames, frozen {:.2} s in {} freezes, longest gap {} ms; \
         NACKs to C {}, keyframe requests to C {}, C's keyframes {}; B paused {} times",
        bc.frames,
        bc.frozen.as_secs_f64(),
        bc.freezes,
        bc.longest_gap.as_millis(),
        qpub.nacks_out,
        qpub.keyframe_requests_out,
        src_c.keyframes - kc,
        qc.video_pauses,
    );
    let floors = playout_floors(&lab, n_ca);
    let rise = floors
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .max()
        .unwrap_or(0);
    let first = floors.iter().position(|&f| f > 0);
    println!(
        "C <- A playout floor: first on frame {first:?} of {} ({:?} ms), largest rise {rise} ms, last {:?} ms",
        floors.len(),
        first.map(|i| floors[i]),
        floors.last()
    );
    assert_eq!(
        floors.last().copied(),
        Some(250),
        "C's lossy downlink gets the jitter-buffer floor"
    );
    assert!(
        rise <= MAX_FLOOR_RISE_MS,
        "the floor rose {rise} ms from one frame to the next: a freeze in Chrome"
    );
    let floors = playout_floors(&lab, n_bc);
    let first = floors.iter().position(|&f| f > 0);
    println!(
        "B <- C playout floor: first on frame {first:?} of {}, last {:?} ms",
        floors.len(),
        floors.last()
    );
    assert_eq!(
        floors.last().copied(),
        Some(250),
        "B's play of C, whose uplink loses, gets the jitter-buffer floor"
    );
    let (bad_ca, bad_bc) = (corrupted_frames(&lab, n_ca), corrupted_frames(&lab, n_bc));
    println!("frames not as sent: C <- A {bad_ca}, B <- C {bad_bc}");
    let (ooo_ca, ooo_bc) = (
        frames_out_of_order(&lab, n_ca),
        frames_out_of_order(&lab, n_bc),
    );
    println!("frames out of order: C <- A {ooo_ca}, B <- C {ooo_bc}");
    assert_eq!(
        (bad_ca, bad_bc),
        (0, 0),
        "every frame a player gets is one its publisher wrote, byte-exact"
    );
    assert_eq!(
        (ooo_ca, ooo_bc),
        (0, 0),
        "a frame held for a resend goes out before the frames behind it"
    );
    Run {
        seed,
        ca,
        bc,
        qa,
        qc,
    }
}

// The scenario in each forwarding mode (`...::frame` and `...::rtp`), with the same bounds and
// checks (byte-exact frames in order, the playout floor ramped, the frozen times). The figures
// differ by mode seed for seed, and not for a reason of the mode: frame mode re-packetizes each
// frame (str0m's packetizer, its own numbering and RTCP), RTP mode forwards the publisher's
// packets, so the same seed drops other packets. Session 11: frame mode C <- A 0.86 s / B <- C
// 0.67 s frozen on average, one pause of C <- A (seed 3, 2.53 s); RTP mode 0.74 / 0.65 s, no
// pause; 1-2 keyframe requests to C per seed in both.
in_both_modes!(five_percent_loss_both_ways_keeps_the_picture_fluid);
