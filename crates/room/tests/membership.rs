//! Join, leave, STATE/JOINED/LEFT ordering, duplicate login, full room, chat.

use crate::support;

use huddle_room::*;
use support::*;

fn two_in_room() -> Harness {
    alice_and_bob_in_r(RoomConfig::default())
}

#[test]
fn connect_establishes_with_the_login() {
    let mut h = Harness::new(RoomConfig::default());
    let out = h.connect(1, "alice");
    assert_eq!(
        to(&out, 1),
        vec![ServerMessage::Established {
            login: "alice".into()
        }]
    );
    let out = h.input(Input::Connect {
        session: SessionId(2),
        login: None,
        grants: None,
    });
    assert_eq!(
        to(&out, 2),
        vec![ServerMessage::Established {
            login: "guest-2".into()
        }]
    );
}

#[test]
fn first_join_creates_the_room_and_gets_an_empty_state_after_accepted() {
    let mut h = Harness::new(RoomConfig::default());
    h.connect(1, "alice");
    let out = h.join(1, "R");
    let msgs = to(&out, 1);
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(accepted(&msgs[0]), "ACCEPTED comes first: {msgs:?}");
    assert_eq!(
        msgs[1],
        ServerMessage::RoomEvent {
            room: "R".into(),
            event: RoomEvent::State(vec![])
        }
    );
    assert_eq!(h.hub.stats().rooms, 1);
}

#[test]
fn newcomer_sees_others_and_others_see_joined_never_themselves() {
    let mut h = Harness::new(RoomConfig::default());
    h.connect(1, "alice");
    h.connect(2, "bob");
    h.connect(3, "carol");
    h.join(1, "R");
    let out = h.join(2, "R");
    assert_eq!(
        events(&out, 2),
        vec![RoomEvent::State(vec![login("alice")])]
    );
    assert_eq!(events(&out, 1), vec![RoomEvent::Joined("bob".into())]);
    let out = h.join(3, "R");
    assert_eq!(
        events(&out, 3),
        vec![RoomEvent::State(vec![login("alice"), login("bob")])]
    );
    assert_eq!(events(&out, 1), vec![RoomEvent::Joined("carol".into())]);
    assert_eq!(events(&out, 2), vec![RoomEvent::Joined("carol".into())]);
}

#[test]
fn state_lists_all_logins_before_any_stream() {
    let mut h = two_in_room();
    h.publish_live(1, "R", "R-alice-1f0c");
    h.publish_live(2, "R", "R-bob-2a7d");
    h.connect(3, "carol");
    let out = h.join(3, "R");
    assert_eq!(
        events(&out, 3),
        vec![RoomEvent::State(vec![
            login("alice"),
            login("bob"),
            StateEntry::Stream(stream("alice", "R-alice-1f0c")),
            StateEntry::Stream(stream("bob", "R-bob-2a7d")),
        ])]
    );
}

#[test]
fn duplicate_login_is_refused_and_the_first_one_keeps_its_place() {
    let mut h = two_in_room();
    h.connect(3, "alice");
    let out = h.join(3, "R");
    assert_eq!(
        failure(&to(&out, 3)).as_deref(),
        Some("Participant with same login already in the room")
    );
    assert!(
        events(&out, 2).is_empty(),
        "bob hears nothing about the refused one"
    );
    let out = h.say(2, "R", "alice", "still there?");
    assert_eq!(
        events(&out, 1),
        vec![RoomEvent::Message {
            from: "bob".into(),
            text: "still there?".into()
        }]
    );
}

#[test]
fn full_room_is_refused() {
    let mut h = Harness::new(RoomConfig {
        max_participants: 2,
        ..RoomConfig::default()
    });
    for (s, l) in [(1, "a"), (2, "b"), (3, "c")] {
        h.connect(s, l);
    }
    h.join(1, "R");
    h.join(2, "R");
    let out = h.join(3, "R");
    assert_eq!(failure(&to(&out, 3)).as_deref(), Some("Room is full"));
    assert!(events(&out, 1).is_empty());
    assert_eq!(h.hub.stats().participants, 2);
    // Another room is not affected.
    let out = h.join(3, "Other");
    assert!(accepted(&to(&out, 3)[0]));
}

#[test]
fn empty_room_name_is_refused() {
    let mut h = Harness::new(RoomConfig::default());
    h.connect(1, "alice");
    let out = h.join(1, "  ");
    assert_eq!(failure(&to(&out, 1)).as_deref(), Some("Room name is empty"));
    assert_eq!(h.hub.stats().rooms, 0);
}

#[test]
fn unicode_chat_is_delivered_byte_exact_to_the_addressee_only() {
    let mut h = two_in_room();
    h.connect(3, "carol");
    h.join(3, "R");
    h.drain();
    let text = "Привет, 世界 👋 مرحبا";
    let out = h.say(1, "R", "bob", text);
    assert!(accepted(&to(&out, 1)[0]));
    let got = events(&out, 2);
    assert_eq!(
        got,
        vec![RoomEvent::Message {
            from: "alice".into(),
            text: text.into()
        }]
    );
    if let RoomEvent::Message { text: t, .. } = &got[0] {
        assert_eq!(t.as_bytes(), text.as_bytes());
    }
    assert!(
        events(&out, 3).is_empty(),
        "point-to-point, carol gets nothing"
    );
}

