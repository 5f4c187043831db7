//! A publisher whose uplink loses packets sends Opus in RFC 2198 RED (as Chrome does when our
//! answer lists RED first, codecs.rs `supported`): each packet carries the one before, and the
//! server puts a lost packet back from the next one before anything else sees the stream, so
//! every player (RED or not) and the recorder get the publisher's whole Opus stream. Frame mode:
//! str0m's receive path; RTP mode: the same code (vendored str0m patch 18). Audio has no NACK:
//! without RED a packet lost on the uplink is lost for everyone.

use crate::common;

use std::sync::{Arc, Mutex};

use common::world::World;
use common::{assert_subsequence, audio_frame, video_frame, Client};
use huddle_room::{PeerId, RecordRequest};
use huddle_sfu::{Forwarding, Frame};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use str0m::format::Codec;
use str0m::media::MediaKind;
use str0m::rtp::{RedEncoder, RedundantBlock};
use str0m::Rtc;

const BOTH: [MediaKind; 2] = [MediaKind::Audio, MediaKind::Video];
const MODES: [Forwarding; 2] = [Forwarding::Frame, Forwarding::Rtp];

fn recording() -> Option<RecordRequest> {
    Some(common::record_request("red-uplink-test"))
}

/// Audio frames someone got: (payload, media time).
type Got = Vec<(Vec<u8>, u64)>;

/// The audio payloads the recorder got, with their media times.
fn recorded_audio(frames: &Arc<Mutex<Vec<Frame>>>) -> Got {
    let frames = frames.lock().unwrap();
    frames
        .iter()
        .filter(|f| f.kind == MediaKind::Audio)
        .map(|f| (f.data.to_vec(), f.time.numer()))
        .collect()
}

/// A publisher (offering RED or not), a plain-Opus player, a RED player and a recorder; the
/// publisher's uplink loses `loss` of its datagrams at random once connected. Returns the
/// audio frames sent and what each of (plain player, RED player, recorder) got.
fn lossy_uplink(forwarding: Forwarding, red: bool, loss: f64, seed: u64) -> (usize, [usize; 3]) {
    let mut w = World::with_forwarding(forwarding);
    let recorder = w.record_into();
    let cfg = Rtc::builder()
        .clear_codecs()
        .enable_opus(true, red)
        .enable_vp8(true);
    let publisher = Client::publisher_from(World::client_addr(0), cfg, &BOTH, w.now);
    let (src, answer) = w.publish_from(PeerId(1), publisher, recording());
    assert_eq!(
        answer.contains("red/48000/2"),
        red,
        "the publisher gets RED where it offers it"
    );
    let (plain, _) = w.play(PeerId(2), PeerId(1));
    let red_cfg = Rtc::builder().enable_opus(true, true).enable_vp8(true);
    let red_player = Client::player_from(World::client_addr(2), red_cfg, w.now);
    let (red_idx, _) = w.play_from(PeerId(3), PeerId(1), red_player);
    let mut rng = StdRng::seed_from_u64(seed);
    w.loss = Some(Box::new(move |i, c, to_server, _| {
        i == src && to_server && c.connected && rng.random_bool(loss)
    }));
    // 20 s: 50 Opus packets/s and 25 fps video (the loss hits both, as on a real link).
    let mut sent = Vec::new();
    for i in 0..500u32 {
        let now = w.now;
        let v = video_frame(Codec::Vp8, i, i % 50 == 0);
        w.clients[src].write(MediaKind::Video, now, 90_000 + i as u64 * 3600, &v);
        for j in 0..2 {
            let n = i * 2 + j;
            let a = audio_frame(Codec::Opus, n);
            let now = w.now;
            w.clients[src].write(MediaKind::Audio, now, 48_000 + n as u64 * 960, &a);
            sent.push(a);
            for _ in 0..4 {
                w.step();
            }
        }
    }
    w.loss = None;
    for _ in 0..200 {
        w.step();
    }
    let what = |who: &str| format!("{forwarding} RED {red}: {who}");
    let plain_got = w.clients[plain].frames(MediaKind::Audio);
    assert_subsequence(&sent, &plain_got, &what("plain player"));
    let red_got = w.clients[red_idx].frames(MediaKind::Audio);
    assert_subsequence(&sent, &red_got, &what("RED player"));
    let rec = recorded_audio(&recorder);
    let rec_refs: Vec<&[u8]> = rec.iter().map(|(f, _)| f.as_slice()).collect();
    assert_subsequence(&sent, &rec_refs, &what("recorder (plain Opus frames)"));
    (sent.len(), [plain_got.len(), red_got.len(), rec.len()])
}

