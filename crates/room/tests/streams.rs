//! Publish, play, stop and media failures.

use crate::support;

use huddle_room::*;
use support::*;

fn two_in_room() -> Harness {
    alice_and_bob_in_r(RoomConfig::default())
}

#[test]
fn publish_answers_then_announces_only_when_live() {
    let mut h = two_in_room();
    let out = h.cmd(
        1,
        Command::Publish(request("m1", "R-alice-1f0c", Some("R"))),
    );
    let cmds = media_commands(&out);
    let MediaCommand::Publish {
        peer,
        room,
        offer,
        transport,
        record,
    } = &cmds[0]
    else {
        panic!("{cmds:?}")
    };
    assert_eq!(*transport, Transport::Udp, "the default");
    assert_eq!(
        room.as_deref(),
        Some("R"),
        "the room travels for shard placement"
    );
    assert_eq!(offer, "offer");
    assert_eq!(record, &None);
    assert!(
        events(&out, 2).is_empty(),
        "not announced before it is live"
    );
    let out = h.input(Input::Media(MediaEvent::Answer {
        peer: *peer,
        sdp: "v=0 answer".into(),
    }));
    assert_eq!(
        to(&out, 1),
        vec![ServerMessage::RemoteSdp {
            media_session_id: "m1".into(),
            sdp: "v=0 answer".into()
        }]
    );
    let out = h.input(Input::Media(MediaEvent::Connected { peer: *peer }));
    assert_eq!(
        statuses(&out, 1),
        vec![("m1".into(), StreamState::Publishing, String::new())]
    );
    assert_eq!(
        events(&out, 2),
        vec![RoomEvent::Published(stream("alice", "R-alice-1f0c"))]
    );
    assert!(events(&out, 1).is_empty(), "never PUBLISHED about oneself");
    // A repeated Connected changes nothing.
    let out = h.input(Input::Media(MediaEvent::Connected { peer: *peer }));
    assert!(out.is_empty());
}

#[test]
fn published_only_reaches_participants_that_know_the_publisher() {
    let mut h = two_in_room();
    h.connect(3, "carol");
    h.join(3, "Other");
    let (_, out) = h.publish_live(1, "R", "R-alice-1");
    assert!(to(&out, 3).is_empty());
}

#[test]
fn play_connects_the_player_to_the_source() {
    let mut h = two_in_room();
    let (source, _) = h.publish_live(1, "R", "R-alice-1");
    let out = h.cmd(2, Command::Play(request("b1", "R-alice-1", Some("R"))));
    let cmds = media_commands(&out);
    let MediaCommand::Play {
        peer, source: s, ..
    } = cmds[0].clone()
    else {
        panic!("{cmds:?}")
    };
    assert_eq!(s, source);
    h.input(Input::Media(MediaEvent::Answer {
        peer,
        sdp: "a".into(),
    }));
    let out = h.input(Input::Media(MediaEvent::Connected { peer }));
    assert_eq!(
        statuses(&out, 2),
        vec![("b1".into(), StreamState::Playing, String::new())]
    );
    assert_eq!(h.hub.stats().players, 1);
}

/// The SDK's `transport: "TCP"` reaches the media plane as a field of the publish and play
/// commands (it decides which ICE candidates the answers offer).
#[test]
fn the_transport_option_travels_to_the_media_plane() {
    let mut h = two_in_room();
    let tcp = |msid: &str, name: &str| StreamRequest {
        transport: Transport::Tcp,
        ..request(msid, name, Some("R"))
    };
    let out = h.cmd(1, Command::Publish(tcp("m1", "R-alice-1")));
    let cmds = media_commands(&out);
    let MediaCommand::Publish {
        peer, transport, ..
    } = cmds[0].clone()
    else {
        panic!("{cmds:?}")
    };
    assert_eq!(transport, Transport::Tcp);
    h.input(Input::Media(MediaEvent::Answer {
        peer,
        sdp: "a".into(),
    }));
    h.input(Input::Media(MediaEvent::Connected { peer }));
    let out = h.cmd(2, Command::Play(tcp("b1", "R-alice-1")));
    let cmds = media_commands(&out);
    assert!(
        matches!(&cmds[0], MediaCommand::Play { transport: Transport::Tcp, source, .. } if *source == peer),
        "{cmds:?}"
    );
    let out = h.cmd(2, Command::Play(request("b2", "R-alice-1", Some("R"))));
    assert!(
        matches!(
            &media_commands(&out)[0],
            MediaCommand::Play {
                transport: Transport::Udp,
                ..
            }
        ),
        "a play without the option keeps the default"
    );
}

