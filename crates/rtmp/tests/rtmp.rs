//! RTMP's end-to-end tests (real ffmpeg publishers and players on loopback) as one test
//! binary, each file beside this one a module (`cargo test -p huddle-rtmp --test rtmp play::`;
//! why one: docs/TEAM_RULES.md).

mod ingest;
mod play;
