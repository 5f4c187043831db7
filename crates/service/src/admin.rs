//! The admin HTTP API (`docs/ADMIN_API.md`): JSON, behind `Authorization: Bearer <admin_secret>`;
//! without `admin_secret` every `/admin/...` path is 404.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use huddle_room::{Input, Snapshot};
use serde::Serialize;
use serde_json::json;
use tokio::sync::oneshot;

use crate::actor::ActorMsg;
use crate::server::Shared;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/admin/rooms", get(rooms))
        .route("/admin/rooms/{room}/close", post(close))
        .route(
            "/admin/rooms/{room}/restream",
            post(crate::restream::http::start).delete(crate::restream::http::stop),
        )
        .route("/admin/rooms/{room}/kick/{login}", post(kick))
        .route("/admin/records", get(records))
        .route("/admin/media/peers", get(media_peers))
        .route("/admin/mixes", get(mixes))
        .route("/admin/nodes", get(crate::admin_cluster::nodes))
}

/// `GET /admin/mixes`: each room mix since the start, waiting, running (with its percentage),
/// done or failed (`crate::mix_board`).
async fn mixes(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(refusal) = denied(&shared, &headers) {
        return refusal;
    }
    let mut mixes = json!(shared.mixes.snapshot());
    // In a cluster: the node running the mix (its output stays on that node's disk).
    if let Some(node) = crate::admin_cluster::node_id(&shared) {
        for mix in mixes.as_array_mut().into_iter().flatten() {
            mix["node"] = node.clone().into();
        }
    }
    Json(mixes).into_response()
}

/// `GET /admin/media/peers`: per-peer media quality (bit rates, estimate, loss, RTT, NACKs,
/// keyframe requests, paused video).
async fn media_peers(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(refusal) = denied(&shared, &headers) {
        return refusal;
    }
    Json(shared.media.peer_stats()).into_response()
}

/// The refusal: 404 when the API is off, 401 without the right bearer secret.
pub(crate) fn denied(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let Some(secret) = &shared.config.admin_secret else {
        return Some(StatusCode::NOT_FOUND.into_response());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), secret.as_bytes()) {
        None
    } else {
        Some(
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                Json(json!({"error": "unauthorized"})),
            )
                .into_response(),
        )
    }
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unavailable() -> Response {
    StatusCode::SERVICE_UNAVAILABLE.into_response()
}

#[derive(Serialize)]
struct RoomJson {
    name: String,
    /// The node that owns the room (this one): only in a cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<String>,
    record: bool,
    started_unix_ms: u64,
    participants: Vec<ParticipantJson>,
    streams: Vec<StreamJson>,
    /// The room's restream to RTMP, if any (`docs/RESTREAM.md`).
    restream: Option<crate::restream::RestreamStatus>,
}

#[derive(Serialize)]
struct ParticipantJson {
    login: String,
    /// `active` (connected) or `away` (socket closed, grace period running).
    presence: &'static str,
}

#[derive(Serialize)]
struct StreamJson {
    name: String,
    login: String,
    /// The publisher's media peer (`peer` in `/admin/media/peers`).
    peer: u64,
    /// `PUBLISHING` or `PENDING`.
    status: &'static str,
    has_audio: bool,
    has_video: bool,
    record_name: Option<String>,
    /// Why the recording failed (file incomplete or missing); absent when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    recording_failed: Option<String>,
    started_unix_ms: u64,
    players: Vec<PlayerJson>,
}

#[derive(Serialize)]
struct PlayerJson {
    login: String,
    /// The player's media peer (`peer` in `/admin/media/peers`).
    peer: u64,
    /// `PLAYING` or `PENDING`.
    status: &'static str,
}

