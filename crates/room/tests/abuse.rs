//! Limits against hostile clients (issue 12): name lengths, the scope of a room-scoped token
//! outside rooms, and a repeated `connection`.

use crate::support;

use huddle_room::*;
use support::*;

fn scoped(room: &str) -> Grants {
    Grants {
        room: room.into(),
        publish: true,
        record: true,
    }
}

#[test]
fn long_names_are_refused_with_a_reason() {
    let mut h = Harness::new(RoomConfig {
        max_name_bytes: 16,
        ..RoomConfig::default()
    });
    h.connect(1, "alice");
    let long = "x".repeat(17);
    let out = h.join(1, &long);
    assert_eq!(
        failure(&to(&out, 1)),
        Some("Room name is too long: at most 16 bytes".into())
    );
    // Exactly the limit is fine.
    let out = h.join(1, &"x".repeat(16));
    assert_eq!(failure(&to(&out, 1)), None);
    h.join(1, "R");
    let out = h.cmd(1, Command::Publish(request("m1", &long, Some("R"))));
    assert_eq!(
        statuses(&out, 1),
        vec![(
            "m1".into(),
            StreamState::Failed,
            "Stream name is too long: at most 16 bytes".into()
        )]
    );
    assert!(media_commands(&out).is_empty());
    let out = h.cmd(1, Command::Publish(request(&long, "s", Some("R"))));
    assert_eq!(
        statuses(&out, 1)[0].2,
        "mediaSessionId is too long: at most 16 bytes"
    );
    let out = h.cmd(1, Command::Play(request(&long, "s", Some("R"))));
    assert_eq!(
        statuses(&out, 1)[0].2,
        "mediaSessionId is too long: at most 16 bytes"
    );
}

#[test]
fn a_room_scoped_token_cannot_publish_or_play_outside_rooms() {
    let mut h = Harness::new(RoomConfig::default());
    h.connect_with(1, "alice", scoped("R"));
    let out = h.cmd(1, Command::Publish(request("m1", "loose", None)));
    assert_eq!(
        statuses(&out, 1),
        vec![(
            "m1".into(),
            StreamState::Failed,
            "Not allowed to publish outside a room".into()
        )]
    );
    assert!(media_commands(&out).is_empty());
    // A stream outside any room, published by an unscoped session...
    h.connect(2, "bob");
    let out = h.cmd(2, Command::Publish(request("m2", "loose", None)));
    let peer = media_commands(&out)
        .into_iter()
        .find_map(|c| match c {
            MediaCommand::Publish { peer, .. } => Some(peer),
            _ => None,
        })
        .expect("unscoped publish reaches the media plane");
    h.input(Input::Media(MediaEvent::Connected { peer }));
    // ...is not found by a room-scoped session, and still by an unscoped one.
    let out = h.cmd(1, Command::Play(request("p1", "loose", None)));
    assert_eq!(
        statuses(&out, 1),
        vec![("p1".into(), StreamState::Failed, "Stream not found".into())]
    );
    h.connect_with(3, "carol", Grants::all());
    let out = h.cmd(3, Command::Play(request("p3", "loose", None)));
    assert!(media_commands(&out)
        .iter()
        .any(|c| matches!(c, MediaCommand::Play { .. })));
}

#[test]
fn a_second_connection_keeps_the_first_login_and_grants() {
    let mut h = Harness::new(RoomConfig::default());
    h.connect_with(1, "alice", scoped("R"));
    let out = h.connect(1, "mallory");
    assert_eq!(
        to(&out, 1),
        vec![ServerMessage::Established {
            login: "alice".into()
        }]
    );
    // The grants of the first connection still hold.
    let out = h.join(1, "Other");
    assert_eq!(
        failure(&to(&out, 1)),
        Some("Not allowed to join room Other".into())
    );
    let out = h.join(1, "R");
    assert_eq!(failure(&to(&out, 1)), None);
    assert_eq!(h.hub.stats().sessions, 1);
}
