//! Grants, limits, the operator's snapshot and commands (close a room, kick).

use crate::support;

use std::time::Duration;

use huddle_room::*;
use support::*;

fn grants(room: &str, publish: bool, record: bool) -> Grants {
    Grants {
        room: room.into(),
        publish,
        record,
    }
}

fn join_failure(h: &mut Harness, s: u64, room: &str) -> Option<String> {
    let out = h.join(s, room);
    failure(&to(&out, s))
}

#[test]
fn a_room_grant_limits_joins() {
    let mut h = Harness::new(RoomConfig::default());
    h.connect_with(1, "alice", grants("R", true, true));
    assert_eq!(
        join_failure(&mut h, 1, "Other"),
        Some("Not allowed to join room Other".into())
    );
    assert_eq!(h.hub.stats().rooms, 0, "a refused join creates no room");
    assert_eq!(join_failure(&mut h, 1, "R"), None);
    h.connect_with(2, "bob", grants("*", true, true));
    assert_eq!(join_failure(&mut h, 2, "Other"), None);
    assert_eq!(join_failure(&mut h, 2, "R"), None);
    // No grants (access control off): anything.
    h.connect(3, "carol");
    assert_eq!(join_failure(&mut h, 3, "Third"), None);
}

#[test]
fn publish_needs_the_publish_grant() {
    let mut h = Harness::new(RoomConfig::default());
    h.connect_with(1, "viewer", grants("R", false, true));
    h.join(1, "R");
    let out = h.cmd(1, Command::Publish(request("m1", "s1", Some("R"))));
    assert_eq!(
        statuses(&out, 1),
        vec![(
            "m1".into(),
            StreamState::Failed,
            "Not allowed to publish".into()
        )]
    );
    assert!(media_commands(&out).is_empty());
    // Playing is still allowed.
    h.connect(2, "cam");
    h.join(2, "R");
    h.publish_live(2, "R", "cam-1");
    let (_, out) = h.play_live(1, "R", "cam-1", "p1");
    assert_eq!(statuses(&out, 1).last().unwrap().1, StreamState::Playing);
}

#[test]
fn record_is_ignored_without_the_record_grant() {
    let mut h = Harness::new(RoomConfig::default());
    h.connect_with(1, "alice", grants("*", true, false));
    h.join_recorded(1, "R");
    let mut req = request("m1", "s1", Some("R"));
    req.record = true;
    let out = h.cmd(1, Command::Publish(req));
    match &media_commands(&out)[..] {
        [MediaCommand::Publish { record, .. }] => assert_eq!(record, &None),
        other => panic!("{other:?}"),
    }
    assert!(
        !h.hub.snapshot().rooms[0].record,
        "the room does not record"
    );
    // With the grant, both are honoured.
    h.connect_with(2, "bob", grants("*", true, true));
    h.join_recorded(2, "Q");
    assert!(h.hub.snapshot().rooms[0].record);
    let mut req = request("m2", "s2", Some("Q"));
    req.record = true;
    let out = h.cmd(2, Command::Publish(req));
    assert!(matches!(
        &media_commands(&out)[..],
        [MediaCommand::Publish {
            record: Some(_),
            ..
        }]
    ));
}

#[test]
fn max_rooms_refuses_a_new_room_but_not_an_existing_one() {
    let mut h = Harness::new(RoomConfig {
        max_rooms: 2,
        ..RoomConfig::default()
    });
    h.connect(1, "a");
    h.connect(2, "b");
    assert_eq!(join_failure(&mut h, 1, "R1"), None);
    assert_eq!(join_failure(&mut h, 1, "R2"), None);
    assert_eq!(join_failure(&mut h, 1, "R3"), Some("Too many rooms".into()));
    assert_eq!(join_failure(&mut h, 2, "R2"), None, "existing room");
    h.leave(1, "R1");
    assert_eq!(join_failure(&mut h, 2, "R3"), None, "a slot freed");
}

#[test]
fn streams_per_session_are_limited() {
    let mut h = Harness::new(RoomConfig {
        max_streams_per_session: 2,
        ..RoomConfig::default()
    });
    h.connect(1, "a");
    h.join(1, "R");
    h.publish_live(1, "R", "s1");
    h.publish_live(1, "R", "s2");
    let out = h.cmd(1, Command::Publish(request("m3", "s3", Some("R"))));
    assert_eq!(
        statuses(&out, 1),
        vec![(
            "m3".into(),
            StreamState::Failed,
            "Too many streams: at most 2 per session".into()
        )]
    );
    // Another session has its own budget; an unpublish frees one.
    h.connect(2, "b");
    h.join(2, "R");
    h.publish_live(2, "R", "b1");
    h.cmd(
        1,
        Command::Unpublish {
            media_session_id: "pub-s1".into(),
        },
    );
    h.publish_live(1, "R", "s3");
    assert_eq!(h.hub.stats().publishers, 3);
}

