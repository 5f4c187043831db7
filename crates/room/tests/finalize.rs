//! Grace period, resume and recording bookkeeping: time is passed in, nothing sleeps.

use crate::support;

use std::time::Duration;

use huddle_room::*;
use support::*;

fn two_in_room(grace: Duration) -> Harness {
    alice_and_bob_in_r(RoomConfig {
        grace_period: grace,
        ..RoomConfig::default()
    })
}

#[test]
fn vanished_participant_stays_away_for_the_grace_period() {
    let mut h = two_in_room(Duration::from_secs(60));
    let (source, _) = h.publish_live(1, "R", "R-alice-1");
    h.play_live(2, "R", "R-alice-1", "b1");
    let out = h.input(Input::Disconnect {
        session: SessionId(1),
    });
    // Its media is gone at once...
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
    assert!(media_commands(&out).contains(&MediaCommand::Close { peer: source }));
    // ...but the participant is kept.
    assert!(
        to(&out, 1).is_empty(),
        "nothing is sent to a closed session"
    );
    let deadline = h.hub.poll_timeout().expect("a timer is armed");
    assert_eq!(deadline, h.now().at + Duration::from_secs(60));
    let out = h.advance(Duration::from_secs(59));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(h.hub.stats().participants, 2);
    let out = h.advance(Duration::from_secs(1));
    assert_eq!(events(&out, 2), vec![RoomEvent::Left("alice".into())]);
    assert!(finalized(&out).is_empty(), "bob is still there");
    assert_eq!(h.hub.poll_timeout(), None);
}

#[test]
fn the_room_is_finalized_when_the_last_grace_expires() {
    let mut h = two_in_room(Duration::from_secs(60));
    h.leave(2, "R");
    h.input(Input::Disconnect {
        session: SessionId(1),
    });
    assert_eq!(
        h.hub.stats().rooms,
        1,
        "the room lives while alice may come back"
    );
    let out = h.advance(Duration::from_secs(60));
    let f = finalized(&out);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].ended_unix_ms - f[0].started_unix_ms, 60_000);
    assert_eq!(h.hub.stats().rooms, 0);
}

#[test]
fn coming_back_in_time_resumes_without_joined_or_left() {
    let mut h = two_in_room(Duration::from_secs(60));
    h.input(Input::Disconnect {
        session: SessionId(1),
    });
    h.advance(Duration::from_secs(30));
    h.connect(3, "alice");
    let out = h.join(3, "R");
    assert!(accepted(&to(&out, 3)[0]));
    assert_eq!(events(&out, 3), vec![RoomEvent::State(vec![login("bob")])]);
    assert!(
        events(&out, 2).is_empty(),
        "bob already knows alice: no second JOINED"
    );
    assert_eq!(h.hub.poll_timeout(), None, "the away timer is disarmed");
    let out = h.advance(Duration::from_secs(120));
    assert!(out.is_empty(), "{out:?}");
    // The resumed session is the live one: chat reaches it.
    let out = h.say(2, "R", "alice", "welcome back");
    assert_eq!(events(&out, 3).len(), 1);
}

#[test]
fn coming_back_after_the_grace_period_is_a_fresh_join() {
    let mut h = two_in_room(Duration::from_secs(5));
    h.input(Input::Disconnect {
        session: SessionId(1),
    });
    let out = h.advance(Duration::from_secs(5));
    assert_eq!(events(&out, 2), vec![RoomEvent::Left("alice".into())]);
    h.connect(3, "alice");
    let out = h.join(3, "R");
    assert_eq!(events(&out, 2), vec![RoomEvent::Joined("alice".into())]);
}

#[test]
fn zero_grace_removes_at_once() {
    let mut h = two_in_room(Duration::ZERO);
    let out = h.input(Input::Disconnect {
        session: SessionId(1),
    });
    assert_eq!(events(&out, 2), vec![RoomEvent::Left("alice".into())]);
    let out = h.input(Input::Disconnect {
        session: SessionId(2),
    });
    assert_eq!(finalized(&out).len(), 1);
    assert_eq!(h.hub.stats(), HubStats::default());
}

