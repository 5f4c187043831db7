//! Answers to browser-shaped offers (Chrome's codec list and payload type numbers).

use std::time::Instant;

use huddle_room::{MediaCommand, MediaEvent, PeerId};
use huddle_sfu::{check_answer, Sfu};

const FINGERPRINT: &str = "a=fingerprint:sha-256 3C:4A:AA:2C:5D:46:5B:6D:AB:2C:35:2B:7D:2B:1A:2B:9A:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";

fn audio_mline(dir: &str, mid: &str) -> String {
    format!(
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n\
c=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n\
a=ice-ufrag:Ab1c\r\na=ice-pwd:0123456789abcdefghijklmn\r\na=ice-options:trickle\r\n{FINGERPRINT}\r\n\
a=setup:actpass\r\na=mid:{mid}\r\n\
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n\
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n\
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n\
a={dir}\r\na=rtcp-mux\r\na=rtcp-rsize\r\n\
a=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n\
a=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\n\
a=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:13 CN/8000\r\na=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\n"
    )
}

fn video_mline(dir: &str, mid: &str, first: &str) -> String {
    // Chrome's order is VP8 first; `first` may move H.264 ahead (setCodecPreferences).
    let order = if first == "H264" {
        "102 103 104 105 106 107 108 109 96 97 39 40 45 46 98 99 100 101 127 125"
    } else {
        "96 97 102 103 104 105 106 107 108 109 39 40 45 46 98 99 100 101 127 125"
    };
    format!(
        "m=video 9 UDP/TLS/RTP/SAVPF {order}\r\n\
c=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n\
a=ice-ufrag:Ab1c\r\na=ice-pwd:0123456789abcdefghijklmn\r\na=ice-options:trickle\r\n{FINGERPRINT}\r\n\
a=setup:actpass\r\na=mid:{mid}\r\n\
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n\
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n\
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n\
a={dir}\r\na=rtcp-mux\r\na=rtcp-rsize\r\n\
a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 goog-remb\r\na=rtcp-fb:96 transport-cc\r\na=rtcp-fb:96 ccm fir\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\n\
a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n\
a=rtpmap:102 H264/90000\r\na=rtcp-fb:102 goog-remb\r\na=rtcp-fb:102 transport-cc\r\na=rtcp-fb:102 ccm fir\r\na=rtcp-fb:102 nack\r\na=rtcp-fb:102 nack pli\r\n\
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n\
a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\n\
a=rtpmap:104 H264/90000\r\na=rtcp-fb:104 nack\r\na=rtcp-fb:104 nack pli\r\n\
a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f\r\n\
a=rtpmap:105 rtx/90000\r\na=fmtp:105 apt=104\r\n\
a=rtpmap:106 H264/90000\r\na=rtcp-fb:106 nack\r\na=rtcp-fb:106 nack pli\r\n\
a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n\
a=rtpmap:107 rtx/90000\r\na=fmtp:107 apt=106\r\n\
a=rtpmap:108 H264/90000\r\na=fmtp:108 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f\r\n\
a=rtpmap:109 rtx/90000\r\na=fmtp:109 apt=108\r\n\
a=rtpmap:39 H264/90000\r\na=fmtp:39 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f\r\n\
a=rtpmap:40 rtx/90000\r\na=fmtp:40 apt=39\r\n\
a=rtpmap:45 AV1/90000\r\na=fmtp:45 level-idx=5;profile=0;tier=0\r\n\
a=rtpmap:46 rtx/90000\r\na=fmtp:46 apt=45\r\n\
a=rtpmap:98 VP9/90000\r\na=fmtp:98 profile-id=0\r\na=rtpmap:99 rtx/90000\r\na=fmtp:99 apt=98\r\n\
a=rtpmap:100 VP9/90000\r\na=fmtp:100 profile-id=2\r\na=rtpmap:101 rtx/90000\r\na=fmtp:101 apt=100\r\n\
a=rtpmap:127 red/90000\r\na=rtpmap:125 ulpfec/90000\r\n"
    )
}

fn offer(mlines: &[String], mids: &str, sendonly: bool) -> String {
    let mut s = format!(
        "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE {mids}\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS{}\r\n",
        if sendonly { " 5a1b" } else { "" }
    );
    for m in mlines {
        s.push_str(m);
        if sendonly {
            s.push_str("a=msid:5a1b 7c2d\r\na=ssrc:1001 cname:q\r\na=ssrc:1001 msid:5a1b 7c2d\r\n");
        }
    }
    s
}

fn answer_of(sfu: &mut Sfu, peer: PeerId) -> String {
    while let Some(e) = sfu.poll_event() {
        match e {
            MediaEvent::Answer { peer: p, sdp } if p == peer => return sdp,
            MediaEvent::Failed { peer: p, reason } if p == peer => panic!("{peer}: {reason}"),
            _ => {}
        }
    }
    panic!("no answer for {peer}");
}

