//! A late player's first picture, deterministic (issue 11: first decoded frame < 2 s after a
//! far participant joins). The publisher is far away (100 ms each way), the player is slow to
//! connect (its downlink delayed, so its ICE and DTLS take several of its round trips): the
//! keyframe asked for at its play request reaches the server before the player can take
//! frames. Two ways it still gets a picture without waiting for the next periodic request:
//! - it connects while that keyframe is recent: the server replays it and the frames since
//!   (keyframe_hold.rs), asking the publisher for nothing more;
//! - it connects later: the server asks the publisher for a keyframe at its connect, through
//!   the publisher's rate-limited gate (keyframes.rs), and the answer reaches the player about
//!   one publisher round trip later.
//!
//! Both forwarding modes, the same assertions (frame mode holds frames, RTP mode packets).

use crate::common;

use std::time::{Duration, Instant};

use common::lab::{Lab, Link, Node, Source};
use common::Client;
use huddle_room::{MediaCommand, PeerId};
use huddle_sfu::Forwarding;
use str0m::format::Codec;
use str0m::media::MediaKind;

const AV: &[MediaKind] = &[MediaKind::Audio, MediaKind::Video];
const VP8_OPUS: &[Codec] = &[Codec::Opus, Codec::Vp8];
const PUBLISHER_ONE_WAY: Duration = Duration::from_millis(100);

/// The frame index our synthetic VP8 frames carry (see common::video_frame).
fn video_index(frame: &[u8]) -> u32 {
    let at = if frame[0] & 1 == 0 { 10 } else { 3 };
    u32::from_be_bytes(frame[at..at + 4].try_into().unwrap())
}

struct LatePlayer {
    play_at: Instant,
    connected_at: Instant,
    /// The player's video frames: (arrival, frame index, keyframe).
    video: Vec<(Instant, u32, bool)>,
    /// Keyframe requests that reached the publisher after the play request.
    requests: Vec<Instant>,
    /// Keyframes the publisher encoded after the play request.
    keyframes: u32,
}

fn run_for(lab: &mut Lab, src: &mut Source, d: Duration) {
    let end = lab.now + d;
    while lab.now < end {
        src.run(lab);
        lab.pump();
        lab.tick();
    }
}

