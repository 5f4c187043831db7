//! The bodies of Flashphoner WCS's REST hooks, as WCS sends them to an application's backend
//! (docs/HOOKS.md quotes the WCS documentation they follow). Pure functions of what the
//! session knows; `sessionId` is the same string in every hook of one connection.

use huddle_room::{StreamRequest, StreamStatus};
use serde_json::{json, Map, Value};

/// Names this server in `nodeId` (WCS puts its node's id there).
pub const NODE_ID: &str = "huddle";

/// `connect`: the client's `connection` object as it came (appKey, mediaProviders,
/// clientVersion, clientOSVersion, clientBrowserVersion, custom: login and token...), with
/// `nodeId` and `sessionId` added.
pub(crate) fn connect(fields: &Map<String, Value>, session_id: &str) -> Value {
    let mut body = fields.clone();
    body.insert("nodeId".into(), NODE_ID.into());
    body.insert("sessionId".into(), session_id.into());
    Value::Object(body)
}

/// `ConnectionStatusEvent`: the `connect` body with `status` (ESTABLISHED, DISCONNECTED,
/// FAILED) and `info`, and the login the session got.
pub(crate) fn connection_status(
    fields: &Map<String, Value>,
    session_id: &str,
    login: Option<&str>,
    status: &str,
    info: &str,
) -> Value {
    let mut body = connect(fields, session_id);
    let object = body.as_object_mut().expect("an object");
    object.insert("status".into(), status.into());
    object.insert("info".into(), info.into());
    if let Some(login) = login {
        match object.get_mut("custom") {
            Some(Value::Object(custom)) => {
                custom.insert("login".into(), login.into());
            }
            _ => {
                object.insert("custom".into(), json!({ "login": login }));
            }
        }
    }
    body
}

/// `publishStream` / `playStream`: the stream object in state NEW, before the server acts on
/// it. `custom.name` is the room (how the Room API names it).
pub(crate) fn stream_request(
    app_key: &str,
    session_id: &str,
    req: &StreamRequest,
    published: bool,
) -> Value {
    let mut body = json!({
        "nodeId": NODE_ID,
        "appKey": app_key,
        "sessionId": session_id,
        "mediaSessionId": req.media_session_id,
        "name": req.name,
        "published": published,
        "hasVideo": req.has_video,
        "hasAudio": req.has_audio,
        "status": "NEW",
        "record": req.record,
        "sdp": req.sdp,
        "mediaProvider": "WebRTC",
        "mediaType": if published { "publish" } else { "play" },
    });
    if let Some(room) = &req.room {
        body["custom"] = json!({ "name": room });
    }
    body
}

/// `publishStream` for an RTMP encoder (no `connect` precedes it): the stream as the room will
/// name it, with the encoder's login, room and raw stream key (its `?token=` included) in
/// `custom`.
pub(crate) fn rtmp_publish(
    session_id: &str,
    media_session_id: &str,
    name: &str,
    room: &str,
    login: &str,
    stream_key: &str,
) -> Value {
    json!({
        "nodeId": NODE_ID,
        "appKey": "rtmp",
        "sessionId": session_id,
        "mediaSessionId": media_session_id,
        "name": name,
        "published": true,
        "hasVideo": true,
        "hasAudio": true,
        "status": "NEW",
        "record": false,
        "mediaProvider": "RTMP",
        "mediaType": "publish",
        "custom": {"name": room, "login": login, "streamKey": stream_key},
    })
}

/// `StreamStatusEvent`: a stream's new status as its client is told it.
pub(crate) fn stream_status(app_key: &str, session_id: &str, status: &StreamStatus) -> Value {
    let mut body = json!({
        "nodeId": NODE_ID,
        "appKey": app_key,
        "sessionId": session_id,
        "mediaSessionId": status.media_session_id,
        "name": status.name,
        "published": status.published,
        "hasVideo": status.has_video,
        "hasAudio": status.has_audio,
        "status": status.status.as_str(),
        "info": status.info,
        "record": status.record,
        "mediaProvider": "WebRTC",
        "mediaType": if status.published { "publish" } else { "play" },
    });
    if let Some(file) = &status.record_name {
        body["recordName"] = file.as_str().into();
    }
    body
}

/// The login a 200 answer to `connect` gives the session, if it names one: `custom.login`, a
/// non-empty string. (WCS lets the backend overwrite fields of the connection object this
/// way; the login is the field Huddle takes over.)
pub(crate) fn login_override(answer: &Value) -> Option<String> {
    let login = answer.get("custom")?.get("login")?.as_str()?;
    (!login.is_empty()).then(|| login.to_string())
}

/// The reason a refusal gives the client: the answer's `info` (a string of at most 200
/// bytes, cut at a character boundary) if it has one, else the method and the HTTP status.
pub(crate) fn refusal_reason(method: &str, status: u16, answer: &[u8]) -> String {
    const MAX: usize = 200;
    let info = serde_json::from_slice::<Value>(answer)
        .ok()
        .and_then(|v| v.get("info")?.as_str().map(str::to_string))
        .filter(|s| !s.trim().is_empty());
    match info {
        Some(mut text) => {
            if text.len() > MAX {
                let mut cut = MAX;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
            }
            text
        }
        None => format!("Failed by {method} REST hook: HTTP {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_echoes_the_connection_with_node_and_session() {
        let fields: Map<String, Value> = serde_json::from_str(
            r#"{"appKey":"roomApp","clientVersion":"2.0","custom":{"login":"alice","token":"t"}}"#,
        )
        .unwrap();
        let body = connect(&fields, "7");
        assert_eq!(body["appKey"], "roomApp");
        assert_eq!(body["custom"]["token"], "t");
        assert_eq!(body["nodeId"], NODE_ID);
        assert_eq!(body["sessionId"], "7");
        let status = connection_status(&fields, "7", Some("bob"), "ESTABLISHED", "");
        assert_eq!(status["status"], "ESTABLISHED");
        assert_eq!(status["custom"]["login"], "bob");
    }

    #[test]
    fn overrides_and_reasons() {
        assert_eq!(
            login_override(&json!({"custom": {"login": "carol"}})),
            Some("carol".into())
        );
        assert_eq!(login_override(&json!({"custom": {"login": ""}})), None);
        assert_eq!(login_override(&json!({"custom": {"login": 3}})), None);
        assert_eq!(
            refusal_reason("connect", 403, br#"{"info":"banned"}"#),
            "banned"
        );
        assert_eq!(
            refusal_reason("publishStream", 403, b"<html>no</html>"),
            "Failed by publishStream REST hook: HTTP 403"
        );
        let long = format!("{{\"info\":\"{}\"}}", "é".repeat(300));
        assert!(refusal_reason("connect", 403, long.as_bytes()).len() <= 200);
    }
}