#[test]
fn snapshot_lists_rooms_participants_streams_and_players() {
    let mut h = Harness::new(RoomConfig::default());
    h.connect(1, "alice");
    h.connect(2, "bob");
    h.join(1, "R");
    h.join(2, "R");
    let (pub_peer, _) = h.publish_live(1, "R", "alice-cam");
    let (play_peer, _) = h.play_live(2, "R", "alice-cam", "p1");
    h.cmd(2, Command::Publish(request("m2", "bob-cam", Some("R"))));
    h.input(Input::Disconnect {
        session: SessionId(2),
    });
    let snap = h.hub.snapshot();
    assert_eq!(snap.streams, vec![]);
    assert_eq!(snap.rooms.len(), 1);
    let room = &snap.rooms[0];
    assert_eq!(room.name, "R");
    assert_eq!(
        room.participants,
        vec![
            ParticipantSnapshot {
                login: "alice".into(),
                session: Some(SessionId(1))
            },
            ParticipantSnapshot {
                login: "bob".into(),
                session: None
            },
        ]
    );
    assert_eq!(room.streams.len(), 1, "bob's streams ended with his socket");
    let s = &room.streams[0];
    assert_eq!((s.name.as_str(), s.login.as_str()), ("alice-cam", "alice"));
    assert_eq!((s.peer, s.live), (pub_peer, true));
    assert_eq!(s.players, vec![], "bob's player ended too");
    // A live player shows up.
    h.connect(3, "carol");
    h.join(3, "R");
    let (carol_peer, _) = h.play_live(3, "R", "alice-cam", "p3");
    assert_ne!(carol_peer, play_peer);
    let snap = h.hub.snapshot();
    assert_eq!(
        snap.rooms[0].streams[0].players,
        vec![PlayerSnapshot {
            login: "carol".into(),
            peer: carol_peer,
            live: true
        }]
    );
    assert_eq!(snap, h.hub.snapshot(), "deterministic");
}

#[test]
fn close_room_removes_everyone_ends_streams_and_finalizes() {
    let mut h = Harness::new(RoomConfig::default());
    h.connect(1, "alice");
    h.connect(2, "bob");
    h.connect(3, "carol");
    h.join_recorded(1, "R");
    h.join(2, "R");
    h.join(3, "R");
    h.join(3, "Other");
    let (peer_a, _) = h.publish_live(1, "R", "a-cam");
    let (peer_b, _) = h.play_live(2, "R", "a-cam", "b-play");
    h.input(Input::Disconnect {
        session: SessionId(3),
    });
    let out = h.input(Input::CloseRoom { room: "R".into() });
    // Alice's publish ends (UNPUBLISHED to her), bob's player is stopped.
    assert!(statuses(&out, 1).contains(&("pub-a-cam".into(), StreamState::Unpublished, "".into())));
    assert_eq!(statuses(&out, 2)[0].1, StreamState::Stopped);
    let closed: Vec<MediaCommand> = media_commands(&out);
    assert!(closed.contains(&MediaCommand::Close { peer: peer_a }));
    assert!(closed.contains(&MediaCommand::Close { peer: peer_b }));
    assert!(events(&out, 2).contains(&RoomEvent::Left("alice".into())));
    let rooms = finalized(&out);
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms[0].name, "R");
    assert!(rooms[0].record);
    assert!(!h.hub.has_room("R"));
    assert!(
        h.hub.has_participant("Other", "carol"),
        "other rooms untouched"
    );
    // Sessions are still connected but no longer in R.
    let out = h.say(1, "R", "bob", "hi");
    assert_eq!(failure(&to(&out, 1)), Some("Not in room R".into()));
    assert_eq!(h.hub.stats().participants, 1);
    // The away participant's grace timer no longer fires for R.
    let out = h.advance(Duration::from_secs(120));
    assert!(finalized(&out).iter().all(|r| r.name == "Other"));
    // Closing an unknown room is a no-op.
    assert!(h.input(Input::CloseRoom { room: "R".into() }).is_empty());
}

#[test]
fn kick_removes_one_participant() {
    let mut h = Harness::new(RoomConfig::default());
    h.connect(1, "alice");
    h.connect(2, "bob");
    h.join(1, "R");
    h.join(2, "R");
    let (peer, _) = h.publish_live(2, "R", "b-cam");
    h.play_live(1, "R", "b-cam", "a-play");
    let out = h.input(Input::Kick {
        room: "R".into(),
        login: "bob".into(),
    });
    assert!(statuses(&out, 2).contains(&("pub-b-cam".into(), StreamState::Unpublished, "".into())));
    assert!(media_commands(&out).contains(&MediaCommand::Close { peer }));
    let ev = events(&out, 1);
    assert_eq!(
        ev,
        vec![
            RoomEvent::Unpublished(stream("bob", "b-cam")),
            RoomEvent::Left("bob".into())
        ]
    );
    assert!(finalized(&out).is_empty());
    assert!(!h.hub.has_participant("R", "bob"));
    // Bob may join again.
    let out = h.join(2, "R");
    assert!(accepted(&to(&out, 2)[0]));
    // Unknown login: nothing happens.
    assert!(h
        .input(Input::Kick {
            room: "R".into(),
            login: "zed".into()
        })
        .is_empty());
}
