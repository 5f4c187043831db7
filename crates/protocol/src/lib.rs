//! The Flashphoner Web SDK wire protocol (spec: `shared/research/flashphoner_protocol.md` §3-§10).
//!
//! * [`parse`] turns one client text frame into a [`ClientMessage`] holding the room core's
//!   [`huddle_room::Command`]s. It is pure (`&str` in, value or [`ProtocolError`] out), never
//!   panics, and is the entry point to fuzz.
//! * [`encode`] turns a [`huddle_room::ServerMessage`] into one server text frame;
//!   [`encode_user_data`] builds the `getUserData` reply that echoes the `connection` request,
//!   and [`encode_ping`] the server keep-alive.
//!
//! Every server frame carries a `data` array, because the SDK reads `data[0]` unconditionally.

mod decode;
mod encode;
mod error;
mod play_constraints;
mod surrogates;

pub use decode::{parse, ClientMessage, ConnectionRequest};
pub use encode::{encode, encode_ping, encode_user_data};
pub use error::{ErrorReply, ProtocolError};

#[cfg(test)]
mod tests;
