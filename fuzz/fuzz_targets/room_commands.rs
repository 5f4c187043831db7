//! Random sequences of sessions, commands, media reports and clock jumps against the room
//! core. Invariants checked after every step: no panic, every peer the core opens is closed at
//! most once, and when every session is gone and time has passed the grace period, nothing is
//! left (no rooms, participants, publishers or players).
#![no_main]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use huddle_room::*;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Step {
    Connect {
        s: u8,
        login: u8,
    },
    Disconnect {
        s: u8,
    },
    Join {
        s: u8,
        room: u8,
        record: bool,
    },
    Leave {
        s: u8,
        room: u8,
    },
    Message {
        s: u8,
        room: u8,
        to: u8,
        text: String,
    },
    Publish {
        s: u8,
        room: Option<u8>,
        name: u8,
        msid: u8,
        record: bool,
        /// An RTMP ingest (`Command::Ingest`) instead of a WebRTC publish.
        ingest: bool,
    },
    Play {
        s: u8,
        name: u8,
        msid: u8,
    },
    Unpublish {
        s: u8,
        msid: u8,
    },
    Stop {
        s: u8,
        msid: u8,
    },
    Answer {
        peer: u8,
    },
    Connected {
        peer: u8,
    },
    Failed {
        peer: u8,
    },
    Advance {
        secs: u8,
    },
}

fn name(kind: &str, n: u8) -> String {
    format!("{kind}{}", n % 4)
}

fuzz_target!(|steps: Vec<Step>| {
    let t0 = Instant::now();
    let mut elapsed = Duration::ZERO;
    let mut hub = Hub::new(RoomConfig {
        grace_period: Duration::from_secs(5),
        max_participants: 3,
        ..RoomConfig::default()
    });
    let mut open: HashMap<PeerId, bool> = HashMap::new();
    for step in steps.into_iter().take(200) {
        let now = Now {
            at: t0 + elapsed,
            unix_ms: elapsed.as_millis() as u64,
        };
        let session = |s: u8| SessionId(u64::from(s % 4));
        let input = match step {
            Step::Connect { s, login } => Input::Connect {
                session: session(s),
                login: Some(name("user", login)),
                grants: None,
            },
            Step::Disconnect { s } => Input::Disconnect {
                session: session(s),
            },
            Step::Join { s, room, record } => Input::Command {
                session: session(s),
                command: Command::Join {
                    op: "o".into(),
                    room: name("room", room),
                    record,
                },
            },
            Step::Leave { s, room } => Input::Command {
                session: session(s),
                command: Command::Leave {
                    op: "o".into(),
                    room: name("room", room),
                },
            },
            Step::Message { s, room, to, text } => Input::Command {
                session: session(s),
                command: Command::SendMessage {
                    op: "o".into(),
                    room: name("room", room),
                    to: name("user", to),
                    text,
                },
            },
            Step::Publish {
                s,
                room,
                name: n,
                msid,
                record,
                ingest,
            } => {
                let req = StreamRequest {
                    media_session_id: name("m", msid),
                    name: name("stream", n),
                    room: room.map(|r| name("room", r)),
                    sdp: String::new(),
                    transport: Default::default(),
                    has_audio: true,
                    has_video: true,
                    record,
                };
                Input::Command {
                    session: session(s),
                    command: if ingest {
                        Command::Ingest(req)
                    } else {
                        Command::Publish(req)
                    },
                }
            }
            Step::Play { s, name: n, msid } => Input::Command {
                session: session(s),
                command: Command::Play(StreamRequest {
                    media_session_id: name("m", msid),
                    name: name("stream", n),
                    room: None,
                    sdp: String::new(),
                    transport: Default::default(),
                    has_audio: true,
                    has_video: true,
                    record: false,
                }),
            },
            Step::Unpublish { s, msid } => Input::Command {
                session: session(s),
                command: Command::Unpublish {
                    media_session_id: name("m", msid),
                },
            },
            Step::Stop { s, msid } => Input::Command {
                session: session(s),
                command: Command::Stop {
                    media_session_id: name("m", msid),
                },
            },
            Step::Answer { peer } => Input::Media(MediaEvent::Answer {
                peer: PeerId(u64::from(peer % 16)),
                sdp: String::new(),
            }),
            Step::Connected { peer } => Input::Media(MediaEvent::Connected {
                peer: PeerId(u64::from(peer % 16)),
            }),
            Step::Failed { peer } => Input::Media(MediaEvent::Failed {
                peer: PeerId(u64::from(peer % 16)),
                reason: "x".into(),
            }),
            Step::Advance { secs } => {
                elapsed += Duration::from_secs(u64::from(secs % 10));
                let now = Now {
                    at: t0 + elapsed,
                    unix_ms: elapsed.as_millis() as u64,
                };
                hub.handle_timeout(now);
                drain(&mut hub, &mut open);
                continue;
            }
        };
        hub.handle_input(now, input);
        drain(&mut hub, &mut open);
    }
    // Everyone goes away; after the grace period nothing is left.
    for s in 0..4 {
        let now = Now {
            at: t0 + elapsed,
            unix_ms: 0,
        };
        hub.handle_input(
            now,
            Input::Disconnect {
                session: SessionId(s),
            },
        );
        drain(&mut hub, &mut open);
    }
    elapsed += Duration::from_secs(6);
    hub.handle_timeout(Now {
        at: t0 + elapsed,
        unix_ms: 0,
    });
    drain(&mut hub, &mut open);
    assert_eq!(hub.stats(), HubStats::default());
    assert!(
        open.values().all(|closed| *closed),
        "a peer was never closed: {open:?}"
    );
});

fn drain(hub: &mut Hub, open: &mut HashMap<PeerId, bool>) {
    while let Some(out) = hub.poll_output() {
        if let Output::Media(cmd) = out {
            match cmd {
                MediaCommand::Publish { peer, .. }
                | MediaCommand::Ingest { peer, .. }
                | MediaCommand::Play { peer, .. } => {
                    assert!(open.insert(peer, false).is_none(), "peer id reused");
                }
                MediaCommand::Close { peer } => {
                    let closed = open.get_mut(&peer).expect("close of a peer never opened");
                    assert!(!*closed, "peer closed twice");
                    *closed = true;
                }
            }
        }
    }
}
