//! RTMP for Huddle: an RTMP encoder (OBS, ffmpeg, …) publishes into a room, and RTMP
//! players (ffplay, VLC, OBS media sources) play a room participant's stream.
//!
//! H.264 video passes through (AVCC → Annex-B, SPS/PPS in front of every keyframe); AAC-LC
//! audio is decoded, resampled to 48 kHz and re-encoded as 20 ms Opus frames. The output is
//! ready for a WebRTC media plane: H.264 access units on a 90 kHz clock and Opus packets on a
//! 48 kHz clock, both derived from one millisecond time base (time since the publish started).
//!
//! # Publish URL
//!
//! ```text
//! rtmp://HOST:1935/live/<room>          stream key: <login>
//! ```
//!
//! * OBS: *Server* `rtmp://HOST:1935/live/<room>`, *Stream Key* `<login>`.
//! * ffmpeg: `ffmpeg … -f flv rtmp://HOST:1935/live/<room>/<login>` (ffmpeg takes the last
//!   path segment as the stream key and the rest, `live/<room>`, as the RTMP application).
//! * Also accepted: application `live` with stream key `<room>/<login>`.
//!
//! A query string on the stream key (`alice?token=…`) is stripped from the login and kept in
//! [`RtmpRequest::stream_key`] so the sink can check a token. Room and login must be 1–64
//! characters of `A–Z a–z 0–9 _ - .`; anything else is refused with
//! `NetStream.Publish.BadName`.
//!
//! Any other application name (not `live` or `live/…`) is rejected at `connect` time with
//! `NetConnection.Connect.Rejected` and the connection is closed ([`CloseReason::UnknownApp`]).
//! One publish or one play per connection.
//!
//! # Play URL
//!
//! ```text
//! rtmp://HOST:1935/live/<room>/<login>     (or app live, stream key <room>/<login>)
//! ```
//!
//! The server asks [`IngestSink::play`] (default: refused) for a [`PlayerFeed`], normally
//! from a [`LiveFeed`]: the embedder keeps one `LiveFeed` per played source and pushes the
//! source's H.264 access units (Annex-B) and Opus packets into it with their RTP times
//! ([`LiveFeed::push_h264`], [`LiveFeed::push_opus`]; they never block). The feed writes
//! FLV for every player: `onMetaData`, the AVC sequence header built from SPS/PPS, H.264
//! passed through as AVCC from a keyframe on, Opus transcoded to AAC-LC by one ffmpeg
//! process per source shared by its players (`aac_encode.rs` says why ffmpeg), timestamps
//! from 0. A refusal (`Err(reason)`) reaches the client as `NetStream.Play.Failed` with the
//! reason, e.g. [`vp8_refusal`] for a VP8 source. Each player has a bounded queue: a slow
//! one skips to the next keyframe, it never holds up the source or other players.
//!
//! # Media requirements
//!
//! * Video: H.264 (FLV codec id 7) **without B-frames** (x264/ffmpeg `-bf 0`, OBS
//!   `bframes=0`). A composition-time offset that changes between frames means frame
//!   reordering, which WebRTC players do not do: the connection is closed with
//!   [`CloseReason::Unsupported`] and a message naming the fix (`-bf 0 -profile:v baseline`). A constant offset is applied to
//!   the PTS. Enhanced-RTMP (HEVC/AV1 FourCC) and other legacy codecs are refused the same way.
//! * Audio: AAC-LC (FLV sound format 10), mono or stereo, any rate (resampled to 48 kHz).
//!   HE-AAC (SBR/PS), MP3, Speex… are refused ([`CloseReason::Unsupported`]).
//!
//! # Using it
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:1935").await?;
//! let (sink, mut events) = huddle_rtmp::channel(256);
//! tokio::spawn(huddle_rtmp::serve(listener, sink));
//! while let Some(ev) = events.recv().await {
//!     match ev {
//!         huddle_rtmp::IngestEvent::Publish { request, reply } => reply.accept(),
//!         huddle_rtmp::IngestEvent::Media { conn, media } => { /* forward into the room */ }
//!         huddle_rtmp::IngestEvent::Closed { conn, reason } => { /* remove the publisher */ }
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Or implement [`IngestSink`] directly. Per connection the sink sees: one
//! [`IngestSink::publish`] (if the client gets that far), then, if accepted, [`Media`] in
//! stream order, and always exactly one [`IngestSink::closed`] last — also for connections that
//! never published (garbage, port scans), which a sink can ignore. To end a publish from its
//! side (the room kicked the encoder), the sink keeps [`RtmpRequest::close`] and calls
//! [`CloseHandle::close`]: the TCP connection is closed and `closed` reports
//! [`CloseReason::Closed`].
//!
//! # Feeding a WebRTC media plane
//!
//! * [`Media::VideoConfig`] comes before the first [`Media::Video`]; its
//!   [`AvcConfig::profile_level_id_hex`] is the fmtp `profile-level-id` to offer players
//!   (with `packetization-mode=1`). It can change mid-stream (encoder restart): then a keyframe
//!   with the new SPS/PPS follows.
//! * [`VideoFrame::annexb`] is one whole access unit, ready for an H.264 RTP payloader that
//!   takes Annex-B (str0m's does); the first frame is always a keyframe, and every keyframe
//!   carries SPS+PPS, so a player that joins late only needs a keyframe (there is no way to
//!   ask an RTMP encoder for one: with `-g 30`/OBS keyframe interval 1–2 s a PLI is answered
//!   by the next scheduled keyframe).
//! * [`AudioFrame::opus`] is one 20 ms Opus packet (`opus/48000/2` in SDP, mono or stereo
//!   payload); `rtp_time_48k` advances by 960 per frame.
//! * `rtp_time_90k / 90 == rtp_time_48k / 48 == pts_ms` (modulo wrap) at each re-anchor point,
//!   so lip sync holds if both tracks get the same RTCP sender-report mapping (e.g. add one
//!   random offset per track and map `pts_ms` to the same wall-clock instant).
//!
//! # Telling the encoder
//!
//! Every close the server decides for a publishing connection (unsupported or malformed media,
//! [`CloseHandle::close`], a timeout) first sends the encoder an `onStatus` with
//! `level: "error"` and the reason as its description, which ffmpeg prints as
//! `Server error: <reason>` (status.rs); a refused request gets an `_error` reply. After
//! telling, the server half-closes and reads for up to 2 s so that the client reads the
//! reason before the connection goes.
//!
//! # Robustness
//!
//! Every connection runs in its own task; a malformed stream, a decoder error or even a panic in
//! a parser closes only that connection, with a [`CloseReason`]. Memory per connection is
//! bounded: a 64 KiB read buffer, the RTMP chunk reassembly of one message (at most
//! [`ServerConfig::max_message_size`], 4 MiB by default, checked on the chunk headers before
//! any payload is buffered), a few audio frames of PCM, and whatever the sink buffers (the [`channel`] sink is bounded and applies
//! back-pressure to the TCP connection). Timeouts bound how long a client may take to publish
//! and how long a publisher may stay silent; [`ServerConfig::max_connections`] caps the
//! number of connections. Dropping the [`serve`] future closes all its connections.

