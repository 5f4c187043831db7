//! The port between the room core and the media plane.
//!
//! The core decides who may publish and play; the media plane (huddle-sfu) owns the WebRTC
//! peers and the packets. Every peer opened here ends with exactly one `Close`.

use crate::PeerId;

/// What the core asks of the media plane.
#[derive(Clone, Debug, PartialEq)]
pub enum MediaCommand {
    /// Accept a publisher's offer; answer with [`MediaEvent::Answer`] then report
    /// [`MediaEvent::Connected`] once ICE and DTLS are up.
    ///
    /// `room` is the publisher's room (`None`: a stream outside any room); a sharded media
    /// plane keeps a room's peers together on one shard by it.
    Publish {
        peer: PeerId,
        room: Option<String>,
        offer: String,
        /// Which ICE transports the answer may offer (the client's `transport` option).
        transport: Transport,
        record: Option<RecordRequest>,
    },
    /// Register a publisher whose media does not come over WebRTC (an RTMP ingest): there is
    /// no offer and no answer; report [`MediaEvent::Connected`] once it is registered. Its
    /// frames are then addressed to `peer`.
    Ingest {
        peer: PeerId,
        room: Option<String>,
        codecs: IngestCodecs,
        record: Option<RecordRequest>,
    },
    /// Accept a player's offer for the media of `source` (a publisher peer).
    Play {
        peer: PeerId,
        source: PeerId,
        offer: String,
        /// Which ICE transports the answer may offer (the client's `transport` option).
        transport: Transport,
        /// What the player asked for (`playStream` width/height/bitrate/quality): the most
        /// it receives of a simulcast source.
        constraints: PlayConstraints,
    },
    /// Tear the peer down (and close its recording, if any).
    Close { peer: PeerId },
}

impl MediaCommand {
    /// The peer the command is about.
    pub fn peer(&self) -> PeerId {
        match self {
            MediaCommand::Publish { peer, .. }
            | MediaCommand::Ingest { peer, .. }
            | MediaCommand::Play { peer, .. }
            | MediaCommand::Close { peer } => *peer,
        }
    }

    /// Whether the command opens a new peer (everything but `Close`).
    pub fn opens_peer(&self) -> bool {
        !matches!(self, MediaCommand::Close { .. })
    }
}

/// What an ingest publisher sends, as its encoder announced it (at least one of the two).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct IngestCodecs {
    pub video: Option<IngestVideo>,
    pub audio: Option<IngestAudio>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngestVideo {
    /// H.264 access units (Annex B); `profile_level_id` as in RFC 6184 (e.g. `0x42c01f`).
    H264 { profile_level_id: u32 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngestAudio {
    /// Opus packets of 20 ms at 48 kHz; `channels` is 1 or 2.
    Opus { channels: u8 },
}

/// Where a publisher's media is written.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordRequest {
    /// File name inside the records folder (already safe: see [`crate::record_name`]).
    pub file_name: String,
    pub room: Option<String>,
    pub login: String,
    pub stream: String,
    pub started_unix_ms: u64,
}

/// What the media plane reports.
#[derive(Clone, Debug, PartialEq)]
pub enum MediaEvent {
    Answer {
        peer: PeerId,
        sdp: String,
    },
    Connected {
        peer: PeerId,
    },
    /// The peer failed or its media stopped arriving. The core answers with `Close`.
    Failed {
        peer: PeerId,
        reason: String,
    },
    /// The recording of a publisher could not be opened or written: its file is incomplete
    /// or missing. The stream itself goes on.
    RecordingFailed {
        peer: PeerId,
        reason: String,
    },
}

/// The ICE transports a client asked for: the Flashphoner SDK's `transport` publish/play
/// option (`"UDP"`, the default, or `"TCP"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transport {
    /// UDP host candidates, with the ICE-TCP candidate (if configured) beside them: the
    /// browser uses TCP only when UDP does not get through.
    #[default]
    Udp,
    /// The ICE-TCP candidate only (when ICE-TCP is configured; otherwise as `Udp`).
    Tcp,
}

/// What a player's `playStream` asked for: the SDK's `width`, `height`, `bitrate` and
/// `quality` (its `constraints.video` or `playWidth`/`playHeight`). The media plane gives a
/// player of a simulcast source no layer above them (the lowest layer always plays); a
/// single-layer source ignores them. `None` (the SDK sends 0): no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlayConstraints {
    /// Largest picture width, pixels.
    pub width: Option<u32>,
    /// Largest picture height, pixels.
    pub height: Option<u32>,
    /// Largest video rate, bit/s (the SDK's `bitrate` is in kbit/s).
    pub video_bps: Option<u64>,
    /// 1-100: the share of the source's layers, lowest first, the player may get (100 all,
    /// 50 the lower half; at least the lowest).
    pub quality: Option<u8>,
}
