//! The router shared by the HTTP and HTTPS listeners: WebSocket on any path, `/api/stats`,
//! and static files.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tokio::sync::oneshot;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

use crate::actor::ActorMsg;
use crate::server::Shared;

/// `GET /api/stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Stats {
    /// Open WebSocket connections.
    pub connections: usize,
    /// Sessions that said `connection`.
    pub sessions: usize,
    pub rooms: usize,
    pub participants: usize,
    pub publishers: usize,
    pub players: usize,
    /// Live WebRTC peers in the media plane.
    pub media_peers: u64,
    /// Per media shard, in shard order (docs/SHARDS.md).
    #[serde(default)]
    pub media_shards: Vec<ShardStats>,
}

/// One media shard in `GET /api/stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ShardStats {
    /// Its UDP and ICE-TCP ports (announced in the answers of its rooms' peers).
    pub udp_port: u16,
    pub tcp_port: Option<u16>,
    pub peers: u64,
    pub publishers: u64,
    pub players: u64,
    pub packets_in: u64,
    pub packets_out: u64,
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let static_files = ServeDir::new(&shared.config.web_dir);
    Router::new()
        .route("/api/stats", get(stats))
        .route("/api/stats/peers", get(peer_stats))
        .route("/metrics", get(metrics))
        .merge(crate::admin::routes())
        .merge(crate::admin_page::routes())
        .merge(crate::records_http::routes())
        .merge(crate::turn::routes())
        .fallback_service(static_files)
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            websocket_on_any_path,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(shared)
}

fn is_websocket_upgrade(req: &Request) -> bool {
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    // HTTP/2 WebSockets (RFC 8441) come as CONNECT.
    upgrade || (req.method() == Method::CONNECT && req.version() >= axum::http::Version::HTTP_2)
}

/// Any request that asks for a WebSocket becomes a signaling session, whatever its path (the
/// SDK's screen-sharing demo connects to `wss://host:8443/<id>`).
async fn websocket_on_any_path(
    State(shared): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    if !is_websocket_upgrade(&req) {
        return next.run(req).await;
    }
    let (mut parts, _body) = req.into_parts();
    let remote = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &shared).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let limit = shared.config.max_frame_bytes;
    upgrade
        .max_message_size(limit)
        .max_frame_size(limit)
        // tungstenite's defaults (128 KiB read buffer) cost ~136 KB per idle socket;
        // signaling frames are small, larger ones just take more reads.
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0)
        .on_upgrade(move |socket| crate::session::run(socket, shared, remote))
}

/// Bytes read from a WebSocket at a time (per connection, for its whole life). Signalling
/// messages are small JSON; a larger one (an SDP offer, a few KB) grows the buffer for that
/// message only (vendored tungstenite patch 1). 4 KiB was ~3 KiB more per session (issue 15).
const WS_READ_BUFFER: usize = 1024;

/// `GET /metrics`: Prometheus text format.
async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let (tx, rx) = oneshot::channel();
    if shared.actor.send(ActorMsg::Stats(tx)).await.is_err() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let Ok(hub) = rx.await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let shards = shared.media.shard_stats();
    let total = shards
        .iter()
        .fold(huddle_sfu::MediaStats::default(), |sum, s| sum.plus(s));
    let body = shared.metrics.render(
        &hub,
        shared.connections.load(Ordering::Relaxed),
        &total,
        &shards,
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// `GET /api/stats/peers`: the media plane's per-peer quality table (no names, no addresses).
async fn peer_stats(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.media.peer_stats()).into_response()
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    let (tx, rx) = oneshot::channel();
    if shared.actor.send(ActorMsg::Stats(tx)).await.is_err() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let Ok(hub) = rx.await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    Json(Stats {
        connections: shared.connections.load(Ordering::Relaxed),
        sessions: hub.sessions,
        rooms: hub.rooms,
        participants: hub.participants,
        publishers: hub.publishers,
        players: hub.players,
        media_peers: shared.media.peers(),
        media_shards: shared
            .media
            .shard_addrs()
            .into_iter()
            .zip(shared.media.shard_stats())
            .map(|((udp, tcp), s)| ShardStats {
                udp_port: udp.port(),
                tcp_port: tcp.map(|a| a.port()),
                peers: s.peers,
                publishers: s.publishers,
                players: s.players,
                packets_in: s.packets_in,
                packets_out: s.packets_out,
            })
            .collect(),
    })
    .into_response()
}