/// A far publisher sending for a while, then a player whose server-to-player link has
/// `player_down` of delay plays it; 2 s after the player connects, what it got.
fn late_player(mode: Forwarding, player_down: Duration) -> LatePlayer {
    let mut lab = Lab::new();
    lab.sfu.set_forwarding(mode);
    let (a, p) = (PeerId(1), PeerId(2));
    let na = lab.publish(a, VP8_OPUS, AV);
    let mut src = Source::new(na, 800, lab.now);
    run_for(&mut lab, &mut src, Duration::from_secs(1));
    lab.nodes[na].up.delay = PUBLISHER_ONE_WAY;
    lab.nodes[na].down.delay = PUBLISHER_ONE_WAY;
    // Past any keyframe of the start: the publisher sends delta frames only.
    run_for(&mut lab, &mut src, Duration::from_secs(2));

    // The player's downlink is a router node's link (Lab::down_via) with the delay.
    let router = lab.nodes.len();
    let (idle, _) = Client::player(lab.next_addr(), lab.now);
    lab.nodes.push(Node {
        client: idle,
        up: Link::new(11),
        down: Link::new(12),
    });
    lab.nodes[router].down.delay = player_down;
    let addr = lab.next_addr();
    let (client, offer) = Client::player(addr, lab.now);
    lab.nodes.push(Node {
        client,
        up: Link::new(13),
        down: Link::new(14),
    });
    let np = lab.nodes.len() - 1;
    lab.down_via.push((addr, router));

    let (requests_before, keyframes_before) =
        (lab.nodes[na].client.keyframe_requests.len(), src.keyframes);
    let play_at = lab.now;
    lab.command(MediaCommand::Play {
        peer: p,
        source: a,
        offer,
        transport: Default::default(),
        constraints: Default::default(),
    });
    let answer = lab.answer_for(p).expect("play answer");
    lab.nodes[np].client.accept_answer(&answer);
    while !lab.connected(p) {
        assert!(
            lab.now < play_at + Duration::from_secs(5),
            "never connected"
        );
        src.run(&mut lab);
        lab.pump();
        lab.tick();
    }
    let connected_at = lab.now;
    run_for(&mut lab, &mut src, Duration::from_secs(2));

    let c = &lab.nodes[np].client;
    let video = c
        .received
        .iter()
        .zip(&c.received_at)
        .filter(|((k, _, _), _)| *k == MediaKind::Video)
        .map(|((_, data, key), t)| (*t, video_index(data), *key))
        .collect();
    let requests = lab.nodes[na].client.keyframe_requests[requests_before..]
        .iter()
        .map(|(t, _)| *t)
        .collect();
    LatePlayer {
        play_at,
        connected_at,
        video,
        requests,
        keyframes: src.keyframes - keyframes_before,
    }
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

fn report(what: &str, r: &LatePlayer) {
    let first = r.video.first().map(|(t, _, _)| *t);
    println!(
        "{what}: connected {} ms after the play request, first frame {:?} ms after the connect; \
         keyframe requests at the publisher at {:?} ms after the play request, {} keyframes",
        ms(r.connected_at - r.play_at),
        first.map(|t| ms(t.saturating_duration_since(r.connected_at))),
        r.requests
            .iter()
            .map(|t| ms(*t - r.play_at))
            .collect::<Vec<_>>(),
        r.keyframes,
    );
}

/// Connects about 0.3 s after the keyframe of its play request went by (its ICE and DTLS
/// cross its slow downlink three times): the held keyframe and the frames since reach it at
/// once, in order, and the publisher is asked for nothing more.
fn a_player_connecting_just_after_its_keyframe_gets_the_held_one(mode: Forwarding) {
    let down = Duration::from_millis(150);
    let r = late_player(mode, down);
    report(&format!("{mode} mode, held keyframe"), &r);
    assert_eq!(
        r.requests.len(),
        1,
        "only the play request's keyframe request reaches the publisher"
    );
    assert!(
        r.requests[0] < r.play_at + PUBLISHER_ONE_WAY + Duration::from_millis(20),
        "asked at the play request"
    );
    assert_eq!(r.keyframes, 1);
    let (first_at, first_index, first_key) = r.video[0];
    assert!(first_key, "the picture starts with a keyframe");
    let keyframe_in = r.requests[0] + PUBLISHER_ONE_WAY;
    assert!(
        keyframe_in + PUBLISHER_ONE_WAY < r.connected_at,
        "the scenario: the keyframe reached the server before the player connected"
    );
    // One trip down its link, and the pacer's spreading of a few frames.
    assert!(
        first_at < r.connected_at + down + Duration::from_millis(60),
        "first frame {} ms after the connect",
        ms(first_at - r.connected_at)
    );
    // Every frame from the keyframe on, none skipped (the held ones, then the live ones).
    let indexes: Vec<u32> = r.video.iter().map(|(_, i, _)| *i).take(30).collect();
    let expected: Vec<u32> = (first_index..first_index + 30).collect();
    assert_eq!(indexes, expected);
}

/// Connects about 1 s after its play request, when the keyframe of that request is too old
/// to hold: asked for at its connect, one request, and the picture comes one publisher round
/// trip later, not at the next periodic request.
fn a_player_connecting_long_after_its_play_request_asks_at_its_connect(mode: Forwarding) {
    let down = Duration::from_millis(450);
    let r = late_player(mode, down);
    report(&format!("{mode} mode, asked at connect"), &r);
    assert!(
        r.connected_at - r.play_at > Duration::from_millis(700),
        "the scenario: a slow connect"
    );
    let at_connect: Vec<Instant> = r
        .requests
        .iter()
        .copied()
        .filter(|t| *t > r.connected_at)
        .collect();
    assert_eq!(
        r.requests.len(),
        2,
        "one at the play request, one at the connect"
    );
    assert_eq!(at_connect.len(), 1);
    assert!(
        at_connect[0] < r.connected_at + PUBLISHER_ONE_WAY + Duration::from_millis(20),
        "sent at the connect: {} ms after it",
        ms(at_connect[0] - r.connected_at)
    );
    let (first_at, _, first_key) = r.video[0];
    assert!(first_key);
    // The request's trip, a frame interval, the keyframe's trip, the player's downlink.
    let bound = r.connected_at + 2 * PUBLISHER_ONE_WAY + down + Duration::from_millis(100);
    assert!(
        first_at < bound,
        "first frame {} ms after the connect",
        ms(first_at - r.connected_at)
    );
}

in_both_modes!(
    a_player_connecting_just_after_its_keyframe_gets_the_held_one,
    a_player_connecting_long_after_its_play_request_asks_at_its_connect,
);
