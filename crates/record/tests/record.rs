//! The recorder's integration tests as one test binary, each file beside this one a module
//! (`cargo test -p huddle-record --test record mix::`; why one: docs/TEAM_RULES.md).

mod common;

mod mix;
mod recorder;
