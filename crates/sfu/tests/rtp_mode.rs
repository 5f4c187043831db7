//! `forwarding = "rtp"` through the sans-IO core, deterministic: str0m clients publish
//! (str0m packetizes) and play (str0m depacketizes) while the SFU forwards packets; the
//! frames players and the recorder get must be the frames sent, exactly as in frame mode.

use crate::common;

use common::compare::assert_received;
use common::world::{Loss, World};
use common::{assert_subsequence, assert_window, audio_frame, video_frame, Client};
use huddle_room::{PeerId, RecordRequest};
use huddle_sfu::Forwarding;
use str0m::format::Codec;
use str0m::media::MediaKind;
use str0m::Rtc;

const BOTH: [MediaKind; 2] = [MediaKind::Audio, MediaKind::Video];

fn recording() -> Option<RecordRequest> {
    Some(common::record_request("rtp-mode-test"))
}

/// Every `every`th datagram on one hop is lost once the client is connected: from the
/// client to the server (`uplink`) or from the server to it.
fn lose_every(client: usize, uplink: bool, every: usize) -> Loss {
    let mut n = 0usize;
    Box::new(move |i, c, to_server, _| {
        if i != client || to_server != uplink || !c.connected {
            return false;
        }
        n += 1;
        n.is_multiple_of(every)
    })
}

/// The publisher (client 0) sends `frames` frames of 25 fps video (a keyframe every
/// `key_every` frames, the first one a keyframe) and 50 packets/s audio.
fn send(w: &mut World, video: Codec, audio: Codec, frames: u32, key_every: u32) -> Sent {
    let mut sent = Sent::default();
    for i in 0..frames {
        let key = i % key_every == 0;
        let v = video_frame(video, i, key);
        let now = w.now;
        w.clients[0].write(MediaKind::Video, now, 90_000 + i as u64 * 3600, &v);
        sent.video.push(v);
        for j in 0..2 {
            let n = i * 2 + j;
            let a = audio_frame(audio, n);
            let rate = if audio == Codec::Opus { 960 } else { 160 };
            let now = w.now;
            w.clients[0].write(MediaKind::Audio, now, 48_000 + n as u64 * rate, &a);
            sent.audio.push(a);
            for _ in 0..4 {
                w.step();
            }
        }
    }
    for _ in 0..200 {
        w.step();
    }
    sent
}

#[derive(Default)]
struct Sent {
    video: Vec<Vec<u8>>,
    audio: Vec<Vec<u8>>,
}