/// `playStream`'s width/height/bitrate/quality reach the media plane with the play command
/// (it caps a simulcast player's layer by them).
#[test]
fn play_constraints_travel_to_the_media_plane() {
    let mut h = two_in_room();
    let out = h.cmd(1, Command::Publish(request("m1", "R-alice-1", Some("R"))));
    let MediaCommand::Publish { peer, .. } = media_commands(&out)[0].clone() else {
        panic!("no publish")
    };
    h.input(Input::Media(MediaEvent::Answer {
        peer,
        sdp: "a".into(),
    }));
    h.input(Input::Media(MediaEvent::Connected { peer }));
    let asked = PlayConstraints {
        width: Some(320),
        height: Some(240),
        video_bps: Some(300_000),
        quality: Some(50),
    };
    let play = StreamRequest {
        constraints: asked,
        ..request("b1", "R-alice-1", Some("R"))
    };
    let out = h.cmd(2, Command::Play(play));
    assert!(
        matches!(&media_commands(&out)[0], MediaCommand::Play { constraints, .. } if *constraints == asked),
        "{out:?}"
    );
    let out = h.cmd(2, Command::Play(request("b2", "R-alice-1", Some("R"))));
    assert!(
        matches!(&media_commands(&out)[0], MediaCommand::Play { constraints, .. } if *constraints == PlayConstraints::default()),
        "none asked: no limit"
    );
}

#[test]
fn play_refusals() {
    let mut h = two_in_room();
    let out = h.cmd(2, Command::Play(request("b1", "nope", Some("R"))));
    assert_eq!(
        statuses(&out, 2),
        vec![("b1".into(), StreamState::Failed, "Stream not found".into())]
    );
    // A stream still negotiating cannot be played yet.
    h.cmd(1, Command::Publish(request("m1", "R-alice-1", Some("R"))));
    let out = h.cmd(2, Command::Play(request("b2", "R-alice-1", Some("R"))));
    assert_eq!(statuses(&out, 2)[0].1, StreamState::Failed);
    // An outsider cannot play a room's stream.
    h.input(Input::Media(MediaEvent::Connected { peer: PeerId(1) }));
    h.connect(3, "mallory");
    let out = h.cmd(3, Command::Play(request("x", "R-alice-1", Some("R"))));
    assert_eq!(
        statuses(&out, 3),
        vec![("x".into(), StreamState::Failed, "Not in room R".into())]
    );
    assert!(media_commands(&out).is_empty());
}

#[test]
fn publish_refusals() {
    let mut h = two_in_room();
    h.publish_live(1, "R", "R-alice-1");
    let out = h.cmd(2, Command::Publish(request("b1", "R-alice-1", Some("R"))));
    assert_eq!(
        statuses(&out, 2),
        vec![(
            "b1".into(),
            StreamState::Failed,
            "Stream name is already in use".into()
        )]
    );
    let out = h.cmd(2, Command::Publish(request("b2", "S-bob-1", Some("S"))));
    assert_eq!(
        statuses(&out, 2),
        vec![("b2".into(), StreamState::Failed, "Not in room S".into())]
    );
    let out = h.cmd(2, Command::Publish(request("b3", "", Some("R"))));
    assert_eq!(statuses(&out, 2)[0].1, StreamState::Failed);
    assert!(media_commands(&out).is_empty());
    assert_eq!(h.hub.stats().publishers, 1);
}

