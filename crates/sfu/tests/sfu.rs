//! The media plane's integration tests as one test binary, each file beside this one a module
//! (`cargo test -p huddle-sfu --test sfu loss::`; why one: docs/TEAM_RULES.md).
//!
//! `memory.rs` (a counting global allocator, which would count every other test's
//! allocations too) and `instructions.rs` (run alone under callgrind) stay binaries of their own.

#[macro_use]
mod common;

mod audio_only;
mod chrome_sdp;
mod first_frame;
mod idle;
mod loss;
mod network;
mod pacer;
mod padding;
mod red_uplink;
mod rtp_mode;
mod simulcast;
mod taps;
mod transport;
mod udp;
