use std::time::Instant;

use crate::media::{PlayConstraints, Transport};
use crate::{Grants, MediaEvent, SessionId};

/// The time of an input: monotonic for timers, wall clock (Unix ms) for names and reports.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    pub at: Instant,
    pub unix_ms: u64,
}

/// Everything that can happen to the core.
#[derive(Clone, Debug)]
pub enum Input {
    /// A connection said hello (`connection`). `login` is the SDK's `custom.login`.
    Connect {
        session: SessionId,
        login: Option<String>,
        /// What the session's access token allows; `None` when access control is off.
        grants: Option<Grants>,
    },
    /// A command from a connected session. Commands of one session are applied in order.
    Command {
        session: SessionId,
        command: Command,
    },
    /// The connection closed, with or without `leave`.
    Disconnect { session: SessionId },
    /// A report from the media plane.
    Media(MediaEvent),
    /// Operator: end a room. Every participant is removed (its streams in the room ended,
    /// LEFT to the others) and the room is finalized.
    CloseRoom { room: String },
    /// Operator: remove one participant from a room (its streams there end).
    Kick { room: String, login: String },
}

/// Client commands, already parsed from the wire.
#[derive(Clone, Debug)]
pub enum Command {
    Join {
        op: String,
        room: String,
        record: bool,
    },
    Leave {
        op: String,
        room: String,
    },
    SendMessage {
        op: String,
        room: String,
        to: String,
        text: String,
    },
    /// A `sendData` whose command the core does not know: answered FAILED.
    UnknownData {
        op: String,
        command: String,
    },
    Publish(StreamRequest),
    /// A publish whose media arrives outside WebRTC (RTMP ingest). Checked and announced like
    /// [`Command::Publish`]; there is no offer (`request.sdp` is not read): `codecs` say what
    /// the encoder sends.
    Ingest {
        request: StreamRequest,
        codecs: crate::IngestCodecs,
    },
    Play(StreamRequest),
    Unpublish {
        media_session_id: String,
    },
    Stop {
        media_session_id: String,
    },
}

/// `publishStream` / `playStream`.
#[derive(Clone, Debug, Default)]
pub struct StreamRequest {
    /// Client-made id; every status of this stream is addressed to it.
    pub media_session_id: String,
    /// Stream name: a global key, never parsed.
    pub name: String,
    /// The room (`custom.name`); `None` for a stream outside any room.
    pub room: Option<String>,
    /// The browser's SDP offer.
    pub sdp: String,
    /// The SDK's `transport` option: which ICE transports the answer may offer.
    pub transport: Transport,
    pub has_audio: bool,
    pub has_video: bool,
    /// `record: true` on publish.
    pub record: bool,
    /// `playStream`'s width/height/bitrate/quality (default, no limit, on publish).
    pub constraints: PlayConstraints,
}