#[test]
fn a_recorded_room_records_every_stream_and_lists_them_at_the_end() {
    let mut h = Harness::new(RoomConfig::default());
    h.connect(1, "alice");
    h.connect(2, "bob");
    h.join_recorded(1, "R");
    h.join(2, "R");
    let (_, out) = h.publish_live(1, "R", "R-alice-1");
    let cmds = media_commands(&out);
    let MediaCommand::Publish {
        record: Some(rec), ..
    } = &cmds[0]
    else {
        panic!("{cmds:?}")
    };
    assert_eq!(rec.file_name, format!("R-alice-R-alice-1-{UNIX0}.mkv"));
    let published = to(&out, 1)
        .into_iter()
        .find_map(|m| match m {
            ServerMessage::StreamStatus(s) if s.status == StreamState::Publishing => Some(s),
            _ => None,
        })
        .expect("PUBLISHING");
    assert_eq!(
        published.record_name.as_deref(),
        Some(rec.file_name.as_str())
    );
    assert!(published.record);
    h.advance(Duration::from_secs(45));
    h.publish_live(2, "R", "R-bob-1");
    h.advance(Duration::from_secs(10));
    h.leave(1, "R");
    let out = h.leave(2, "R");
    let f = &finalized(&out)[0];
    assert!(f.record);
    assert_eq!(f.streams.len(), 2);
    assert_eq!(f.streams[1].started_unix_ms - f.started_unix_ms, 45_000);
    assert_eq!(f.ended_unix_ms - f.started_unix_ms, 55_000);
}

#[test]
fn per_stream_record_flag_records_only_that_stream() {
    let mut h = two_in_room(Duration::from_secs(60));
    let mut req = request("m1", "R-alice-1", Some("R"));
    req.record = true;
    let out = h.cmd(1, Command::Publish(req));
    assert!(matches!(
        &media_commands(&out)[0],
        MediaCommand::Publish {
            record: Some(_),
            ..
        }
    ));
    let (_, out) = h.publish_live(2, "R", "R-bob-1");
    assert!(matches!(
        &media_commands(&out)[0],
        MediaCommand::Publish { record: None, .. }
    ));
}

fn recordings(out: &[Output]) -> Vec<(String, u64, RecordedStream)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Recording {
                room,
                room_started_unix_ms,
                stream,
            } => Some((room.clone(), *room_started_unix_ms, stream.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_recorded_room_reports_each_stream_when_it_goes_live() {
    let mut h = Harness::new(RoomConfig::default());
    h.connect(1, "alice");
    h.connect(2, "bob");
    h.join_recorded(1, "R");
    h.join(2, "R");
    let room_start = h.now().unix_ms;
    // Requested but not connected yet: nothing is recorded, nothing reported.
    let out = h.cmd(
        1,
        Command::Publish(request("pub-R-alice-1", "R-alice-1", Some("R"))),
    );
    assert!(recordings(&out).is_empty(), "{out:?}");
    let peer = media_commands(&out)
        .into_iter()
        .find_map(|c| match c {
            MediaCommand::Publish { peer, .. } => Some(peer),
            _ => None,
        })
        .unwrap();
    h.advance(Duration::from_secs(3));
    let out = h.input(Input::Media(MediaEvent::Connected { peer }));
    let r = recordings(&out);
    assert_eq!(r.len(), 1, "{out:?}");
    assert_eq!(r[0].0, "R");
    assert_eq!(r[0].1, room_start);
    assert_eq!(r[0].2.login, "alice");
    assert_eq!(r[0].2.stream, "R-alice-1");
    assert_eq!(r[0].2.file_name, format!("R-alice-R-alice-1-{UNIX0}.mkv"));
    // Reported before the owner hears PUBLISHING.
    let rec_at = out
        .iter()
        .position(|o| matches!(o, Output::Recording { .. }))
        .unwrap();
    let publishing_at = out
        .iter()
        .position(|o| {
            matches!(o, Output::Send { message: ServerMessage::StreamStatus(s), .. }
                if s.status == StreamState::Publishing)
        })
        .unwrap();
    assert!(rec_at < publishing_at, "{out:?}");
    // A repeated Connected reports nothing more.
    let out = h.input(Input::Media(MediaEvent::Connected { peer }));
    assert!(recordings(&out).is_empty());
    // The second stream is reported too, with the same room start.
    let (_, out) = h.publish_live(2, "R", "R-bob-1");
    let r = recordings(&out);
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].1, r[0].2.login.as_str()), (room_start, "bob"));
    // The finalized room lists the same streams.
    h.leave(1, "R");
    let out = h.leave(2, "R");
    assert_eq!(finalized(&out)[0].streams.len(), 2);
}

#[test]
fn a_per_stream_recording_in_a_plain_room_is_not_reported() {
    let mut h = two_in_room(Duration::from_secs(60));
    let mut req = request("m1", "R-alice-1", Some("R"));
    req.record = true;
    let out = h.cmd(1, Command::Publish(req));
    let peer = media_commands(&out)
        .into_iter()
        .find_map(|c| match c {
            MediaCommand::Publish { peer, .. } => Some(peer),
            _ => None,
        })
        .unwrap();
    let out = h.input(Input::Media(MediaEvent::Connected { peer }));
    assert!(recordings(&out).is_empty(), "{out:?}");
}
