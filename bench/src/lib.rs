//! huddle-bench: a WebRTC load generator built on str0m clients (full ICE, offerer), with
//! adapters for Huddle (Flashphoner WebSocket protocol), Janus VideoRoom and mediasoup, and the scenario
//! runner and report writer used by `scripts/bench.sh`.

pub mod fanout_metric;
pub mod flashphoner;
pub mod floor;
pub mod janus;
pub mod media;
pub mod mediasoup;
pub mod ms_sdp;
pub mod peer;
pub mod report;
pub mod report_floor;
pub mod report_side;
pub mod scenario;
pub mod stats;
pub mod vp8_rtp;
pub mod ws;

#[cfg(test)]
mod smoke_huddle;
