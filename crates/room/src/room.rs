//! The domain objects: a room, its participants and the streams they publish or play.

use std::collections::BTreeSet;
use std::time::Instant;

use crate::{PeerId, RecordedStream, SessionId, StreamInfo, StreamState, StreamStatus};

/// A room exists from its first join until its last participant is gone.
pub(crate) struct Room {
    pub name: String,
    /// Joined with `record: true` by its creator: every stream is recorded and mixed at the end.
    pub record: bool,
    pub started_unix_ms: u64,
    /// In join order, which is the order of STATE.
    pub participants: Vec<Participant>,
    /// Recordings made in this room, for the mix.
    pub recorded: Vec<RecordedStream>,
}

impl Room {
    pub fn participant(&self, login: &str) -> Option<&Participant> {
        self.participants.iter().find(|p| p.login == login)
    }

    pub fn participant_mut(&mut self, login: &str) -> Option<&mut Participant> {
        self.participants.iter_mut().find(|p| p.login == login)
    }

    /// Sessions of the connected participants, but `except` (events never go to their subject).
    pub fn audience(&self, except: &str) -> Vec<SessionId> {
        self.participants
            .iter()
            .filter(|p| p.login != except)
            .filter_map(|p| p.presence.session())
            .collect()
    }
}

pub(crate) struct Participant {
    pub login: String,
    pub presence: Presence,
}

/// A participant is connected, or "away": its socket closed without `leave` and it may come
/// back before the grace period ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Presence {
    Active(SessionId),
    Away { until: Instant },
}

impl Presence {
    pub fn session(self) -> Option<SessionId> {
        match self {
            Presence::Active(s) => Some(s),
            Presence::Away { .. } => None,
        }
    }
}

/// Negotiating or flowing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Pending,
    Live,
}

/// A published stream (one publisher peer).
pub(crate) struct Publication {
    pub session: SessionId,
    pub media_session_id: String,
    pub name: String,
    pub room: Option<String>,
    pub login: String,
    pub has_audio: bool,
    pub has_video: bool,
    pub record_name: Option<String>,
    /// Why its recording failed (the media plane could not open or write the file).
    pub recording_failed: Option<String>,
    pub started_unix_ms: u64,
    pub phase: Phase,
    /// Player peers of this stream: the forwarding graph's fan-out, mirrored in the SFU.
    pub players: BTreeSet<PeerId>,
}

impl Publication {
    pub fn info(&self) -> StreamInfo {
        StreamInfo {
            login: self.login.clone(),
            name: self.name.clone(),
        }
    }

    pub fn status(&self, status: StreamState, info: &str) -> StreamStatus {
        StreamStatus {
            media_session_id: self.media_session_id.clone(),
            name: self.name.clone(),
            published: true,
            has_audio: self.has_audio,
            has_video: self.has_video,
            record: self.record_name.is_some(),
            status,
            info: info.to_string(),
            record_name: self.record_name.clone(),
        }
    }
}

/// A player of a published stream (one player peer).
pub(crate) struct Playback {
    pub session: SessionId,
    pub media_session_id: String,
    pub name: String,
    pub source: PeerId,
    pub has_audio: bool,
    pub has_video: bool,
    pub phase: Phase,
}

impl Playback {
    pub fn status(&self, status: StreamState, info: &str) -> StreamStatus {
        StreamStatus {
            media_session_id: self.media_session_id.clone(),
            name: self.name.clone(),
            published: false,
            has_audio: self.has_audio,
            has_video: self.has_video,
            record: false,
            status,
            info: info.to_string(),
            record_name: None,
        }
    }
}
