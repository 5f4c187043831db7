use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

mod admin;
mod direct;
mod membership;
mod streams;
pub use admin::{ParticipantSnapshot, PlayerSnapshot, RoomSnapshot, Snapshot, StreamSnapshot};
use std::time::Instant;

use tracing::{debug, info};

use crate::input::StreamRequest;
use crate::room::{Participant, Phase, Playback, Presence, Publication, Room};
use crate::{
    record_name, Command, FinalizedRoom, Input, MediaCommand, MediaEvent, Now, Output, PeerId,
    RecordRequest, RecordedStream, RoomConfig, RoomEvent, ServerMessage, SessionId, StateEntry,
    StreamState, StreamStatus,
};

/// Stream status infos, as the SDK's constants name them.
const STOPPED_BY_PUBLISHER: &str = "Stopped by publisher stop";
const STREAM_NOT_FOUND: &str = "Stream not found";
const NAME_IN_USE: &str = "Stream name is already in use";

/// Counts for metrics, the admin API and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HubStats {
    pub sessions: usize,
    pub rooms: usize,
    pub participants: usize,
    pub publishers: usize,
    pub players: usize,
}

/// One connection's state.
struct Session {
    login: String,
    /// Rooms this session takes part in.
    rooms: BTreeSet<String>,
    /// The session's streams by the client's mediaSessionId.
    media: HashMap<String, PeerId>,
    /// What its access token allows; `None`: everything.
    grants: Option<crate::Grants>,
}

/// Why a publication ends: it decides who is told what.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StopCause<'a> {
    /// unPublishStream, stopStream or leave: the owner gets UNPUBLISHED / STOPPED.
    Owner,
    /// The socket closed: the owner is gone, nobody tells it anything.
    Disconnect,
    /// The media plane failed: the owner gets FAILED with the reason, the room FAILED.
    Failure(&'a str),
}

/// The whole signaling state of one server.
pub struct Hub {
    config: RoomConfig,
    sessions: HashMap<SessionId, Session>,
    rooms: BTreeMap<String, Room>,
    publications: HashMap<PeerId, Publication>,
    playbacks: HashMap<PeerId, Playback>,
    /// Stream names are global keys.
    stream_names: HashMap<String, PeerId>,
    /// Away participants by deadline: (until, room, login).
    away: BTreeSet<(Instant, String, String)>,
    next_peer: u64,
    outputs: VecDeque<Output>,
}

impl Hub {
    pub fn new(config: RoomConfig) -> Self {
        Self {
            config,
            sessions: HashMap::new(),
            rooms: BTreeMap::new(),
            publications: HashMap::new(),
            playbacks: HashMap::new(),
            stream_names: HashMap::new(),
            away: BTreeSet::new(),
            next_peer: 1,
            outputs: VecDeque::new(),
        }
    }

    pub fn handle_input(&mut self, now: Now, input: Input) {
        match input {
            Input::Connect {
                session,
                login,
                grants,
            } => self.connect(session, login, grants),
            Input::Command { session, command } => self.command(now, session, command),
            Input::Disconnect { session } => self.disconnect(now, session),
            Input::Media(event) => self.media_event(event),
            Input::CloseRoom { room } => self.close_room(now, &room),
            Input::Kick { room, login } => self.kick(now, &room, &login),
        }
    }

    /// Expire away participants whose grace period is over.
    pub fn handle_timeout(&mut self, now: Now) {
        while let Some((until, room, login)) = self.away.first().cloned() {
            if until > now.at {
                break;
            }
            self.away.pop_first();
            info!(room = %room, login = %login, "grace period over, participant removed");
            self.remove_participant(now, &room, &login);
        }
    }

    /// When [`Hub::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.away.first().map(|(until, _, _)| *until)
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    pub fn stats(&self) -> HubStats {
        HubStats {
            sessions: self.sessions.len(),
            rooms: self.rooms.len(),
            participants: self.rooms.values().map(|r| r.participants.len()).sum(),
            publishers: self.publications.len(),
            players: self.playbacks.len(),
        }
    }

