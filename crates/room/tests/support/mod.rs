//! A deterministic driver for the room core: a fake clock and output collectors.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use huddle_room::*;

pub struct Harness {
    pub hub: Hub,
    t0: Instant,
    elapsed: Duration,
    op: u64,
}

pub const UNIX0: u64 = 1_764_000_000_000;

impl Harness {
    pub fn new(config: RoomConfig) -> Self {
        Self {
            hub: Hub::new(config),
            t0: Instant::now(),
            elapsed: Duration::ZERO,
            op: 0,
        }
    }

    pub fn now(&self) -> Now {
        Now {
            at: self.t0 + self.elapsed,
            unix_ms: UNIX0 + self.elapsed.as_millis() as u64,
        }
    }

    /// Move the clock and run due timers.
    pub fn advance(&mut self, by: Duration) -> Vec<Output> {
        self.elapsed += by;
        if self.hub.poll_timeout().is_some_and(|t| t <= self.now().at) {
            let now = self.now();
            self.hub.handle_timeout(now);
        }
        self.drain()
    }

    pub fn input(&mut self, input: Input) -> Vec<Output> {
        let now = self.now();
        self.hub.handle_input(now, input);
        self.drain()
    }

    pub fn drain(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.hub.poll_output()).collect()
    }

    pub fn connect(&mut self, s: u64, login: &str) -> Vec<Output> {
        self.input(Input::Connect {
            session: SessionId(s),
            login: Some(login.into()),
            grants: None,
        })
    }

    /// `connection` with the grants of an access token.
    pub fn connect_with(&mut self, s: u64, login: &str, grants: Grants) -> Vec<Output> {
        self.input(Input::Connect {
            session: SessionId(s),
            login: Some(login.into()),
            grants: Some(grants),
        })
    }

    pub fn cmd(&mut self, s: u64, command: Command) -> Vec<Output> {
        self.input(Input::Command {
            session: SessionId(s),
            command,
        })
    }

    pub fn next_op(&mut self) -> String {
        self.op += 1;
        format!("op-{}", self.op)
    }

    pub fn join(&mut self, s: u64, room: &str) -> Vec<Output> {
        let op = self.next_op();
        self.cmd(
            s,
            Command::Join {
                op,
                room: room.into(),
                record: false,
            },
        )
    }

    pub fn join_recorded(&mut self, s: u64, room: &str) -> Vec<Output> {
        let op = self.next_op();
        self.cmd(
            s,
            Command::Join {
                op,
                room: room.into(),
                record: true,
            },
        )
    }

    pub fn leave(&mut self, s: u64, room: &str) -> Vec<Output> {
        let op = self.next_op();
        self.cmd(
            s,
            Command::Leave {
                op,
                room: room.into(),
            },
        )
    }

    pub fn say(&mut self, s: u64, room: &str, to: &str, text: &str) -> Vec<Output> {
        let op = self.next_op();
        self.cmd(
            s,
            Command::SendMessage {
                op,
                room: room.into(),
                to: to.into(),
                text: text.into(),
            },
        )
    }

    /// Publish and drive the media plane to Connected; returns the publisher peer.
    pub fn publish_live(&mut self, s: u64, room: &str, name: &str) -> (PeerId, Vec<Output>) {
        let mut out = self.cmd(
            s,
            Command::Publish(request(&format!("pub-{name}"), name, Some(room))),
        );
        let peer = media_commands(&out)
            .into_iter()
            .find_map(|c| match c {
                MediaCommand::Publish { peer, .. } => Some(peer),
                _ => None,
            })
            .expect("publish reaches the media plane");
        out.extend(self.input(Input::Media(MediaEvent::Answer {
            peer,
            sdp: "answer".into(),
        })));
        out.extend(self.input(Input::Media(MediaEvent::Connected { peer })));
        (peer, out)
    }

    /// Play and drive to Connected; returns the player peer.
    pub fn play_live(
        &mut self,
        s: u64,
        room: &str,
        name: &str,
        msid: &str,
    ) -> (PeerId, Vec<Output>) {
        let mut out = self.cmd(s, Command::Play(request(msid, name, Some(room))));
        let peer = media_commands(&out)
            .into_iter()
            .find_map(|c| match c {
                MediaCommand::Play { peer, .. } => Some(peer),
                _ => None,
            })
            .expect("play reaches the media plane");
        out.extend(self.input(Input::Media(MediaEvent::Answer {
            peer,
            sdp: "answer".into(),
        })));
        out.extend(self.input(Input::Media(MediaEvent::Connected { peer })));
        (peer, out)
    }
}

/// alice (session 1) and bob (session 2) joined to room "R" under `config`.
pub fn alice_and_bob_in_r(config: RoomConfig) -> Harness {
    let mut h = Harness::new(config);
    h.connect(1, "alice");
    h.connect(2, "bob");
    h.join(1, "R");
    h.join(2, "R");
    h
}

pub fn request(msid: &str, name: &str, room: Option<&str>) -> StreamRequest {
    StreamRequest {
        media_session_id: msid.into(),
        name: name.into(),
        room: room.map(Into::into),
        sdp: "offer".into(),
        transport: Default::default(),
        has_audio: true,
        has_video: true,
        record: false,
        constraints: Default::default(),
    }
}

/// Messages addressed to session `s`, in order.
pub fn to(out: &[Output], s: u64) -> Vec<ServerMessage> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { session, message } if *session == SessionId(s) => Some(message.clone()),
            _ => None,
        })
        .collect()
}

/// Room events addressed to session `s`, in order.
pub fn events(out: &[Output], s: u64) -> Vec<RoomEvent> {
    to(out, s)
        .into_iter()
        .filter_map(|m| match m {
            ServerMessage::RoomEvent { event, .. } => Some(event),
            _ => None,
        })
        .collect()
}

/// Stream statuses addressed to session `s`, as (mediaSessionId, status, info).
pub fn statuses(out: &[Output], s: u64) -> Vec<(String, StreamState, String)> {
    to(out, s)
        .into_iter()
        .filter_map(|m| match m {
            ServerMessage::StreamStatus(st) => Some((st.media_session_id, st.status, st.info)),
            _ => None,
        })
        .collect()
}

pub fn media_commands(out: &[Output]) -> Vec<MediaCommand> {
    out.iter()
        .filter_map(|o| match o {
            Output::Media(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

pub fn accepted(msg: &ServerMessage) -> bool {
    matches!(msg, ServerMessage::DataStatus { result: Ok(()), .. })
}

pub fn failure(msgs: &[ServerMessage]) -> Option<String> {
    msgs.iter().find_map(|m| match m {
        ServerMessage::DataStatus { result: Err(e), .. } => Some(e.clone()),
        _ => None,
    })
}

pub fn login(l: &str) -> StateEntry {
    StateEntry::Login(l.into())
}

pub fn stream(l: &str, n: &str) -> StreamInfo {
    StreamInfo {
        login: l.into(),
        name: n.into(),
    }
}

pub fn finalized(out: &[Output]) -> Vec<FinalizedRoom> {
    out.iter()
        .filter_map(|o| match o {
            Output::RoomFinalized(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}
