//! Instructions per forwarded packet of the sans-IO core, for callgrind (issue 15, "CPU per
//! packet"). Seconds of CPU on a shared machine move with its load; instruction counts do not,
//! so a change to the forwarding path (or to the vendored str0m) is judged by this count.
//!
//! Build once, then run under callgrind, counting only the SFU's own entry points (the str0m
//! clients of the world are excluded) and only from the start of the measured seconds:
//!
//! ```text
//! cargo test --release -p huddle-sfu --test instructions --no-run   # prints the binary
//! valgrind --tool=callgrind --callgrind-out-file=cg.out --collect-atstart=no \
//!   --zero-before='*counting_starts*' \
//!   --toggle-collect='*Sfu*handle_datagram*' --toggle-collect='*Sfu*handle_timeout*' \
//!   --toggle-collect='*Sfu*poll_transmit*' --toggle-collect='*Sfu*poll_event*' \
//!   target/release/deps/instructions-<hash> --ignored --nocapture --test-threads=1
//! callgrind_annotate --inclusive=yes cg.out | head -60
//! ```
//!
//! Total instructions of `cg.out` divided by the "out" packet count the test prints is the
//! figure in docs/RTP_MODE.md "CPU per packet, session 8 (instructions)". Three scenarios, run
//! one at a time (name the test, `--exact`): `rtp_fanout_instructions` (1 -> 20),
//! `rtp_meeting_instructions` (6 participants) and `rtp_audio_instructions` (an audio-only
//! source, 1 -> 20); `scripts/instructions.sh [tag] [fanout|meeting|audio]`.

mod common;

use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::Duration;

use common::fanout::{fanout_world, meeting_world, FanoutMedia, MeetingMedia};
use common::world::World;
use huddle_room::PeerId;
use huddle_sfu::Forwarding;
use str0m::format::Codec;
use str0m::media::MediaKind;

const PLAYERS: u64 = 20;
/// Before counting: connections settle, the estimators have feedback, the first keyframe went.
const WARM_UP: Duration = Duration::from_secs(2);
/// Counted: three keyframe periods (a keyframe every 60 frames, ~2 s).
const COUNTED: Duration = Duration::from_secs(6);

/// RTP-mode fan-out 1 -> 20, ~1 Mbit/s VP8 (4 kB frames at 30 fps) + Opus (50 packets/s).
#[test]
#[ignore]
fn rtp_fanout_instructions() {
    let (mut w, p) = fanout_world(Forwarding::Rtp, PLAYERS);
    let mut media = FanoutMedia::default();
    media.send(&mut w, p, WARM_UP);
    let (video_before, audio_before) = (media.video, media.audio);
    let out = count(&mut w, |w| {
        media.send(w, p, COUNTED);
        (media.video - video_before, media.audio - audio_before)
    });
    for i in 0..PLAYERS as usize {
        let got = w.clients[1 + i].frames(MediaKind::Video).len() as u32;
        assert!(
            got + 40 >= media.video,
            "player {i}: {got} of {} frames",
            media.video
        );
    }
    // 20 players x 6 s x (50 audio + 30 frames of ~4 packets) = ~20,400 media packets: a
    // stalled forwarder would make the per-packet figure meaningless.
    assert!(out > 20_000, "only {out} packets out");
}

/// Participants of the meeting: as many player connections (6 x 5 = 30) as the fan-out's
/// 20 players, each of its 6 sources fanned out to 5. The benchmark's meeting:16 is where
/// Huddle is furthest from issue 15's goal; this is its shape at a size callgrind runs quickly.
const PARTICIPANTS: u64 = 6;

/// RTP-mode meeting of 6: every participant publishes the fan-out's media and plays the 5
/// others.
#[test]
#[ignore]
fn rtp_meeting_instructions() {
    let (mut w, pubs, players) = meeting_world(Forwarding::Rtp, PARTICIPANTS);
    let mut media = MeetingMedia::new(pubs.len());
    media.send(&mut w, &pubs, WARM_UP);
    let sent = |m: &MeetingMedia| -> (u32, u32) {
        m.clocks
            .iter()
            .fold((0, 0), |(v, a), c| (v + c.video, a + c.audio))
    };
    let (video_before, audio_before) = sent(&media);
    let out = count(&mut w, |w| {
        media.send(w, &pubs, COUNTED);
        let (v, a) = sent(&media);
        (v - video_before, a - audio_before)
    });
    for &(idx, source) in &players {
        let got = w.clients[idx].frames(MediaKind::Video).len() as u32;
        let want = media.clocks[source].video;
        assert!(got + 40 >= want, "player {idx}: {got} of {want} frames");
    }
    // 30 player connections x 6 s x (50 audio + 30 frames of ~4 packets) = ~30,600.
    assert!(out > 30_000, "only {out} packets out");
}