#[test]
fn unpublish_stops_players_and_tells_the_room() {
    let mut h = two_in_room();
    let (source, _) = h.publish_live(1, "R", "R-alice-1");
    let (player, _) = h.play_live(2, "R", "R-alice-1", "b1");
    let out = h.cmd(
        1,
        Command::Unpublish {
            media_session_id: "pub-R-alice-1".into(),
        },
    );
    assert_eq!(
        statuses(&out, 1),
        vec![(
            "pub-R-alice-1".into(),
            StreamState::Unpublished,
            String::new()
        )]
    );
    assert_eq!(
        statuses(&out, 2),
        vec![(
            "b1".into(),
            StreamState::Stopped,
            "Stopped by publisher stop".into()
        )]
    );
    assert_eq!(
        events(&out, 2),
        vec![RoomEvent::Unpublished(stream("alice", "R-alice-1"))]
    );
    let cmds = media_commands(&out);
    assert!(cmds.contains(&MediaCommand::Close { peer: source }));
    assert!(cmds.contains(&MediaCommand::Close { peer: player }));
    // The name is free again.
    let (_, out) = h.publish_live(1, "R", "R-alice-1");
    assert_eq!(
        events(&out, 2),
        vec![RoomEvent::Published(stream("alice", "R-alice-1"))]
    );
}

#[test]
fn stop_ends_only_the_player() {
    let mut h = two_in_room();
    h.publish_live(1, "R", "R-alice-1");
    let (player, _) = h.play_live(2, "R", "R-alice-1", "b1");
    let out = h.cmd(
        2,
        Command::Stop {
            media_session_id: "b1".into(),
        },
    );
    assert_eq!(
        statuses(&out, 2),
        vec![("b1".into(), StreamState::Stopped, String::new())]
    );
    assert_eq!(
        media_commands(&out),
        vec![MediaCommand::Close { peer: player }]
    );
    assert!(to(&out, 1).is_empty());
    assert_eq!(h.hub.stats().publishers, 1);
    assert_eq!(h.hub.stats().players, 0);
}

#[test]
fn media_failure_of_a_publisher_is_reported_everywhere() {
    let mut h = two_in_room();
    let (source, _) = h.publish_live(1, "R", "R-alice-1");
    h.play_live(2, "R", "R-alice-1", "b1");
    let out = h.input(Input::Media(MediaEvent::Failed {
        peer: source,
        reason: "Failed by ICE timeout".into(),
    }));
    assert_eq!(
        statuses(&out, 1),
        vec![(
            "pub-R-alice-1".into(),
            StreamState::Failed,
            "Failed by ICE timeout".into()
        )]
    );
    assert_eq!(
        statuses(&out, 2),
        vec![(
            "b1".into(),
            StreamState::Stopped,
            "Stopped by publisher stop".into()
        )]
    );
    assert_eq!(
        events(&out, 2),
        vec![RoomEvent::Failed(stream("alice", "R-alice-1"))]
    );
    assert_eq!(h.hub.stats().publishers, 0);
    assert_eq!(h.hub.stats().players, 0);
}

#[test]
fn media_failure_of_a_player_touches_only_it() {
    let mut h = two_in_room();
    h.publish_live(1, "R", "R-alice-1");
    let (player, _) = h.play_live(2, "R", "R-alice-1", "b1");
    let out = h.input(Input::Media(MediaEvent::Failed {
        peer: player,
        reason: "No common codecs".into(),
    }));
    assert_eq!(
        statuses(&out, 2),
        vec![("b1".into(), StreamState::Failed, "No common codecs".into())]
    );
    assert_eq!(
        media_commands(&out),
        vec![MediaCommand::Close { peer: player }]
    );
    assert!(to(&out, 1).is_empty());
}