/// 5 % random loss on the publisher's uplink, 1000 Opus packets, 4 seeds per case: with RED
/// every player and the recorder get >= 99 % of them, without RED ~95 % (what was lost).
#[test]
fn red_from_a_lossy_publisher_reaches_every_player_and_the_recorder() {
    for forwarding in MODES {
        for red in [true, false] {
            let mut worst: f64 = 1.0;
            let mut best: f64 = 0.0;
            for seed in 0..4 {
                let (sent, got) = lossy_uplink(forwarding, red, 0.05, seed);
                println!(
                    "{forwarding} publisher RED {red} seed {seed}: of {sent} Opus packets \
                     plain player {}, RED player {}, recorder {}",
                    got[0], got[1], got[2]
                );
                for g in got {
                    let share = g as f64 / sent as f64;
                    worst = worst.min(share);
                    best = best.max(share);
                }
            }
            if red {
                assert!(
                    worst >= 0.99,
                    "{forwarding}: with RED >= 99 % of the Opus packets, worst {worst:.3}"
                );
            } else {
                assert!(
                    best <= 0.97,
                    "{forwarding}: without RED the uplink's loss stays lost, best {best:.3}"
                );
            }
        }
    }
}

/// A publisher in RTP mode writes RED packets as given (previous packet as the redundant
/// block), in a scripted order: what players and the recorder get is checked frame by frame.
/// `script`: the packet indices in sending order; `blocks(i)`: packet i's redundant blocks as
/// (index distance, time offset) pairs.
fn scripted(
    forwarding: Forwarding,
    script: &[u32],
    blocks: impl Fn(u32) -> Vec<(u32, u32)>,
) -> ([Got; 3], u128) {
    let mut w = World::with_forwarding(forwarding);
    let recorder = w.record_into();
    let cfg = Rtc::builder()
        .clear_codecs()
        .enable_opus(true, true)
        .set_rtp_mode(true);
    let publisher = Client::publisher_from(World::client_addr(0), cfg, &[MediaKind::Audio], w.now);
    let (src, _) = w.publish_from(PeerId(1), publisher, recording());
    // The plain player passes audio on as it comes (as a browser's jitter buffer takes it), so
    // its arrival times show how long the server held the stream.
    let plain_cfg = Rtc::builder().set_reordering_size_audio(0);
    let plain_player = Client::player_from(World::client_addr(1), plain_cfg, w.now);
    let (plain, _) = w.play_from(PeerId(2), PeerId(1), plain_player);
    let red_cfg = Rtc::builder().enable_opus(true, true).enable_vp8(true);
    let red_player = Client::player_from(World::client_addr(2), red_cfg, w.now);
    let (red_idx, _) = w.play_from(PeerId(3), PeerId(1), red_player);
    let (opus_pt, red_pt) = w.clients[src].opus_pts();
    let red_pt = red_pt.expect("RED negotiated");
    let frame = |i: u32| audio_frame(Codec::Opus, i);
    let time = |i: u32| 48_000 + i * 960;
    for &i in script {
        let redundant: Vec<RedundantBlock> = blocks(i)
            .into_iter()
            .filter(|(back, _)| *back <= i)
            .map(|(back, offset)| RedundantBlock {
                pt: *opus_pt,
                timestamp_offset: offset,
                payload: frame(i - back),
            })
            .collect();
        let payload = RedEncoder::encode(*opus_pt, &frame(i), &redundant);
        let now = w.now;
        w.clients[src].write_rtp(
            MediaKind::Audio,
            now,
            red_pt,
            5000 + i as u64,
            time(i),
            &payload,
        );
        for _ in 0..4 {
            w.step();
        }
    }
    for _ in 0..200 {
        w.step();
    }
    // The publisher sends audio only: every frame a player got is audio.
    let got = |c: &Client| -> Got {
        let frames = c.received.iter().map(|(_, f, _)| f.clone());
        frames.zip(c.received_time.iter().copied()).collect()
    };
    // The plain player's longest wait between two audio frames (the publisher sends every 20 ms).
    let at = &w.clients[plain].received_at;
    let longest = at
        .windows(2)
        .map(|p| (p[1] - p[0]).as_millis())
        .max()
        .unwrap_or(0);
    (
        [
            got(&w.clients[plain]),
            got(&w.clients[red_idx]),
            recorded_audio(&recorder),
        ],
        longest,
    )
}

