//! Huddle's room core: a sans-IO state machine (str0m style).
//!
//! The network edges feed [`Input`]s into a [`Hub`] together with the current time ([`Now`]),
//! then drain [`Output`]s with [`Hub::poll_output`] until it returns `None`, and call
//! [`Hub::handle_timeout`] when [`Hub::poll_timeout`] says so. Nothing here touches a socket,
//! a clock or a thread, so every rule is tested deterministically.
//!
//! Object model (after mediasoup): [`Hub`] → rooms → participants → published streams →
//! players (subscriptions). The media plane (the `huddle-sfu` crate) is driven through the
//! [`MediaCommand`] / [`MediaEvent`] port defined in [`media`].

mod config;
mod grants;
mod hub;
mod ids;
mod input;
pub mod media;
mod output;
pub mod record_name;
mod room;

pub use config::{RoomConfig, DEFAULT_MAX_NAME_BYTES};
pub use grants::Grants;
pub use hub::{
    Hub, HubStats, ParticipantSnapshot, PlayerSnapshot, RoomSnapshot, Snapshot, StreamSnapshot,
};
pub use ids::{PeerId, SessionId};
pub use input::{Command, Input, Now, StreamRequest};
pub use media::{
    IngestAudio, IngestCodecs, IngestVideo, MediaCommand, MediaEvent, PlayConstraints,
    RecordRequest, Transport,
};
pub use output::{
    FinalizedRoom, Output, RecordedStream, RoomEvent, ServerMessage, StateEntry, StreamInfo,
    StreamState, StreamStatus,
};
