//! `POST` / `DELETE /admin/rooms/{room}/restream` (behind the admin secret, like the rest of
//! the admin API; `docs/RESTREAM.md`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::watch::{live_streams, snapshot, watch};
use super::StartError;
use crate::server::Shared;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    url: String,
}

fn error(status: StatusCode, reason: impl Into<String>) -> Response {
    (status, Json(json!({"error": reason.into()}))).into_response()
}

/// Starts restreaming the room to `{"url": "rtmp://…"}`.
pub(crate) async fn start(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(room): Path<String>,
    body: Bytes,
) -> Response {
    if let Some(refusal) = crate::admin::denied(&shared, &headers) {
        return refusal;
    }
    let body: StartBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("body must be {{\"url\": \"rtmp://…\"}}: {e}"),
            )
        }
    };
    let Some(snap) = snapshot(&shared).await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let Some(found) = snap.rooms.iter().find(|r| r.name == room) else {
        return error(StatusCode::NOT_FOUND, format!("no room {room:?}"));
    };
    match shared
        .restreams
        .start(&room, &body.url, live_streams(found))
    {
        Ok(id) => {
            tokio::spawn(watch(shared.clone(), room.clone(), id));
            let status = shared.restreams.status(&room);
            (
                StatusCode::CREATED,
                Json(json!({"ok": true, "restream": status})),
            )
                .into_response()
        }
        Err(e) => {
            let code = match e {
                StartError::BadUrl(_) => StatusCode::BAD_REQUEST,
                StartError::AlreadyRunning(_) => StatusCode::CONFLICT,
                StartError::Limit(_) => StatusCode::TOO_MANY_REQUESTS,
                StartError::Disabled => StatusCode::SERVICE_UNAVAILABLE,
                StartError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            error(code, e.to_string())
        }
    }
}

/// Stops the room's restream (ffmpeg is killed; returns once it is gone).
pub(crate) async fn stop(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(room): Path<String>,
) -> Response {
    if let Some(refusal) = crate::admin::denied(&shared, &headers) {
        return refusal;
    }
    let restreams = shared.restreams.clone();
    let name = room.clone();
    match tokio::task::spawn_blocking(move || restreams.stop(&name, "stopped by the admin API"))
        .await
    {
        Ok(true) => Json(json!({"ok": true})).into_response(),
        Ok(false) => error(
            StatusCode::NOT_FOUND,
            format!("room {room:?} is not restreamed"),
        ),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}