/// The payload types on the m-line of `kind`.
fn pts(answer: &str, kind: &str) -> Vec<u8> {
    let line = answer
        .lines()
        .find(|l| l.starts_with(&format!("m={kind} ")))
        .unwrap();
    line.split_whitespace()
        .skip(3)
        .map(|p| p.parse().unwrap())
        .collect()
}

fn sfu() -> Sfu {
    Sfu::new_standalone(vec!["127.0.0.1:40000".parse().unwrap()], Instant::now())
}

#[test]
fn chrome_publish_vp8_opus_then_play() {
    let mut sfu = sfu();
    let now = Instant::now();
    let pub_offer = offer(
        &[
            audio_mline("sendonly", "0"),
            video_mline("sendonly", "1", "VP8"),
        ],
        "0 1",
        true,
    );
    sfu.handle_command(
        MediaCommand::Publish {
            peer: PeerId(1),
            room: None,
            offer: pub_offer,
            transport: Default::default(),
            record: None,
        },
        now,
    );
    let a = answer_of(&mut sfu, PeerId(1));
    check_answer(&a).unwrap();
    assert!(a.contains("a=ice-lite"));
    assert!(a.contains("a=recvonly"));
    // Chrome leaves the DTLS role to us (actpass) and we take the client's: our ClientHello
    // leaves on its first valid check (dtls_client.rs, on by default).
    assert!(a.contains("a=setup:active"), "{a}");
    assert!(!a.contains("a=setup:passive"), "{a}");
    assert!(a.contains("127.0.0.1 40000 typ host"));
    // The browser's upload bandwidth estimate needs our transport-wide feedback.
    assert!(a.contains("transport-wide-cc"), "{a}");
    // RED first, then Opus: libwebrtc sends RED (each packet carrying the previous one, so we
    // recover what the publisher's uplink loses) only when RED precedes its send codec.
    assert_eq!(pts(&a, "audio"), vec![63, 111], "{a}");
    assert!(a.contains("a=rtpmap:63 red/48000/2"), "{a}");
    assert!(a.contains("a=fmtp:63 111/111"), "{a}");
    assert!(a.contains("useinbandfec=1"), "{a}");
    assert_eq!(
        pts(&a, "video"),
        vec![96, 97],
        "VP8 + its RTX, Chrome's numbers:\n{a}"
    );

    // A player whose browser numbers VP8 differently.
    let play_offer = offer(
        &[
            audio_mline("recvonly", "0"),
            video_mline("recvonly", "1", "VP8"),
        ],
        "0 1",
        false,
    )
    .replace("a=rtpmap:96 ", "a=rtpmap:120 ")
    .replace("a=rtcp-fb:96 ", "a=rtcp-fb:120 ")
    .replace("apt=96", "apt=120")
    .replace("SAVPF 96 97", "SAVPF 120 97");
    sfu.handle_command(
        MediaCommand::Play {
            peer: PeerId(2),
            source: PeerId(1),
            offer: play_offer,
            transport: Default::default(),
            constraints: Default::default(),
        },
        now,
    );
    let b = answer_of(&mut sfu, PeerId(2));
    check_answer(&b).unwrap();
    assert!(b.contains("a=sendonly"));
    // Players get transport-wide-cc: the SFU estimates their bandwidth (bandwidth.rs).
    assert!(b.contains("transport-wide-cc"), "{b}");
    assert!(b.contains("a=rtcp-fb:120 transport-cc"), "{b}");
    // Not abs-send-time (Chrome offers it): it feeds a REMB estimate neither side runs here,
    // and would cost every packet to every player 4 bytes (peer.rs `header_extensions`).
    for sdp in [&a, &b] {
        assert!(!sdp.contains("abs-send-time"), "{sdp}");
        assert!(sdp.contains("a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"), "{sdp}");
    }
    // Opus with RED on top (Chrome offers red/48000/2 as 63), in-band FEC kept.
    let mut audio = pts(&b, "audio");
    audio.sort();
    assert_eq!(audio, vec![63, 111], "{b}");
    assert!(b.contains("a=rtpmap:63 red/48000/2"), "{b}");
    assert!(b.contains("useinbandfec=1"), "{b}");
    assert_eq!(pts(&b, "video"), vec![120, 97], "the player's own PT:\n{b}");
    let msids: Vec<&str> = b.lines().filter(|l| l.starts_with("a=msid:")).collect();
    assert_eq!(msids.len(), 2);
    assert_eq!(
        msids[0].split_whitespace().next(),
        msids[1].split_whitespace().next()
    );
}

