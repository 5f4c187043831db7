//! The room core's integration tests as one test binary, each file beside this one a module
//! (`cargo test -p huddle-room --test room finalize::`; why one: docs/TEAM_RULES.md).

mod support;

mod abuse;
mod finalize;
mod membership;
mod streams;
mod trust;
