//! The server's integration tests that can share one process: one test binary instead of one
//! per file, because each binary compiled the server's generic code (axum, tokio, str0m) again,
//! ~40 s of CPU per file (11 files: ~450 s; together: ~75 s). The tests that measure the process
//! itself (its RSS: soak.rs, abuse_memory.rs) and the time-bound attack scenarios (abuse_http.rs,
//! abuse_signaling.rs) have a binary of their own, tests/abuse.rs.

#[path = "../support/mod.rs"]
mod support;

mod acme;
mod admin_page;
mod cluster;
mod hooks;
mod media_routing;
mod restream;
mod rtmp_auth;
mod rtmp_encoder_defaults;
mod rtmp_room;
mod trust;
mod ws;