/// The DTLS role: `dtls_client` (on by default) answers an `actpass` offer `active`; with the
/// setting off, or when the offer names a role itself, str0m answers the opposite role.
#[test]
fn the_dtls_role_follows_the_setting_and_an_offer_that_names_one() {
    let now = Instant::now();
    let publish = |sfu: &mut Sfu, peer: u64, offer: String| {
        sfu.handle_command(
            MediaCommand::Publish {
                peer: PeerId(peer),
                room: None,
                offer,
                transport: Default::default(),
                record: None,
            },
            now,
        );
        answer_of(sfu, PeerId(peer))
    };
    let actpass = || {
        offer(
            &[
                audio_mline("sendonly", "0"),
                video_mline("sendonly", "1", "VP8"),
            ],
            "0 1",
            true,
        )
    };
    let mut on = sfu();
    let a = publish(&mut on, 1, actpass());
    assert!(
        a.contains("a=setup:active") && !a.contains("a=setup:passive"),
        "{a}"
    );
    // An offer that is the DTLS client itself gets `passive`, even with the role on.
    let active_offer = actpass().replace("a=setup:actpass", "a=setup:active");
    let a = publish(&mut on, 2, active_offer);
    assert!(
        a.contains("a=setup:passive") && !a.contains("a=setup:active"),
        "{a}"
    );

    let mut off = sfu();
    off.set_dtls_client(false);
    let a = publish(&mut off, 1, actpass());
    assert!(
        a.contains("a=setup:passive") && !a.contains("a=setup:active"),
        "{a}"
    );
}

#[test]
fn chrome_publish_prefers_h264_when_offered_first_and_screen_share_order() {
    let mut sfu = sfu();
    let now = Instant::now();
    // Video first, then audio (any order must work), H.264 preferred by the page.
    let o = offer(
        &[
            video_mline("sendonly", "0", "H264"),
            audio_mline("sendonly", "1"),
        ],
        "0 1",
        true,
    );
    sfu.handle_command(
        MediaCommand::Publish {
            peer: PeerId(1),
            room: None,
            offer: o,
            transport: Default::default(),
            record: None,
        },
        now,
    );
    let a = answer_of(&mut sfu, PeerId(1));
    check_answer(&a).unwrap();
    let first_m = a.lines().find(|l| l.starts_with("m=")).unwrap();
    assert!(first_m.starts_with("m=video"), "m-line order mirrored");
    assert_eq!(
        pts(&a, "video"),
        vec![102, 103],
        "H.264 42001f mode 1:\n{a}"
    );
    assert!(a.contains("packetization-mode=1;profile-level-id=42001f"));

    // A video-only screen share.
    let o = offer(&[video_mline("sendonly", "0", "VP8")], "0", true);
    sfu.handle_command(
        MediaCommand::Publish {
            peer: PeerId(2),
            room: None,
            offer: o,
            transport: Default::default(),
            record: None,
        },
        now,
    );
    let a = answer_of(&mut sfu, PeerId(2));
    check_answer(&a).unwrap();
    assert_eq!(a.lines().filter(|l| l.starts_with("m=")).count(), 1);

    // Play of the H.264 source: the player's answer has H.264 only.
    let p = offer(
        &[
            audio_mline("recvonly", "0"),
            video_mline("recvonly", "1", "VP8"),
        ],
        "0 1",
        false,
    );
    sfu.handle_command(
        MediaCommand::Play {
            peer: PeerId(3),
            source: PeerId(1),
            offer: p,
            transport: Default::default(),
            constraints: Default::default(),
        },
        now,
    );
    let b = answer_of(&mut sfu, PeerId(3));
    check_answer(&b).unwrap();
    assert_eq!(pts(&b, "video"), vec![102, 103], "{b}");
    assert!(!b.contains("VP8"));
}

/// `prefer_h264` (a server setting for RTMP players): Chrome's VP8-first offer is answered
/// with H.264 Constrained Baseline (PT 106), although Baseline (102) comes first in the offer;
/// the same offer without the setting gets VP8.
#[test]
fn prefer_h264_answers_a_vp8_first_offer_with_constrained_baseline() {
    let now = Instant::now();
    let publish = |sfu: &mut Sfu, peer: PeerId| {
        let o = offer(
            &[
                audio_mline("sendonly", "0"),
                video_mline("sendonly", "1", "VP8"),
            ],
            "0 1",
            true,
        );
        sfu.handle_command(
            MediaCommand::Publish {
                peer,
                room: None,
                offer: o,
                transport: Default::default(),
                record: None,
            },
            now,
        );
        let a = answer_of(sfu, peer);
        check_answer(&a).unwrap();
        a
    };
    let mut preferring = sfu();
    preferring.set_prefer_h264(true);
    let a = publish(&mut preferring, PeerId(1));
    assert_eq!(pts(&a, "video"), vec![106, 107], "H.264 42e01f + RTX:\n{a}");
    assert!(
        a.contains("packetization-mode=1;profile-level-id=42e01f"),
        "{a}"
    );
    assert_eq!(
        pts(&a, "audio"),
        vec![63, 111],
        "audio untouched (RED, Opus):\n{a}"
    );

    let mut plain = sfu();
    let a = publish(&mut plain, PeerId(1));
    assert_eq!(
        pts(&a, "video"),
        vec![96, 97],
        "VP8 without the setting:\n{a}"
    );
}