#[test]
fn chat_errors_are_clear() {
    let mut h = Harness::new(RoomConfig {
        max_message_bytes: 8,
        ..RoomConfig::default()
    });
    h.connect(1, "alice");
    h.connect(2, "bob");
    h.join(1, "R");
    h.join(2, "R");
    let out = h.say(1, "R", "nobody", "hi");
    assert_eq!(
        failure(&to(&out, 1)).as_deref(),
        Some("Participant nobody is not in room R")
    );
    let out = h.say(1, "R", "bob", "123456789");
    assert_eq!(
        failure(&to(&out, 1)).as_deref(),
        Some("Message is too long: 9 bytes, the limit is 8")
    );
    assert!(events(&out, 2).is_empty());
    let out = h.say(1, "R", "alice", "me");
    assert!(failure(&to(&out, 1)).is_some());
    let out = h.say(1, "Elsewhere", "bob", "hi");
    assert_eq!(
        failure(&to(&out, 1)).as_deref(),
        Some("Not in room Elsewhere")
    );
}

#[test]
fn unknown_command_and_commands_before_connection_fail_cleanly() {
    let mut h = Harness::new(RoomConfig::default());
    let out = h.cmd(
        9,
        Command::Join {
            op: "x".into(),
            room: "R".into(),
            record: false,
        },
    );
    assert_eq!(
        to(&out, 9),
        vec![ServerMessage::DataStatus {
            op: "x".into(),
            result: Err("Not connected: send `connection` first".into())
        }]
    );
    assert_eq!(h.hub.stats().rooms, 0);
    h.connect(1, "alice");
    let out = h.cmd(
        1,
        Command::UnknownData {
            op: "y".into(),
            command: "dance".into(),
        },
    );
    assert_eq!(
        failure(&to(&out, 1)).as_deref(),
        Some("Unknown command: dance")
    );
}

#[test]
fn leave_tells_the_others_after_the_stream_cleanup() {
    let mut h = two_in_room();
    let (alice_pub, _) = h.publish_live(1, "R", "R-alice-1f0c");
    let (bob_play, _) = h.play_live(2, "R", "R-alice-1f0c", "bob-plays-alice");
    let out = h.leave(1, "R");
    let alice = to(&out, 1);
    assert!(accepted(&alice[0]), "ACCEPTED first: {alice:?}");
    assert_eq!(
        statuses(&out, 1),
        vec![(
            "pub-R-alice-1f0c".into(),
            StreamState::Unpublished,
            String::new()
        )]
    );
    assert_eq!(
        statuses(&out, 2),
        vec![(
            "bob-plays-alice".into(),
            StreamState::Stopped,
            "Stopped by publisher stop".into()
        )]
    );
    assert_eq!(
        events(&out, 2),
        vec![
            RoomEvent::Unpublished(stream("alice", "R-alice-1f0c")),
            RoomEvent::Left("alice".into())
        ]
    );
    let closes = media_commands(&out);
    assert!(closes.contains(&MediaCommand::Close { peer: alice_pub }));
    assert!(closes.contains(&MediaCommand::Close { peer: bob_play }));
    assert_eq!(h.hub.stats().publishers, 0);
    assert_eq!(h.hub.stats().players, 0);
    // The client's own unPublishStream after leave is tolerated silently.
    let out = h.cmd(
        1,
        Command::Unpublish {
            media_session_id: "pub-R-alice-1f0c".into(),
        },
    );
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn leave_of_a_room_not_joined_fails() {
    let mut h = Harness::new(RoomConfig::default());
    h.connect(1, "alice");
    let out = h.leave(1, "R");
    assert_eq!(failure(&to(&out, 1)).as_deref(), Some("Not in room R"));
}

#[test]
fn last_leave_finalizes_the_room_at_once() {
    let mut h = two_in_room();
    let out = h.leave(1, "R");
    assert!(finalized(&out).is_empty());
    let out = h.leave(2, "R");
    let f = finalized(&out);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].name, "R");
    assert!(!f[0].record);
    assert_eq!(h.hub.stats().rooms, 0);
    assert_eq!(h.hub.poll_timeout(), None);
}

#[test]
fn leave_then_join_by_the_same_user_always_works() {
    let mut h = Harness::new(RoomConfig::default());
    h.connect(1, "alice");
    h.connect(2, "bob");
    h.join(2, "R");
    for round in 0..200 {
        let mut out = h.leave(1, "R");
        out.extend(h.join(1, "R"));
        // In the same batch, the join is accepted with the current state.
        let alice = to(&out, 1);
        let accepted_ops = alice.iter().filter(|m| accepted(m)).count();
        assert_eq!(
            accepted_ops,
            if round == 0 { 1 } else { 2 },
            "round {round}: {alice:?}"
        );
        assert!(events(&out, 1).contains(&RoomEvent::State(vec![login("bob")])));
        let bob = events(&out, 2);
        if round > 0 {
            assert_eq!(
                bob,
                vec![
                    RoomEvent::Left("alice".into()),
                    RoomEvent::Joined("alice".into())
                ]
            );
        }
    }
    assert_eq!(h.hub.stats().participants, 2);
    // Alone in a room: leave finalizes, join creates it anew, with no leftovers.
    h.leave(2, "R");
    for _ in 0..100 {
        let mut out = h.leave(1, "R");
        out.extend(h.join(1, "R"));
        assert_eq!(finalized(&out).len(), 1);
        assert_eq!(events(&out, 1), vec![RoomEvent::State(vec![])]);
    }
    assert_eq!(h.hub.stats().rooms, 1);
}

#[test]
fn a_session_can_be_in_two_rooms() {
    let mut h = two_in_room();
    h.connect(3, "carol");
    h.join(3, "S");
    let out = h.join(1, "S");
    assert_eq!(
        events(&out, 1),
        vec![RoomEvent::State(vec![login("carol")])]
    );
    assert_eq!(events(&out, 2), vec![], "bob is not in S");
    let out = h.leave(1, "S");
    assert_eq!(events(&out, 3), vec![RoomEvent::Left("alice".into())]);
    assert!(events(&out, 2).is_empty());
}