    // ---- commands ----

    fn command(&mut self, now: Now, session: SessionId, command: Command) {
        if !self.sessions.contains_key(&session) {
            debug!(%session, ?command, "command before connection");
            self.reject_unconnected(session, command);
            return;
        }
        let command = self.restrict_record(session, command);
        match command {
            Command::Join { op, room, record } => {
                let result = self.join(now, session, &room, record);
                self.reply_then_flush(session, op, result);
            }
            Command::Leave { op, room } => {
                let result = self.leave(now, session, &room);
                self.reply_then_flush(session, op, result);
            }
            Command::SendMessage { op, room, to, text } => {
                let result = self.message(session, &room, &to, text);
                self.reply_then_flush(session, op, result);
            }
            Command::UnknownData { op, command } => {
                let result = Err(format!("Unknown command: {command}"));
                self.reply_then_flush(session, op, result);
            }
            Command::Publish(req) => {
                let _ = self.publish(now, session, req, None);
            }
            Command::Ingest { request, codecs } => {
                let _ = self.publish(now, session, request, Some(codecs));
            }
            Command::Play(req) => self.play(session, req),
            Command::Unpublish { media_session_id } | Command::Stop { media_session_id } => {
                self.stop_by_client(session, &media_session_id)
            }
        }
    }

    /// A command's effects are queued in `pending`; the reply must go out first, because
    /// the SDK settles the operation before it reacts to room events.
    fn reply_then_flush(
        &mut self,
        session: SessionId,
        op: String,
        result: Result<Vec<Output>, String>,
    ) {
        match result {
            Ok(effects) => {
                self.send(session, ServerMessage::DataStatus { op, result: Ok(()) });
                self.outputs.extend(effects);
            }
            Err(reason) => {
                debug!(%session, reason = %reason, "command failed");
                self.send(
                    session,
                    ServerMessage::DataStatus {
                        op,
                        result: Err(reason),
                    },
                );
            }
        }
    }

    fn reject_unconnected(&mut self, session: SessionId, command: Command) {
        let reason = "Not connected: send `connection` first".to_string();
        match command {
            Command::Join { op, .. }
            | Command::Leave { op, .. }
            | Command::SendMessage { op, .. }
            | Command::UnknownData { op, .. } => self.send(
                session,
                ServerMessage::DataStatus {
                    op,
                    result: Err(reason),
                },
            ),
            Command::Publish(req) | Command::Ingest { request: req, .. } => {
                let status = request_status(&req, true, StreamState::Failed, &reason);
                self.send(session, ServerMessage::StreamStatus(status));
            }
            Command::Play(req) => {
                let status = request_status(&req, false, StreamState::Failed, &reason);
                self.send(session, ServerMessage::StreamStatus(status));
            }
            Command::Unpublish { .. } | Command::Stop { .. } => {}
        }
    }

    // ---- helpers ----

    fn allocate_peer(&mut self) -> PeerId {
        let peer = PeerId(self.next_peer);
        self.next_peer += 1;
        peer
    }

    fn send(&mut self, session: SessionId, message: ServerMessage) {
        self.outputs.push_back(Output::Send { session, message });
    }
}

fn room_event(session: SessionId, room: &str, event: RoomEvent) -> Output {
    Output::Send {
        session,
        message: ServerMessage::RoomEvent {
            room: room.to_string(),
            event,
        },
    }
}

/// A status for a request that never became a stream.
fn request_status(
    req: &StreamRequest,
    published: bool,
    status: StreamState,
    info: &str,
) -> StreamStatus {
    StreamStatus {
        media_session_id: req.media_session_id.clone(),
        name: req.name.clone(),
        published,
        has_audio: req.has_audio,
        has_video: req.has_video,
        record: req.record,
        status,
        info: info.to_string(),
        record_name: None,
    }
}