fn fan_out(video: Codec, audio: Codec) {
    let mut w = World::with_forwarding(Forwarding::Rtp);
    let publisher = PeerId(1);
    w.publish(publisher, &[audio, video], &BOTH);
    let players: Vec<usize> = (0..3)
        .map(|i| w.play(PeerId(10 + i), publisher).0)
        .collect();
    let sent = send(&mut w, video, audio, 60, 20);
    for (n, &idx) in players.iter().enumerate() {
        let c = &w.clients[idx];
        let what = |kind| format!("{video:?}/{audio:?} player {n} {kind}");
        // Every video frame from the first keyframe (the first one sent); audio may start
        // a packet or two late (the player connects between audio packets).
        assert_received(&sent.video, &c.frames(MediaKind::Video), 0, &what("video"));
        assert_received(&sent.audio, &c.frames(MediaKind::Audio), 2, &what("audio"));
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

/// str0m patch 45: packets are sealed into the buffers of datagrams already sent (world.rs
/// gives them back, as the driver does). Buffers holding other bytes, shorter and longer than
/// the packets sealed into them, change nothing the players get.
#[test]
fn sealing_into_recycled_dirty_buffers_changes_nothing_players_get() {
    for dirty_len in [1, 1999] {
        // A thread of its own: the kept buffers are the thread's, and it starts with none.
        std::thread::spawn(move || {
            let kept = (0..300)
                .filter(|_| {
                    let mut dirty = Vec::with_capacity(2000);
                    dirty.resize(dirty_len, 0xee);
                    str0m::net::recycle_datagram(dirty)
                })
                .count();
            assert!(
                kept >= 200,
                "{kept} dirty buffers of {dirty_len} bytes kept"
            );
            fan_out(Codec::Vp8, Codec::Opus);
        })
        .join()
        .unwrap();
    }
}

/// What the recorder gets: (kind, media time, keyframe, bytes).
/// A recorded frame: (kind, media time, keyframe, bytes).
type Recorded = (MediaKind, u64, bool, Vec<u8>);

fn recorded(forwarding: Forwarding, video: Codec) -> (Vec<Recorded>, Sent) {
    let mut w = World::with_forwarding(forwarding);
    let frames = w.record_into();
    w.publish_with(PeerId(1), &[Codec::Opus, video], &BOTH, recording());
    let sent = send(&mut w, video, Codec::Opus, 40, 20);
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
    let mut w = World::with_forwarding(Forwarding::Rtp);
    let publisher = PeerId(1);
    w.publish(publisher, &[Codec::Opus, Codec::Vp8], &BOTH);
    let (idx, _) = w.play(PeerId(2), publisher);
    w.loss = Some(lose_every(0, true, 23));
    let sent = send(&mut w, Codec::Vp8, Codec::Opus, 50, 25);
    let got = w.clients[idx].frames(MediaKind::Video);
    assert_received(
        &sent.video,
        &got,
        2,
        "video, 1 of 23 publisher datagrams lost",
    );
}

/// Loss on a listener's downlink: audio has no NACK; a player that negotiated RED gets the
/// previous Opus packet inside each one (as in frame mode) and recovers what was lost, a
/// player without RED does not.
#[test]
fn red_recovers_a_listeners_lost_audio_packets() {
    let mut lost_audio = Vec::new();
    for red in [true, false] {
        let mut w = World::with_forwarding(Forwarding::Rtp);
        let publisher = PeerId(1);
        w.publish(publisher, &[Codec::Opus, Codec::Vp8], &BOTH);
        let cfg = Rtc::builder().enable_opus(true, red).enable_vp8(true);
        let player = Client::player_from(World::client_addr(1), cfg, w.now);
        let (idx, answer) = w.play_from(PeerId(2), publisher, player);
        assert_eq!(
            answer.contains("red/48000/2"),
            red,
            "RED negotiated only if offered"
        );
        // Every 5th datagram to the player is lost (audio and video alike).
        w.loss = Some(lose_every(idx, false, 5));
        let sent = send(&mut w, Codec::Vp8, Codec::Opus, 50, 25);
        let got = w.clients[idx].frames(MediaKind::Audio);
        assert_subsequence(&sent.audio, &got, "audio");
        let lost = sent.audio.len() - got.len();
        println!(
            "RED {red}: {} of {} audio frames",
            got.len(),
            sent.audio.len()
        );
        lost_audio.push(lost);
    }
    assert!(
        lost_audio[0] <= 2,
        "with RED at most the packets before the first are missing: {lost_audio:?}"
    );
    assert!(
        lost_audio[1] >= 10,
        "without RED a fifth of the datagrams lost loses audio: {lost_audio:?}"
    );
}

/// RTP mode: a VP8 + Opus publisher (client 0) and three players (their client indices).
fn vp8_call_of_three_players() -> (World, Vec<usize>) {
    let mut w = World::with_forwarding(Forwarding::Rtp);
    let publisher = PeerId(1);
    w.publish(publisher, &[Codec::Opus, Codec::Vp8], &BOTH);
    let players: Vec<usize> = (0..3)
        .map(|i| w.play(PeerId(10 + i), publisher).0)
        .collect();
    (w, players)
}

/// A player's video packets carry the MID header extension only until the player's first
/// receiver report for the stream (the player has bound the SSRC to its MID by then), as
/// libwebrtc does. str0m took a report as that proof only for streams without RTX, so video
/// (which has RTX) carried the MID for good: 4 bytes and an extension write per packet and
/// player (vendored str0m patch 38).
#[test]
fn video_stops_carrying_the_mid_once_the_player_has_reported() {
    let mut w = World::with_forwarding(Forwarding::Rtp);
    let publisher = PeerId(1);
    w.publish(publisher, &[Codec::Opus, Codec::Vp8], &BOTH);
    let addr = World::client_addr(w.clients.len());
    let player = Client::player_from(addr, Rtc::builder().enable_raw_packets(true), w.now);
    let idx = w.play_from(PeerId(10), publisher, player).0;
    let start = w.now;
    send(&mut w, Codec::Vp8, Codec::Opus, 150, 30);
    assert!(
        w.now - start >= std::time::Duration::from_secs(2),
        "{:?}",
        w.now - start
    );
    let c = &mut w.clients[idx];
    let video = c.video.unwrap();
    let ssrc = *c
        .rtc
        .direct_api()
        .stream_rx_by_mid(video, None)
        .unwrap()
        .ssrc();
    let marks: Vec<bool> = c
        .rtp_mid
        .iter()
        .filter(|(s, _)| *s == ssrc)
        .map(|m| m.1)
        .collect();
    assert!(marks.len() > 300, "{} video packets", marks.len());
    assert!(marks[0], "the first video packet carries the MID");
    let first_without = marks
        .iter()
        .position(|m| !m)
        .expect("video carried the MID to the end");
    assert!(
        marks[first_without..].iter().all(|m| !m),
        "the MID came back after packet {first_without}"
    );
    // The first receiver report comes about a second in: most packets go without.
    assert!(
        first_without * 2 < marks.len(),
        "{first_without} of {} with the MID",
        marks.len()
    );
}

/// str0m's send lane (vendored patch 35, rtp/batch.rs): on a fast link a player's packets
/// leave at once, past the pacer's per-packet walk of the Rtc, and arrive unchanged. Before
/// the lane every packet out went the pacer's way (`packets_out_lane` stayed 0); RTCP,
/// resends, padding and the first packets still do.
#[test]
fn on_a_fast_link_most_packets_leave_through_the_send_lane() {
    let (mut w, players) = vp8_call_of_three_players();
    send(&mut w, Codec::Vp8, Codec::Opus, 10, 10);
    let before = w.sfu.stats();
    let sent = send(&mut w, Codec::Vp8, Codec::Opus, 100, 30);
    let after = w.sfu.stats();
    for (n, &idx) in players.iter().enumerate() {
        let c = &w.clients[idx];
        let video = c.frames(MediaKind::Video);
        assert_received(
            &sent.video,
            &video[video.len() - 100..],
            0,
            &format!("player {n}"),
        );
    }
    let out = after.packets_out - before.packets_out;
    let lane = after.packets_out_lane - before.packets_out_lane;
    // 100 video frames and 200 audio packets to each of 3 players: at least 900 media packets.
    println!("packets out {out}, through the send lane {lane}");
    assert!(lane >= 900, "{lane} of {out} packets through the lane");
    assert!(
        lane * 10 >= out * 7,
        "{lane} of {out} packets through the lane"
    );
}

/// A player's frame leaves the core in one pass, its packets one after another (vendored str0m
/// patch "pacer refreshed after each packet", HUDDLE_PATCHES.md): upstream str0m released one
/// paced packet per `handle_input(Timeout)`, so a keyframe cost one whole Rtc timeout per packet
/// and player and the players' packets left interleaved, one each per round, which left UDP GSO
/// (sendbatch.rs) nothing to group. Here no time passes between the publisher's keyframe and
/// the check: every player must have the whole keyframe, sent as one run.
#[test]
fn a_players_frame_leaves_in_one_pass_as_one_run() {
    let (mut w, players) = vp8_call_of_three_players();
    // Warm up: connected players receiving (10 frames from a keyframe, then 1 s).
    send(&mut w, Codec::Vp8, Codec::Opus, 10, 10);
    let before: Vec<usize> = players
        .iter()
        .map(|&i| w.clients[i].frames(MediaKind::Video).len())
        .collect();
    let key = video_frame(Codec::Vp8, 10, true);
    w.now += std::time::Duration::from_millis(1);
    let now = w.now;
    w.clients[0].write(MediaKind::Video, now, 90_000 + 10 * 3600, &key);
    // The publisher's packets in (all of them, at this same instant)...
    // (str0m packetizes a written frame at its next timeout.)
    w.clients[0].timeout(now);
    for _ in 0..10 {
        let out = std::mem::take(&mut w.clients[0].outbox);
        if out.is_empty() {
            break;
        }
        let from = w.clients[0].addr;
        for (_, data) in out {
            w.sfu.handle_datagram(now, from, w.server, &data);
        }
        w.clients[0].timeout(now);
    }
    // ...then one drain of the core's transmit queue, in order.
    let mut video_to = Vec::new();
    while let Some(t) = w.sfu.poll_transmit() {
        let Some(i) = w.clients.iter().position(|c| c.addr == t.destination) else {
            continue;
        };
        if t.contents.len() > 500 {
            video_to.push(i); // RTCP and audio are smaller than the keyframe's packets
        }
        w.clients[i].receive(now, w.server, &t.contents);
    }
    for (n, &i) in players.iter().enumerate() {
        let got = w.clients[i].frames(MediaKind::Video);
        assert_eq!(
            got.len(),
            before[n] + 1,
            "player {n} has the keyframe without any time passing"
        );
        assert_eq!(got.last().unwrap(), &key.as_slice(), "player {n} keyframe");
        let first = video_to.iter().position(|&d| d == i).unwrap();
        let count = video_to.iter().filter(|&&d| d == i).count();
        assert!(count >= 3, "player {n}: {count} video datagrams");
        assert!(
            video_to[first..first + count].iter().all(|&d| d == i),
            "player {n}'s packets leave as one run: {video_to:?}"
        );
    }
}

in_both_modes!(an_uplink_packet_never_recovered_brings_a_keyframe_request);

/// A publisher video packet that no NACK brings back (four packets lost in a row, and every
/// resend of the publisher lost too): the server asks the publisher for a keyframe itself once
/// it gives the hole up (rtp/uplink_loss.rs). Before, nobody asked: the player's packets have a
/// hole it NACKs in vain, and a browser player froze until its own request, 3 s without a
/// decodable frame (netlab loss run, session 11: A <- C and B <- C one 3.3 s freeze each).
/// Frame mode asks when str0m, giving the hole up, hands over a frame not contiguous (~440 ms
/// after the loss here; RTP mode ~685 ms).
///
/// The resends are lost by their RTX SSRC, not by a blackout of the NACKs: how long str0m
/// keeps NACKing depends on the RTT it knows by then, and a blackout shorter than its last
/// retry let a resend through in 6 of 100 runs (CI failure, stop 25).
fn an_uplink_packet_never_recovered_brings_a_keyframe_request(mode: Forwarding) {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;

    let mut w = World::with_forwarding(mode);
    let publisher = PeerId(1);
    w.publish(publisher, &[Codec::Opus, Codec::Vp8], &BOTH);
    let (idx, _) = w.play(PeerId(2), publisher);
    send(&mut w, Codec::Vp8, Codec::Opus, 10, 1000);
    // Delta frames only from here on, 25 fps, numbered on from `next`.
    let mut next = 10u32;
    w.vp8_frames(&mut next, 5, false);
    let mid = w.clients[0].video.expect("a video track");
    let mut api = w.clients[0].rtc.direct_api();
    let tx = api.stream_tx_by_mid(mid, None).expect("the video stream");
    let (video, rtx) = (*tx.ssrc(), tx.rtx().map(|r| *r));
    let rtx = rtx.expect("the publisher resends on RTX");
    let burst = Rc::new(Cell::new(0u32));
    let b = burst.clone();
    w.loss = Some(Box::new(move |i, _, to_server, data| {
        let ssrc = common::rtp_ssrc(data);
        if i != 0 || !to_server || ssrc.is_none() {
            return false;
        }
        if ssrc == Some(video) && b.get() > 0 {
            b.set(b.get() - 1);
            return true;
        }
        ssrc == Some(rtx)
    }));
    let requests_before = w.clients[0].keyframe_requests.len();
    let lost_at = w.now;
    burst.set(4);
    w.vp8_frames(&mut next, 63, false);
    let requests: Vec<u128> = w.clients[0].keyframe_requests[requests_before..]
        .iter()
        .map(|(t, _)| (*t - lost_at).as_millis())
        .collect();
    let got = w.clients[idx].frames(MediaKind::Video).len();
    println!("{mode} mode: keyframe requests at the publisher {requests:?} ms after the loss; the player got {got} frames");
    assert!(
        requests
            .first()
            .is_some_and(|&t| t < Duration::from_millis(1200).as_millis()),
        "the publisher is asked for a keyframe within 1.2 s of the loss: {requests:?}"
    );
}

/// The fan-out clock (fanout_time.rs, `huddle_media_fanout_seconds`): a frame's fan-out is over
/// once the last copy for its players has been handed out, and it is timed from the handling
/// of the packet that ended the frame, once.
#[test]
fn a_fan_out_is_timed_from_its_frame_end_once_every_copy_is_handed_out() {
    let (mut w, players) = vp8_call_of_three_players();
    send(&mut w, Codec::Vp8, Codec::Opus, 10, 10);
    // Earlier fan-outs were over (the test world does not time them).
    assert!(w.sfu.take_fanned_out().is_some());
    assert_eq!(w.sfu.take_fanned_out(), None);

    // A keyframe, its datagrams handed to the core by hand 2 ms after it was written.
    let keyframe = video_frame(Codec::Vp8, 10, true);
    let written = w.now;
    w.clients[0].write(MediaKind::Video, written, 90_000 + 10 * 3600, &keyframe);
    let frame_end = written + std::time::Duration::from_millis(2);
    let from = w.clients[0].addr;
    let server = w.server;
    // The publisher's pacer lets the frame out over its next timeouts.
    let mut datagrams = Vec::new();
    for ms in 0..20 {
        w.clients[0].timeout(written + std::time::Duration::from_micros(100 * ms));
        datagrams.append(&mut w.clients[0].outbox);
    }
    assert!(
        datagrams.len() >= 2,
        "{} datagrams: a keyframe of several packets",
        datagrams.len()
    );
    for (_, data) in datagrams {
        w.sfu.handle_datagram(frame_end, from, server, &data);
    }
    assert_eq!(w.sfu.take_fanned_out(), None, "nothing sent yet");
    let mut copies = 0;
    while let Some(t) = w.sfu.poll_transmit() {
        copies += 1;
        if let Some(i) = w.clients.iter().position(|c| c.addr == t.destination) {
            w.clients[i].receive(frame_end, server, &t.contents);
        }
        if copies == 1 {
            assert_eq!(w.sfu.take_fanned_out(), None, "copies still wait");
        }
    }
    assert!(copies >= 3 * 2, "{copies} datagrams out");
    assert_eq!(w.sfu.take_fanned_out(), Some(frame_end));
    assert_eq!(w.sfu.take_fanned_out(), None, "timed once");
    for &i in &players {
        let got = w.clients[i].frames(MediaKind::Video);
        assert_eq!(
            got.last(),
            Some(&keyframe.as_slice()),
            "player {i} got the keyframe"
        );
    }
}
