//! Players of an audio-only source (`peer::RtcUse::PlayAudio`): no transport-wide sequence
//! numbers, so the browser sends no feedback per packet and no send-side estimator runs for
//! them (nothing would use its estimate: audio is never paced, paused or given a layer). In
//! an audio-only room that feedback was most of what the server received. Deterministic: the
//! lab's simulated links and time.

use crate::common;

use std::time::Duration;

use common::lab::{Lab, Source};
use huddle_room::PeerId;
use huddle_sfu::Forwarding;
use str0m::format::Codec;
use str0m::media::MediaKind;

const VP8_OPUS: &[Codec] = &[Codec::Opus, Codec::Vp8];

/// Plays `kinds` of a source for 10 s in forwarding `mode`: (the player's answer, audio frames
/// it got, datagrams it sent to the server, the estimate the server reports for it).
fn play_for_10_s(kinds: &[MediaKind], mode: Forwarding) -> (String, u64, u64, Option<u64>) {
    let mut lab = Lab::new();
    lab.sfu.set_forwarding(mode);
    let (a, c) = (PeerId(1), PeerId(3));
    let pa = lab.publish(a, VP8_OPUS, kinds);
    let (nc, answer) = lab.play_answer(c, a);
    let mut source = Source::new(pa, 1000, lab.now);
    let end = lab.now + Duration::from_secs(10);
    let (audio_before, up_before) = (
        lab.nodes[nc].client.frames(MediaKind::Audio).len() as u64,
        lab.nodes[nc].up.sent,
    );
    while lab.now < end {
        source.run(&mut lab);
        lab.tick();
    }
    let audio = lab.nodes[nc].client.frames(MediaKind::Audio).len() as u64 - audio_before;
    let up = lab.nodes[nc].up.sent - up_before;
    let estimate = lab
        .sfu
        .peer_stats()
        .into_iter()
        .find(|q| q.peer == c)
        .and_then(|q| q.estimate_bps);
    (answer, audio, up, estimate)
}

#[test]
fn a_player_of_an_audio_only_source_gets_every_packet_without_transport_feedback() {
    for mode in [Forwarding::Rtp, Forwarding::Frame] {
        audio_only_source(mode);
    }
}

/// In RTP mode its packets go through the send lane past the null pacer (str0m patch 48);
/// in frame mode through the pacer's own path.
fn audio_only_source(mode: Forwarding) {
    let (answer, audio, up, estimate) = play_for_10_s(&[MediaKind::Audio], mode);
    eprintln!("{mode:?}, audio-only source: {audio} audio frames, {up} datagrams from the player, estimate {estimate:?}");
    assert!(
        !answer.contains("transport-wide-cc"),
        "no transport-wide sequence numbers negotiated:\n{answer}"
    );
    // 50 packets/s for 10 s, every one through (no loss in the lab's default links).
    assert!(audio >= 495, "the player got {audio} audio frames in 10 s");
    // Receiver reports only (about one a second per stream).
    assert!(up < 40, "{up} datagrams from the player in 10 s");
    assert_eq!(estimate, None, "no estimator runs for it");
}

/// The other side: a player of a source with video keeps transport-cc and its estimator.
#[test]
fn a_player_of_a_source_with_video_keeps_transport_feedback() {
    let (answer, audio, up, estimate) =
        play_for_10_s(&[MediaKind::Audio, MediaKind::Video], Forwarding::Rtp);
    eprintln!("audio+video source: {audio} audio frames, {up} datagrams from the player, estimate {estimate:?}");
    assert!(answer.contains("transport-wide-cc"), "{answer}");
    assert!(audio >= 495, "the player got {audio} audio frames in 10 s");
    assert!(
        up > 100,
        "{up} datagrams from the player in 10 s: transport feedback"
    );
    assert!(estimate.is_some());
}