#[test]
fn failure_before_connection_never_announces() {
    let mut h = two_in_room();
    let out = h.cmd(1, Command::Publish(request("m1", "R-alice-1", Some("R"))));
    let MediaCommand::Publish { peer, .. } = media_commands(&out)[0].clone() else {
        panic!()
    };
    let out = h.input(Input::Media(MediaEvent::Failed {
        peer,
        reason: "Bad SDP: no media".into(),
    }));
    assert_eq!(
        statuses(&out, 1),
        vec![("m1".into(), StreamState::Failed, "Bad SDP: no media".into())]
    );
    assert!(events(&out, 2).is_empty());
    assert_eq!(media_commands(&out), vec![MediaCommand::Close { peer }]);
}

#[test]
fn streams_outside_rooms_can_be_published_and_played_by_name() {
    let mut h = Harness::new(RoomConfig::default());
    h.connect(1, "a");
    h.connect(2, "b");
    let out = h.cmd(1, Command::Publish(request("m1", "stream1", None)));
    let MediaCommand::Publish { peer, .. } = media_commands(&out)[0].clone() else {
        panic!()
    };
    h.input(Input::Media(MediaEvent::Connected { peer }));
    let out = h.cmd(2, Command::Play(request("p1", "stream1", None)));
    assert!(matches!(media_commands(&out)[0], MediaCommand::Play { source, .. } if source == peer));
}

#[test]
fn every_opened_peer_is_closed_exactly_once() {
    let mut h = Harness::new(RoomConfig::default());
    let mut all = Vec::new();
    for (s, l) in [(1, "a"), (2, "b"), (3, "c"), (4, "d")] {
        h.connect(s, l);
        all.extend(h.join(s, "R"));
    }
    for s in 1..=4u64 {
        let (_, out) = h.publish_live(s, "R", &format!("R-{s}"));
        all.extend(out);
    }
    for s in 1..=4u64 {
        for t in 1..=4u64 {
            if s != t {
                let (_, out) = h.play_live(s, "R", &format!("R-{t}"), &format!("{s}-plays-{t}"));
                all.extend(out);
            }
        }
    }
    assert_eq!(h.hub.stats().players, 12);
    all.extend(h.leave(1, "R"));
    all.extend(h.input(Input::Disconnect {
        session: SessionId(2),
    }));
    all.extend(h.cmd(
        3,
        Command::Unpublish {
            media_session_id: "pub-R-3".into(),
        },
    ));
    all.extend(h.leave(3, "R"));
    all.extend(h.leave(4, "R"));
    all.extend(h.advance(std::time::Duration::from_secs(61)));
    let cmds = media_commands(&all);
    let opened: Vec<PeerId> = cmds
        .iter()
        .filter_map(|c| match c {
            MediaCommand::Publish { peer, .. } | MediaCommand::Play { peer, .. } => Some(*peer),
            _ => None,
        })
        .collect();
    assert_eq!(opened.len(), 16);
    for peer in opened {
        let closes = cmds
            .iter()
            .filter(|c| **c == MediaCommand::Close { peer })
            .count();
        assert_eq!(closes, 1, "{peer} closed {closes} times");
    }
    assert_eq!(
        h.hub.stats(),
        HubStats {
            sessions: 3,
            ..HubStats::default()
        }
    );
}

