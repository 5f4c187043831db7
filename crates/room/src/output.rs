use crate::{MediaCommand, SessionId};

/// What the core asks the edges to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Deliver a message to one session.
    Send {
        session: SessionId,
        message: ServerMessage,
    },
    /// Drive the media plane.
    Media(MediaCommand),
    /// The room's last participant is gone: the room no longer exists. When it recorded,
    /// its streams are to be mixed into one file.
    RoomFinalized(FinalizedRoom),
    /// A recorded stream went live in a room joined with `record: true`: its file is being
    /// written and belongs to the room's mix. Emitted once per stream, before the room ends,
    /// so that the edge can note the mix down at once (it survives a crash of the process).
    Recording {
        room: String,
        /// When the room started (names the room's mix).
        room_started_unix_ms: u64,
        stream: RecordedStream,
    },
}

/// Messages to a client, in protocol terms but free of JSON.
#[derive(Clone, Debug, PartialEq)]
pub enum ServerMessage {
    /// The session is established (`getUserData`).
    Established { login: String },
    /// The reply to one `sendData` (`DataStatusEvent`).
    DataStatus {
        op: String,
        result: Result<(), String>,
    },
    /// A room event (`OnDataEvent`).
    RoomEvent { room: String, event: RoomEvent },
    /// The SDP answer for a stream (`setRemoteSDP`).
    RemoteSdp {
        media_session_id: String,
        sdp: String,
    },
    /// A stream's status (`notifyStreamStatusEvent`).
    StreamStatus(StreamStatus),
}

#[derive(Clone, Debug, PartialEq)]
pub enum RoomEvent {
    State(Vec<StateEntry>),
    Joined(String),
    Left(String),
    Published(StreamInfo),
    Unpublished(StreamInfo),
    Failed(StreamInfo),
    Message { from: String, text: String },
}

/// One STATE item: a participant's login, or one of its published streams.
#[derive(Clone, Debug, PartialEq)]
pub enum StateEntry {
    Login(String),
    Stream(StreamInfo),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamInfo {
    pub login: String,
    pub name: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamState {
    Publishing,
    Playing,
    Unpublished,
    Stopped,
    Failed,
}

impl StreamState {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamState::Publishing => "PUBLISHING",
            StreamState::Playing => "PLAYING",
            StreamState::Unpublished => "UNPUBLISHED",
            StreamState::Stopped => "STOPPED",
            StreamState::Failed => "FAILED",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct StreamStatus {
    pub media_session_id: String,
    pub name: String,
    pub published: bool,
    pub has_audio: bool,
    pub has_video: bool,
    pub record: bool,
    pub status: StreamState,
    pub info: String,
    /// The recording file of a recorded publisher.
    pub record_name: Option<String>,
}

/// A room that ended, with what it recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct FinalizedRoom {
    pub name: String,
    /// The room was joined with `record: true`: mix `streams` into one file.
    pub record: bool,
    pub started_unix_ms: u64,
    pub ended_unix_ms: u64,
    pub streams: Vec<RecordedStream>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RecordedStream {
    pub file_name: String,
    pub login: String,
    pub stream: String,
    pub started_unix_ms: u64,
}