/// Packet indices of the Opus frames received, each checked against what was sent, bytes and
/// media time (960 ticks per packet from the first one received: a recovered packet carries
/// its own time, not its carrier's).
fn indices(got: &[(Vec<u8>, u64)]) -> Vec<u32> {
    let mut first: Option<(u32, u64)> = None;
    got.iter()
        .map(|(f, time)| {
            let i = u32::from_be_bytes(f[..4].try_into().unwrap());
            assert_eq!(*f, audio_frame(Codec::Opus, i), "frame {i} byte-exact");
            let (i0, t0) = *first.get_or_insert((i, *time));
            assert_eq!(time - t0, u64::from(i - i0) * 960, "frame {i}'s media time");
            i
        })
        .collect()
}

/// Loss, reordering and duplicates on the publisher's uplink, one previous packet per RED
/// packet (Chrome's default): a single loss is recovered from the next packet; a packet that
/// overtakes its predecessor brings it early and the real one, late, is not forwarded twice;
/// a duplicate is forwarded once; two losses in a row leave the older one lost, and the stream
/// goes on past that hole at once (a player that passes audio on as it comes waits <= 60 ms).
#[test]
fn red_recovery_handles_loss_reordering_and_duplicates() {
    // 5 lost; 8 before 7; 9 twice; 11 and 12 lost (13 carries 12 only); then 20 more packets.
    let mut script: Vec<u32> = vec![0, 1, 2, 3, 4, 6, 8, 7, 9, 9, 10, 13, 14];
    script.extend(15..35);
    let previous = |_| vec![(1, 960)];
    let mut want: Vec<u32> = (0..35).collect();
    want.retain(|i| *i != 11);
    assert_forwarded(&script, previous, &want);
}

/// Redundant blocks that fit no hole are not forwarded: one for a packet already received
/// (packet 5 lost, 6 carries 4 instead), and, with two packets lost in a row, one whose time
/// offset falls on neither of them. A block that does fit the second of two lost packets
/// (uniform spacing around them) is recovered.
#[test]
fn red_blocks_that_fit_no_hole_are_skipped() {
    let script: Vec<u32> = (0..40)
        .filter(|i| ![5, 10, 11, 20, 21].contains(i))
        .collect();
    let blocks = |i: u32| match i {
        // 5 lost; 6 carries 4 (received), not 5.
        6 => vec![(2, 2 * 960)],
        // 20 and 21 lost; 22's block claims 1.5 packets back: neither hole.
        22 => vec![(1, 1440)],
        // The previous packet (12 carries 11 at its right offset: recovered, 10 lost).
        _ => vec![(1, 960)],
    };
    let mut want: Vec<u32> = (0..40).collect();
    want.retain(|i| ![5, 10, 20, 21].contains(i));
    assert_forwarded(&script, blocks, &want);
}

/// In both modes: the players (plain and RED) and the recorder get exactly the packets `want`
/// (a player may join a packet or two late: it connects between packets), and past a hole RED
/// cannot fill the stream goes on within two packets (frame mode waited 15 packets, 280 ms,
/// before peer.rs AUDIO_REORDER_PACKETS).
fn assert_forwarded(script: &[u32], blocks: impl Fn(u32) -> Vec<(u32, u32)> + Copy, want: &[u32]) {
    for forwarding in MODES {
        let ([plain, red, rec], longest) = scripted(forwarding, script, blocks);
        println!("{forwarding}: longest gap between audio frames at the player {longest} ms");
        assert!(longest <= 60, "{forwarding}: audio held {longest} ms");
        for (who, got) in [("plain player", &plain), ("RED player", &red)] {
            let got = indices(got);
            let skip = want.iter().position(|i| Some(i) == got.first()).unwrap();
            assert!(skip <= 2, "{forwarding} {who}: starts at {:?}", got.first());
            assert_eq!(got, want[skip..], "{forwarding} {who}");
        }
        assert_eq!(indices(&rec), want, "{forwarding} recorder");
    }
}