mod aac_encode;
mod audio;
pub mod avc;
mod fanout;
pub mod flv;
pub mod flv_out;
mod guard;
mod live_feed;
mod media;
mod server;
mod sink;
mod status;

pub use aac_encode::{AdtsReader, OpusToPcm};
pub use audio::{AacToOpus, AudioConfig, AudioFrame, OPUS_FRAME, OPUS_RATE};
pub use avc::AvcConfig;
pub use fanout::{PlayTag, PlayerFeed, TagKind};
pub use live_feed::{FeedConfig, LiveFeed, WeakFeed};
pub use media::{Media, MediaPipeline, VideoFrame};
pub use server::{parse_publish_target, serve, serve_with_config, vp8_refusal, ServerConfig};
pub use sink::{
    channel, ChannelSink, CloseHandle, IngestEvent, IngestSink, PublishReply, RtmpRequest,
};

/// Identifies one RTMP connection for the life of a [`serve`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rtmp#{}", self.0)
    }
}

/// A media problem that ends a publish.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The publisher sends something valid that this server does not take.
    #[error("{0}")]
    Unsupported(String),
    /// The publisher sends bytes that do not parse.
    #[error("{0}")]
    Malformed(String),
}

/// Why a connection was closed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CloseReason {
    /// The client closed the TCP connection.
    #[error("publisher disconnected")]
    Disconnected,
    /// The client ended its publish (`FCUnpublish`/`deleteStream`).
    #[error("publish finished")]
    Finished,
    /// The sink refused the publish.
    #[error("publish refused: {0}")]
    Refused(String),
    /// The RTMP application is not `live` / `live/<room>`.
    #[error("RTMP application {0:?} is not served; publish to rtmp://HOST:1935/live/<room> with stream key <login>")]
    UnknownApp(String),
    /// Room or login missing or not allowed.
    #[error("bad publish name: {0}")]
    BadName(String),
    /// RTMP handshake/chunk/command error, or a request this server does not serve.
    #[error("RTMP protocol error: {0}")]
    Protocol(String),
    /// Media this server does not take (B-frames, codec, AAC profile).
    #[error("unsupported media: {0}")]
    Unsupported(String),
    /// Media that does not parse.
    #[error("malformed media: {0}")]
    Malformed(String),
    /// A timeout expired.
    #[error("timeout: {0}")]
    Timeout(String),
    /// Socket error.
    #[error("I/O error: {0}")]
    Io(String),
    /// [`ServerConfig::max_connections`] or [`ServerConfig::max_pending`] reached.
    #[error("server full ({0} connections)")]
    ServerFull(usize),
    /// [`ServerConfig::max_per_ip`] reached.
    #[error("too many connections from one address (at most {0})")]
    TooManyFromAddress(usize),
    /// The sink closed the connection ([`CloseHandle::close`]), e.g. the room ended the
    /// stream.
    #[error("closed by the server: {0}")]
    Closed(String),
    /// An RTMP play ended (the stream ended or the player stopped).
    #[error("play ended: {0}")]
    PlayEnded(String),
    /// A bug: a panic while handling this connection (the server goes on).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<MediaError> for CloseReason {
    fn from(e: MediaError) -> CloseReason {
        match e {
            MediaError::Unsupported(m) => CloseReason::Unsupported(m),
            MediaError::Malformed(m) => CloseReason::Malformed(m),
        }
    }
}
