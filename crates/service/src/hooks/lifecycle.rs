//! Room, participant and stream lifecycle events, derived from what the room actor sees: the
//! inputs it passes to the hub and the outputs it routes. The room core has no event stream
//! of its own for these; its outputs say enough (STATE to a joiner, LEFT to the others,
//! PUBLISHING to a publisher, RoomFinalized), so the edge keeps the little state needed to
//! turn them into "started / joined / left / finished" exactly once each. Pure: no I/O, no
//! clock (the time is passed in), tested below.

use std::collections::{BTreeSet, HashMap, HashSet};

use huddle_room::{
    Command, Input, Output, RoomEvent, ServerMessage, SessionId, StreamState, StreamStatus,
};

/// One webhook event's subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    RoomStarted {
        room: String,
    },
    RoomFinished {
        room: String,
        record: bool,
        started_unix_ms: u64,
        ended_unix_ms: u64,
        /// Files of the room's recorded streams (to be mixed when `record`).
        recordings: Vec<String>,
    },
    ParticipantJoined {
        room: String,
        login: String,
    },
    ParticipantLeft {
        room: String,
        login: String,
    },
    StreamPublished(Stream),
    StreamUnpublished(Stream),
    /// A recorded stream ended: its file is closed by the media plane right after.
    RecordingFinished(Stream),
    /// A room's mix finished (`ok`) or failed (from the mixer's board: [`super::mix_watch`]).
    MixFinished {
        room: String,
        /// The mix file in the records folder.
        file: String,
        ok: bool,
        duration_ms: Option<u64>,
        finished_unix_ms: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Stream {
    /// `None`: a stream outside any room.
    pub room: Option<String>,
    pub login: String,
    pub name: String,
    pub media_session_id: String,
    pub record_name: Option<String>,
}

/// A publish request seen, until its stream ends.
struct Publication {
    stream: Stream,
    live: bool,
}

#[derive(Default)]
pub(crate) struct Lifecycle {
    logins: HashMap<SessionId, String>,
    /// Participants of every room, as announced to clients.
    rooms: HashMap<String, BTreeSet<String>>,
    publications: HashMap<(SessionId, String), Publication>,
    /// A publish whose mediaSessionId was already in use: its FAILED answer is not about the
    /// stream that holds the id.
    duplicates: HashSet<(SessionId, String)>,
}

impl Lifecycle {
    /// An input on its way to the hub.
    pub(crate) fn input(&mut self, input: &Input) -> Vec<Event> {
        match input {
            Input::Command {
                session,
                command: Command::Publish(req) | Command::Ingest { request: req, .. },
            } => {
                let key = (*session, req.media_session_id.clone());
                if self.publications.contains_key(&key) {
                    self.duplicates.insert(key);
                } else {
                    let login = self.logins.get(session).cloned().unwrap_or_default();
                    let stream = Stream {
                        room: req.room.clone(),
                        login,
                        name: req.name.clone(),
                        media_session_id: req.media_session_id.clone(),
                        record_name: None,
                    };
                    self.publications.insert(
                        key,
                        Publication {
                            stream,
                            live: false,
                        },
                    );
                }
                Vec::new()
            }
            Input::Disconnect { session } => {
                // The hub ends the session's streams without telling it: they end here.
                self.logins.remove(session);
                self.duplicates.retain(|(s, _)| s != session);
                let ended: Vec<(SessionId, String)> = self
                    .publications
                    .keys()
                    .filter(|(s, _)| s == session)
                    .cloned()
                    .collect();
                let mut ended: Vec<Publication> = ended
                    .into_iter()
                    .filter_map(|key| self.publications.remove(&key))
                    .collect();
                ended.sort_by(|a, b| a.stream.media_session_id.cmp(&b.stream.media_session_id));
                ended.into_iter().flat_map(ended_events).collect()
            }
            _ => Vec::new(),
        }
    }

    /// An output the actor routes.
    pub(crate) fn output(&mut self, output: &Output) -> Vec<Event> {
        match output {
            Output::Send { session, message } => self.message(*session, message),
            Output::RoomFinalized(room) => {
                let mut events: Vec<Event> = self
                    .rooms
                    .remove(&room.name)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|login| Event::ParticipantLeft {
                        room: room.name.clone(),
                        login,
                    })
                    .collect();
                events.push(Event::RoomFinished {
                    room: room.name.clone(),
                    record: room.record,
                    started_unix_ms: room.started_unix_ms,
                    ended_unix_ms: room.ended_unix_ms,
                    recordings: room.streams.iter().map(|s| s.file_name.clone()).collect(),
                });
                events
            }
            _ => Vec::new(),
        }
    }

    fn message(&mut self, session: SessionId, message: &ServerMessage) -> Vec<Event> {
        match message {
            ServerMessage::Established { login } => {
                self.logins.insert(session, login.clone());
                Vec::new()
            }
            ServerMessage::RoomEvent { room, event } => match event {
                RoomEvent::State(_) => match self.logins.get(&session).cloned() {
                    Some(login) => self.joined(room, login),
                    None => Vec::new(),
                },
                RoomEvent::Joined(login) => self.joined(room, login.clone()),
                RoomEvent::Left(login) => {
                    let removed = self
                        .rooms
                        .get_mut(room)
                        .is_some_and(|members| members.remove(login));
                    match removed {
                        true => vec![Event::ParticipantLeft {
                            room: room.clone(),
                            login: login.clone(),
                        }],
                        false => Vec::new(),
                    }
                }
                _ => Vec::new(),
            },
            ServerMessage::StreamStatus(status) if status.published => {
                self.publisher_status(session, status)
            }
            _ => Vec::new(),
        }
    }

    fn joined(&mut self, room: &str, login: String) -> Vec<Event> {
        let mut events = Vec::new();
        let members = self.rooms.entry(room.to_string()).or_insert_with(|| {
            events.push(Event::RoomStarted { room: room.into() });
            BTreeSet::new()
        });
        if members.insert(login.clone()) {
            events.push(Event::ParticipantJoined {
                room: room.into(),
                login,
            });
        }
        events
    }

    fn publisher_status(&mut self, session: SessionId, status: &StreamStatus) -> Vec<Event> {
        let key = (session, status.media_session_id.clone());
        match status.status {
            StreamState::Publishing => match self.publications.get_mut(&key) {
                Some(p) if !p.live => {
                    p.live = true;
                    p.stream.record_name = status.record_name.clone();
                    vec![Event::StreamPublished(p.stream.clone())]
                }
                _ => Vec::new(),
            },
            StreamState::Unpublished | StreamState::Stopped | StreamState::Failed => {
                if self.duplicates.remove(&key) {
                    return Vec::new();
                }
                self.publications
                    .remove(&key)
                    .map(ended_events)
                    .unwrap_or_default()
            }
            StreamState::Playing => Vec::new(),
        }
    }
}

