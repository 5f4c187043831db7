//! The abuse tests (issue 12) and the soak as one test binary, each file beside this one a
//! module (`cargo test -p huddle-service --test abuse soak::`; why one binary: each cost ~55 s of
//! CPU to compile on a 2-core machine, docs/TEAM_RULES.md). The two tests that read the process's
//! resident memory (abuse_memory.rs, soak.rs) run alone, the others beside each other
//! (`abuse_support::measured_alone`). They are not in the `service` binary, whose 44 tests
//! (ffmpeg restreams among them) load both cores for a minute: the attack scenarios here are
//! bound in time.

mod abuse_support;
mod support;

mod abuse_http;
mod abuse_memory;
mod abuse_signaling;
mod soak;
