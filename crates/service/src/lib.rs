//! Huddle's network edges: HTTP and HTTPS (same router), the WebSocket signaling of the
//! Flashphoner Web SDK on any path, static web apps, `/api/stats`, the config, and the room
//! actor that wires the sans-IO room core ([`huddle_room::Hub`]) to the sessions and to the
//! media plane.
//!
//! ```no_run
//! # async fn run() -> Result<(), huddle_service::StartError> {
//! let server = huddle_service::start(huddle_service::Config::default()).await?;
//! println!("{}", server.ready_line());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod acme;
mod actor;
mod admin;
mod admin_cluster;
mod admin_page;
mod admission;
pub mod auth;
mod cluster;
pub mod config;
mod conn_limit;
pub mod hooks;
mod http;
pub mod media;
mod metrics;
mod mix_board;
mod net;
mod outbound;
mod ratelimit;
mod recording;
mod records_access;
mod records_http;
pub mod restream;
pub mod rtmp_edge;
pub mod rtmp_play;
mod server;
mod session;
pub mod shards;
mod supervise;
mod tls;
pub mod turn;

use std::net::SocketAddr;

pub use config::{Config, ConfigArgs, ConfigError};
pub use http::{ShardStats, Stats};
pub use server::{start, start_with_media, Server};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error(transparent)]
    Io(std::io::Error),
}