/// What a publication's end says: nothing if it never went live.
fn ended_events(p: Publication) -> Vec<Event> {
    if !p.live {
        return Vec::new();
    }
    let mut events = vec![Event::StreamUnpublished(p.stream.clone())];
    if p.stream.record_name.is_some() {
        events.push(Event::RecordingFinished(p.stream));
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use huddle_room::{FinalizedRoom, StreamRequest};

    fn send(session: u64, message: ServerMessage) -> Output {
        Output::Send {
            session: SessionId(session),
            message,
        }
    }

    fn room_event(session: u64, event: RoomEvent) -> Output {
        send(
            session,
            ServerMessage::RoomEvent {
                room: "R".into(),
                event,
            },
        )
    }

    fn established(l: &mut Lifecycle, session: u64, login: &str) {
        let out = send(
            session,
            ServerMessage::Established {
                login: login.into(),
            },
        );
        assert!(l.output(&out).is_empty());
    }

    fn publish(session: u64, msid: &str) -> Input {
        Input::Command {
            session: SessionId(session),
            command: Command::Publish(StreamRequest {
                media_session_id: msid.into(),
                name: format!("{msid}-name"),
                room: Some("R".into()),
                ..Default::default()
            }),
        }
    }

    fn status(session: u64, msid: &str, state: StreamState, record: Option<&str>) -> Output {
        send(
            session,
            ServerMessage::StreamStatus(StreamStatus {
                media_session_id: msid.into(),
                name: format!("{msid}-name"),
                published: true,
                has_audio: true,
                has_video: true,
                record: record.is_some(),
                status: state,
                info: String::new(),
                record_name: record.map(str::to_string),
            }),
        )
    }

    fn stream(login: &str, msid: &str, record: Option<&str>) -> Stream {
        Stream {
            room: Some("R".into()),
            login: login.into(),
            name: format!("{msid}-name"),
            media_session_id: msid.into(),
            record_name: record.map(str::to_string),
        }
    }

    #[test]
    fn a_room_from_first_join_to_finalize() {
        let mut l = Lifecycle::default();
        established(&mut l, 1, "alice");
        established(&mut l, 2, "bob");
        assert_eq!(
            l.output(&room_event(1, RoomEvent::State(vec![]))),
            [
                Event::RoomStarted { room: "R".into() },
                Event::ParticipantJoined {
                    room: "R".into(),
                    login: "alice".into()
                }
            ]
        );
        // Bob joins: STATE to him, JOINED to alice; one event.
        let joined = [
            room_event(2, RoomEvent::State(vec![])),
            room_event(1, RoomEvent::Joined("bob".into())),
        ]
        .iter()
        .flat_map(|o| l.output(o))
        .collect::<Vec<_>>();
        assert_eq!(
            joined,
            [Event::ParticipantJoined {
                room: "R".into(),
                login: "bob".into()
            }]
        );
        // A repeated join (STATE again) says nothing.
        assert!(l
            .output(&room_event(2, RoomEvent::State(vec![])))
            .is_empty());
        assert_eq!(
            l.output(&room_event(2, RoomEvent::Left("alice".into()))),
            [Event::ParticipantLeft {
                room: "R".into(),
                login: "alice".into()
            }]
        );
        // The last one leaves: nobody is told LEFT, the room ends.
        let finished = l.output(&Output::RoomFinalized(FinalizedRoom {
            name: "R".into(),
            record: false,
            started_unix_ms: 10,
            ended_unix_ms: 20,
            streams: vec![],
        }));
        assert_eq!(
            finished,
            [
                Event::ParticipantLeft {
                    room: "R".into(),
                    login: "bob".into()
                },
                Event::RoomFinished {
                    room: "R".into(),
                    record: false,
                    started_unix_ms: 10,
                    ended_unix_ms: 20,
                    recordings: vec![]
                }
            ]
        );
        // A new room of the same name starts again.
        assert_eq!(
            l.output(&room_event(2, RoomEvent::State(vec![])))[0],
            Event::RoomStarted { room: "R".into() }
        );
    }

    #[test]
    fn streams_published_once_and_ended_by_status_or_disconnect() {
        let mut l = Lifecycle::default();
        established(&mut l, 1, "alice");
        assert!(l.input(&publish(1, "m1")).is_empty());
        assert!(l.input(&publish(1, "m2")).is_empty());
        assert!(l.input(&publish(1, "m3")).is_empty());
        assert_eq!(
            l.output(&status(1, "m1", StreamState::Publishing, Some("f1.mkv"))),
            [Event::StreamPublished(stream(
                "alice",
                "m1",
                Some("f1.mkv")
            ))]
        );
        assert!(l
            .output(&status(1, "m1", StreamState::Publishing, Some("f1.mkv")))
            .is_empty());
        // A duplicate id is refused by the hub: the live stream is not ended by that FAILED.
        assert!(l.input(&publish(1, "m1")).is_empty());
        assert!(l
            .output(&status(1, "m1", StreamState::Failed, None))
            .is_empty());
        assert_eq!(
            l.output(&status(1, "m1", StreamState::Unpublished, Some("f1.mkv"))),
            [
                Event::StreamUnpublished(stream("alice", "m1", Some("f1.mkv"))),
                Event::RecordingFinished(stream("alice", "m1", Some("f1.mkv")))
            ]
        );
        // A stream that failed before going live says nothing.
        assert!(l
            .output(&status(1, "m2", StreamState::Failed, None))
            .is_empty());
        l.output(&status(1, "m3", StreamState::Publishing, None));
        assert_eq!(
            l.input(&Input::Disconnect {
                session: SessionId(1)
            }),
            [Event::StreamUnpublished(stream("alice", "m3", None))]
        );
        assert!(l.publications.is_empty() && l.logins.is_empty());
    }
}
