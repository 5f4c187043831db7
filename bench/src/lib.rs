//! huddle-bench: a WebRTC load generator built on str0m clients (full ICE, offerer), with
//! adapters for Huddle (Flashphoner WebSocket protocol) and Janus VideoRoom, and the scenario
//! runner and report writer used by `scripts/bench.sh`.

pub mod flashphoner;
pub mod janus;
pub mod media;
pub mod peer;
pub mod report;
pub mod scenario;
pub mod stats;
pub mod ws;