fn to_json(
    snapshot: Snapshot,
    mut restreams: std::collections::HashMap<String, crate::restream::RestreamStatus>,
    node: Option<String>,
) -> serde_json::Value {
    let stream = |s: huddle_room::StreamSnapshot| StreamJson {
        name: s.name,
        login: s.login,
        peer: s.peer.0,
        status: if s.live { "PUBLISHING" } else { "PENDING" },
        has_audio: s.has_audio,
        has_video: s.has_video,
        record_name: s.record_name,
        recording_failed: s.recording_failed,
        started_unix_ms: s.started_unix_ms,
        players: s
            .players
            .into_iter()
            .map(|p| PlayerJson {
                login: p.login,
                peer: p.peer.0,
                status: if p.live { "PLAYING" } else { "PENDING" },
            })
            .collect(),
    };
    let rooms: Vec<RoomJson> = snapshot
        .rooms
        .into_iter()
        .map(|r| RoomJson {
            // Before `name` moves out (fields are evaluated in this order).
            restream: restreams.remove(&r.name),
            node: node.clone(),
            name: r.name,
            record: r.record,
            started_unix_ms: r.started_unix_ms,
            participants: r
                .participants
                .into_iter()
                .map(|p| ParticipantJson {
                    login: p.login,
                    presence: if p.session.is_some() {
                        "active"
                    } else {
                        "away"
                    },
                })
                .collect(),
            streams: r.streams.into_iter().map(stream).collect(),
        })
        .collect();
    let outside: Vec<StreamJson> = snapshot.streams.into_iter().map(stream).collect();
    json!({"rooms": rooms, "streams_outside_rooms": outside})
}

async fn rooms(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(r) = denied(&shared, &headers) {
        return r;
    }
    let (tx, rx) = oneshot::channel();
    if shared.actor.send(ActorMsg::Snapshot(tx)).await.is_err() {
        return unavailable();
    }
    let Ok(snapshot) = rx.await else {
        return unavailable();
    };
    let node = crate::admin_cluster::node_id(&shared);
    let mut body = to_json(snapshot, shared.restreams.all(), node);
    // In a cluster: the rooms other nodes own (an unreachable Redis is said, not hidden).
    match crate::admin_cluster::remote_rooms(&shared).await {
        None => {}
        Some(Ok(rooms)) => body["remote_rooms"] = rooms,
        Some(Err(e)) => {
            body["remote_rooms"] = serde_json::Value::Null;
            body["remote_rooms_error"] = e.into();
        }
    }
    Json(body).into_response()
}

async fn act(shared: &Shared, input: Input) -> Response {
    let (tx, rx) = oneshot::channel();
    if shared
        .actor
        .send(ActorMsg::Admin { input, reply: tx })
        .await
        .is_err()
    {
        return unavailable();
    }
    match rx.await {
        Ok(true) => {
            shared.metrics.admin_actions.inc();
            Json(json!({"ok": true})).into_response()
        }
        Ok(false) => (StatusCode::NOT_FOUND, Json(json!({"error": "not found"}))).into_response(),
        Err(_) => unavailable(),
    }
}

async fn close(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(room): Path<String>,
) -> Response {
    if let Some(r) = denied(&shared, &headers) {
        return r;
    }
    act(&shared, Input::CloseRoom { room }).await
}

async fn kick(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((room, login)): Path<(String, String)>,
) -> Response {
    if let Some(r) = denied(&shared, &headers) {
        return r;
    }
    act(&shared, Input::Kick { room, login }).await
}

async fn records(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(r) = denied(&shared, &headers) {
        return r;
    }
    let dir = shared.config.records_dir.clone();
    let node = crate::admin_cluster::node_id(&shared);
    let list = tokio::task::spawn_blocking(move || {
        let records = huddle_record::list_recordings(&dir).map_err(|e| {
            tracing::error!(dir = %dir.display(), error = %e, "cannot list recordings");
            e
        })?;
        let jobs = |ext: &str| -> Vec<String> {
            std::fs::read_dir(dir.join(".jobs"))
                .map(|entries| {
                    let mut names: Vec<String> = entries
                        .flatten()
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|e| e == ext))
                        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                        .collect();
                    names.sort();
                    names
                })
                .unwrap_or_default()
        };
        let mut body = json!({"records": records, "pending_mixes": jobs("json"), "failed_mixes": jobs("failed")});
        // In a cluster: the node whose disk holds these files (and runs these mixes).
        if let Some(node) = node {
            for record in body["records"].as_array_mut().into_iter().flatten() {
                record["node"] = node.clone().into();
            }
            body["node"] = node.into();
        }
        Ok::<_, std::io::Error>(body)
    })
    .await;
    match list {
        Ok(Ok(v)) => Json(v).into_response(),
        // The folder cannot be read: an error, not an empty list.
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        Err(_) => unavailable(),
    }
}