/// RTP-mode fan-out 1 -> 20 of an audio-only source (Opus, 50 packets/s): the benchmark's
/// audio:P:S, where every packet is a frame of its own and the per-player work per packet is
/// the largest.
#[test]
#[ignore]
fn rtp_audio_instructions() {
    let mut w = World::with_forwarding(Forwarding::Rtp);
    let p = w.publish(PeerId(1), &[Codec::Opus], &[MediaKind::Audio]);
    for i in 0..PLAYERS {
        w.play(PeerId(100 + i), PeerId(1));
    }
    let mut sent = 0u32;
    let mut send = |w: &mut World, how_long: Duration| {
        let end = w.now + how_long;
        let mut next = w.now;
        while w.now < end {
            if w.now >= next {
                let a = common::audio_frame(Codec::Opus, sent);
                let now = w.now;
                w.clients[p].write(MediaKind::Audio, now, sent as u64 * 960, &a);
                sent += 1;
                next += Duration::from_millis(20);
            }
            w.step();
        }
        sent
    };
    let before = send(&mut w, WARM_UP);
    let out = count(&mut w, |w| (0, send(w, COUNTED) - before));
    for i in 0..PLAYERS as usize {
        let got = w.clients[1 + i].frames(MediaKind::Audio).len() as u32;
        assert!(
            got + 10 >= sent,
            "player {i}: {got} of {sent} audio packets"
        );
    }
    // 20 players x 6 s x 50 packets = 6,000.
    assert!(out > 5_900, "only {out} packets out");
}

/// Runs `send` (the counted seconds; it returns the video frames and audio packets the
/// publishers sent) under callgrind's counting and prints what scripts/instructions.sh reads:
/// the packets in and out, the output's fingerprint and the players' estimates. Returns the
/// packets out.
fn count(w: &mut World, send: impl FnOnce(&mut World) -> (u32, u32)) -> u64 {
    let before = w.sfu.stats();
    let fingerprint = Rc::new(Cell::new(FNV_OFFSET));
    w.loss = Some(fingerprint_out(fingerprint.clone()));
    counting_starts(w);
    let (video, audio) = send(w);
    let s = w.sfu.stats();
    let out = s.packets_out - before.packets_out;
    println!(
        "counted {:?}: in {} pkts, out {out} pkts ({video} video frames, {audio} audio packets sent)",
        COUNTED,
        s.packets_in - before.packets_in,
    );
    println!("out fingerprint {:016x}", fingerprint.get());
    // The datagrams alone may not show a change of the estimators (a send-side estimate moves
    // the pacer and the layer choice only past thresholds): their last values, in player order,
    // must be identical too.
    let estimates: Vec<u64> = w
        .sfu
        .peer_stats()
        .iter()
        .filter(|q| q.role == "player")
        .map(|q| q.estimate_bps.unwrap_or(0))
        .collect();
    println!("player estimates (bit/s) {estimates:?}");
    out
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// A "loss" that drops nothing and hashes what the server sends, in order: the player, the
/// datagram's length and its second byte (RTP marker and payload type, clear under SRTP).
/// Keys, SSRCs and sequence numbers are random per run, these are not: two builds that send
/// the same packets print the same fingerprint, so a CPU cut can show it changed no output.
fn fingerprint_out(hash: Rc<Cell<u64>>) -> common::world::Loss {
    Box::new(move |player, _, to_server, data| {
        if !to_server {
            let len = data.len() as u16;
            let mut h = hash.get();
            for b in [player as u8, len as u8, (len >> 8) as u8, data[1]] {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
            hash.set(h);
        }
        false
    })
}

/// Callgrind zeroes its counters on entry (`--zero-before`): set-up is not counted.
#[inline(never)]
fn counting_starts(w: &World) {
    black_box(w);
}