#[test]
fn ingest_is_checked_and_announced_like_a_publish_without_an_offer() {
    let mut h = two_in_room();
    let mut req = request("rtmp-1", "R-alice-rtmp", Some("R"));
    req.record = true;
    let out = h.cmd(
        1,
        Command::Ingest {
            request: req,
            codecs: h264_opus(),
        },
    );
    let cmds = media_commands(&out);
    let MediaCommand::Ingest {
        peer,
        room,
        codecs,
        record,
    } = &cmds[0]
    else {
        panic!("{cmds:?}")
    };
    assert_eq!(room.as_deref(), Some("R"));
    assert_eq!(codecs, &h264_opus(), "the codecs pass through typed");
    assert_eq!(
        record.as_ref().map(|r| r.stream.as_str()),
        Some("R-alice-rtmp")
    );
    assert!(
        events(&out, 2).is_empty(),
        "not announced before it is live"
    );
    let peer = *peer;
    let out = h.input(Input::Media(MediaEvent::Connected { peer }));
    assert_eq!(
        statuses(&out, 1),
        vec![("rtmp-1".into(), StreamState::Publishing, String::new())]
    );
    assert_eq!(
        events(&out, 2),
        vec![RoomEvent::Published(stream("alice", "R-alice-rtmp"))]
    );
    // Browsers play it like any stream.
    let out = h.cmd(2, Command::Play(request("b1", "R-alice-rtmp", Some("R"))));
    assert!(matches!(media_commands(&out)[0], MediaCommand::Play { source, .. } if source == peer));
    // Same name checks as a publish.
    let again = request("rtmp-2", "R-alice-rtmp", Some("R"));
    let out = h.cmd(
        1,
        Command::Ingest {
            request: again,
            codecs: h264_opus(),
        },
    );
    assert!(media_commands(&out).is_empty());
    assert_eq!(
        statuses(&out, 1),
        vec![(
            "rtmp-2".into(),
            StreamState::Failed,
            "Stream name is already in use".into()
        )]
    );
    // Not in the room: refused.
    let out = h.cmd(
        1,
        Command::Ingest {
            request: request("rtmp-3", "X-alice", Some("X")),
            codecs: h264_opus(),
        },
    );
    assert!(media_commands(&out).is_empty());
    assert_eq!(statuses(&out, 1)[0].1, StreamState::Failed);
    // Leaving ends it like a publication: UNPUBLISHED to the room, Close to the media plane.
    let out = h.leave(1, "R");
    assert!(events(&out, 2).contains(&RoomEvent::Unpublished(stream("alice", "R-alice-rtmp"))));
    assert!(media_commands(&out).contains(&MediaCommand::Close { peer }));
}

fn h264_opus() -> IngestCodecs {
    IngestCodecs {
        video: Some(IngestVideo::H264 {
            profile_level_id: 0x42c01f,
        }),
        audio: Some(IngestAudio::Opus { channels: 2 }),
    }
}

#[test]
fn a_direct_client_joins_and_ingests_with_results_not_messages() {
    let mut h = two_in_room();
    h.input(Input::Connect {
        session: SessionId(3),
        login: Some("encoder".into()),
        grants: None,
    });
    h.drain();
    let now = h.now();
    assert_eq!(
        h.hub.join_direct(now, SessionId(3), "X"),
        Ok(()),
        "a new room is created for it"
    );
    let now = h.now();
    assert!(
        h.hub.join_direct(now, SessionId(99), "R").is_err(),
        "unconnected"
    );
    h.drain();
    let now = h.now();
    let peer = h
        .hub
        .ingest_direct(
            now,
            SessionId(3),
            request("rtmp-9", "X-encoder-rtmp", Some("X")),
            h264_opus(),
        )
        .expect("ingest accepted");
    let out = h.drain();
    assert!(
        matches!(media_commands(&out)[..], [MediaCommand::Ingest { peer: p, .. }] if p == peer)
    );
    // Same checks as a publish: the name is taken now.
    let now = h.now();
    assert_eq!(
        h.hub.ingest_direct(
            now,
            SessionId(3),
            request("rtmp-10", "X-encoder-rtmp", Some("X")),
            h264_opus(),
        ),
        Err("Stream name is already in use".to_string())
    );
}

#[test]
fn a_failed_recording_is_marked_on_its_stream_and_the_stream_goes_on() {
    let mut h = two_in_room();
    let mut req = request("m1", "R-alice-1", Some("R"));
    req.record = true;
    let out = h.cmd(1, Command::Publish(req));
    let MediaCommand::Publish { peer, .. } = media_commands(&out)[0].clone() else {
        panic!()
    };
    h.input(Input::Media(MediaEvent::Connected { peer }));
    let out = h.input(Input::Media(MediaEvent::RecordingFailed {
        peer,
        reason: "disk full".into(),
    }));
    assert!(media_commands(&out).is_empty(), "the stream is not closed");
    let snap = h.hub.snapshot();
    let stream = &snap.rooms[0].streams[0];
    assert_eq!(stream.recording_failed.as_deref(), Some("disk full"));
    assert!(stream.live);
}
