//! Padding sent to players (vendored str0m patch 12, HUDDLE_PATCHES.md): str0m keeps a
//! 50 kbit/s padding floor on a player's link "for RTX state and ALR probes". A player of an
//! audio-only source (its answer still has a video m-line) was padded around its ~40 kbit/s of
//! audio: a third of the datagrams of the benchmark's audio:10:30. Deterministic: the lab's
//! simulated links and time.

use crate::common;

use std::time::Duration;

use common::lab::{Lab, Source};
use huddle_room::PeerId;
use str0m::format::Codec;
use str0m::media::MediaKind;

const VP8_OPUS: &[Codec] = &[Codec::Opus, Codec::Vp8];

/// Plays `kinds` of a source for 10 s: (blank padding packets, datagrams beyond the media
/// packets, datagrams) on the player's downlink. Every synthetic frame fits one packet, so the
/// datagrams beyond the frames received are RTCP, blank padding and RTX sent as padding.
fn padding_to_player(kinds: &[MediaKind], video_bytes: usize) -> (u64, u64, u64) {
    let mut lab = Lab::new();
    let (a, c) = (PeerId(1), PeerId(3));
    let pa = lab.publish(a, VP8_OPUS, kinds);
    let nc = lab.play(c, a);
    let mut source = Source::new(pa, video_bytes, lab.now);
    let end = lab.now + Duration::from_secs(10);
    let before = (lab.nodes[nc].down.padding, lab.nodes[nc].down.sent);
    while lab.now < end {
        source.run(&mut lab);
        lab.tick();
    }
    let client = &lab.nodes[nc].client;
    let audio = client.frames(MediaKind::Audio).len() as u64;
    let video = client.frames(MediaKind::Video).len() as u64;
    assert!(audio > 400, "the player got {audio} audio frames in 10 s");
    let down = &lab.nodes[nc].down;
    let sent = down.sent - before.1;
    (
        down.padding - before.0,
        sent.saturating_sub(audio + video),
        sent,
    )
}

#[test]
fn a_player_of_an_audio_only_source_is_sent_no_padding() {
    let (padding, extra, sent) = padding_to_player(&[MediaKind::Audio], 0);
    eprintln!("audio-only source: {padding} blank padding, {extra} beyond media, {sent} datagrams in 10 s");
    assert_eq!(padding, 0, "{padding} padding packets of {sent} datagrams");
    // RTCP only: sender reports and the like, a few per second.
    assert!(extra < 50, "{extra} datagrams beyond the media of {sent}");
}

/// The other side of the rule: once video flows, str0m's floor stays (a thin video stream,
/// ~26 kbit/s of 100-byte frames plus audio, is padded up toward 50 kbit/s as upstream).
#[test]
fn a_player_of_a_thin_video_stream_keeps_the_padding_floor() {
    let (padding, extra, sent) = padding_to_player(&[MediaKind::Audio, MediaKind::Video], 100);
    eprintln!("thin video source: {padding} blank padding, {extra} beyond media, {sent} datagrams in 10 s");
    assert!(extra > 150, "{extra} datagrams beyond the media of {sent}");
}
