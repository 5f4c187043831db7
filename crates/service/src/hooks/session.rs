//! What a WebSocket session asks and tells the REST hook backend. Called from the session's
//! own task: a slow backend delays only that client, never the room actor or the others.

use huddle_protocol::ConnectionRequest;
use huddle_room::{Command, ServerMessage, SessionId, StreamState, StreamStatus};
use serde_json::{Map, Value};
use tracing::{info, warn};

use super::rest::Verdict;
use super::{wcs, Hooks};

/// `connect`: `Ok(Some(login))` when the backend's 200 answer names the login the session
/// gets, `Ok(None)` to keep the client's, `Err(reason)` when refused.
pub(crate) async fn authorize_connect(
    hooks: &Hooks,
    request: &ConnectionRequest,
    session: SessionId,
    max_login_bytes: usize,
) -> Result<Option<String>, String> {
    let Some(rest) = &hooks.rest else {
        return Ok(None);
    };
    let body = wcs::connect(&request.fields, &session.to_string());
    match rest.authorize("connect", &body).await {
        Verdict::Deny(reason) => {
            warn!(%session, reason, "connect refused by the REST hook");
            Err(reason)
        }
        Verdict::Allow(answer) => {
            let Some(login) = answer.as_ref().and_then(wcs::login_override) else {
                return Ok(None);
            };
            if login.len() > max_login_bytes {
                warn!(%session, "connect answer's login is too long; refused");
                return Err(format!(
                    "Login is too long: at most {max_login_bytes} bytes"
                ));
            }
            info!(%session, %login, "login set by the REST hook");
            Ok(Some(login))
        }
    }
}

/// `publishStream` / `playStream` before the command goes to the room: `Err` is the FAILED
/// status to answer with.
pub(crate) async fn authorize_media(
    hooks: &Hooks,
    connection: Option<&ConnectionRequest>,
    session: SessionId,
    command: &Command,
) -> Result<(), ServerMessage> {
    let Some(rest) = &hooks.rest else {
        return Ok(());
    };
    let (method, req, published) = match command {
        Command::Publish(req) => ("publishStream", req, true),
        Command::Play(req) => ("playStream", req, false),
        _ => return Ok(()),
    };
    let body = wcs::stream_request(app_key(connection), &session.to_string(), req, published);
    match rest.authorize(method, &body).await {
        Verdict::Allow(_) => Ok(()),
        Verdict::Deny(reason) => {
            info!(%session, stream = %req.name, reason, "{method} refused by the REST hook");
            Err(ServerMessage::StreamStatus(StreamStatus {
                media_session_id: req.media_session_id.clone(),
                name: req.name.clone(),
                published,
                has_audio: req.has_audio,
                has_video: req.has_video,
                record: false,
                status: StreamState::Failed,
                info: reason,
                record_name: None,
            }))
        }
    }
}

/// `publishStream` for an RTMP encoder, before it joins its room: `Err(reason)` refuses.
pub(crate) async fn authorize_rtmp(
    hooks: &Hooks,
    session: SessionId,
    media_session_id: &str,
    name: &str,
    room: &str,
    login: &str,
    stream_key: &str,
) -> Result<(), String> {
    let Some(rest) = &hooks.rest else {
        return Ok(());
    };
    let body = wcs::rtmp_publish(
        &session.to_string(),
        media_session_id,
        name,
        room,
        login,
        stream_key,
    );
    match rest.authorize("publishStream", &body).await {
        Verdict::Allow(_) => Ok(()),
        Verdict::Deny(reason) => {
            info!(%session, %room, %login, reason, "rtmp publish refused by the REST hook");
            Err(reason)
        }
    }
}

/// A message on its way to the client: its session's ESTABLISHED and its streams' statuses
/// are told to the backend.
pub(crate) fn outgoing(
    hooks: &Hooks,
    connection: Option<&ConnectionRequest>,
    session: SessionId,
    message: &ServerMessage,
) {
    let Some(rest) = &hooks.rest else {
        return;
    };
    match message {
        ServerMessage::Established { login } => {
            let body = wcs::connection_status(
                fields(connection),
                &session.to_string(),
                Some(login),
                "ESTABLISHED",
                "",
            );
            rest.notify("ConnectionStatusEvent", &body);
        }
        ServerMessage::StreamStatus(status) => {
            let body = wcs::stream_status(app_key(connection), &session.to_string(), status);
            rest.notify("StreamStatusEvent", &body);
        }
        _ => {}
    }
}

/// The socket closed: DISCONNECTED, or FAILED with `reason` when the server ended it for a
/// fault. Nothing for a session that never sent `connection`.
pub(crate) fn closed(
    hooks: &Hooks,
    connection: Option<&ConnectionRequest>,
    session: SessionId,
    failure: Option<&str>,
) {
    let (Some(rest), Some(_)) = (&hooks.rest, connection) else {
        return;
    };
    let (status, info) = match failure {
        Some(reason) => ("FAILED", reason),
        None => ("DISCONNECTED", "Normal disconnect"),
    };
    let body = wcs::connection_status(fields(connection), &session.to_string(), None, status, info);
    rest.notify("ConnectionStatusEvent", &body);
}

fn fields(connection: Option<&ConnectionRequest>) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    connection
        .map(|c| &c.fields)
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

fn app_key(connection: Option<&ConnectionRequest>) -> &str {
    fields(connection)
        .get("appKey")
        .and_then(Value::as_str)
        .unwrap_or("")
}
