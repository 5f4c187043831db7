//! The network lab's link emulator (`huddle-netlab`).
//!
//! The kernel of the test machines has no `sch_netem`, so links are emulated in user space: every
//! emulated link is a pair of TUN devices (one in a client network namespace, one in the server
//! namespace) and this program forwards IP packets between them through two [`Pipe`]s, one per
//! direction, each applying delay, jitter (with or without reordering), random loss, a rate limit
//! with a bounded tail-drop queue, and "block UDP".
//!
//! - [`pipe`]: the impairment itself, a sans-IO state machine (packets and time in, packets out,
//!   seeded RNG), tested deterministically.
//! - [`command`]: the line protocol on stdin that changes a pipe at runtime (`C down rate=300kbit`).
//! - [`ip`]: the few bytes of an IP header the pipe needs (is it UDP?).
//! - [`trace`]: with `HUDDLE_NETLAB_TRACE=<file>`, a line per RTP/RTCP packet and its fate
//!   (SSRC, sequence number, lost or not), to match a browser's freeze to its link's losses.
//! - `tun` / `main.rs`: the thin I/O shell (namespaces, TUN devices, a poll loop).

pub mod command;
pub mod ip;
pub mod pipe;
pub mod trace;
pub mod tun;

pub use command::{parse_line, Command, Direction};
pub use pipe::{Counters, Pipe, PipeConfig, QueueLimit};
