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
    Publish {
        peer: PeerId,
        offer: String,
        record: Option<RecordRequest>,
    },
    /// Register a publisher whose media does not come over WebRTC (an RTMP ingest): there is
    /// no offer and no answer; report [`MediaEvent::Connected`] once it is registered.
    /// `description` is the request's codec description (e.g.
    /// `video=h264:42c01f;audio=opus:2`), read only by the media plane; `name` is the stream
    /// name its frames are addressed by.
    Ingest {
        peer: PeerId,
        name: String,
        description: String,
        record: Option<RecordRequest>,
    },
    /// Accept a player's offer for the media of `source` (a publisher peer).
    Play {
        peer: PeerId,
        source: PeerId,
        offer: String,
    },
    /// Tear the peer down (and close its recording, if any).
    Close { peer: PeerId },
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
}

/// The SDP line the protocol adds to an offer whose client asked for `transport: "TCP"` (the
/// Flashphoner SDK's publish/play option): the media plane then answers with its ICE-TCP
/// candidate only. It rides inside the offer so that the request reaches the media plane
/// without a field in every command; the WebRTC stack ignores the unknown attribute. A client
/// writing it into its own offer only restricts its own stream.
pub const TCP_ONLY_OFFER_LINE: &str = "a=x-huddle-transport:TCP";
