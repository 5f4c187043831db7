use huddle_room::{RoomEvent, ServerMessage, StateEntry, StreamInfo, StreamStatus};
use serde_json::{json, Map, Value};

use crate::ConnectionRequest;

/// Connection fields never echoed back in `getUserData`: secrets, fields the server sets itself,
/// and `webRTCMetricsServerDescription`, which would start the SDK's metrics collector.
const NOT_ECHOED: &[&str] = &[
    "status",
    "sessionId",
    "authToken",
    "sipPassword",
    "webRTCMetricsServerDescription",
];

/// The only media provider this server speaks.
const MEDIA_PROVIDER: &str = "WebRTC";

fn frame(message: &str, data: Vec<Value>) -> String {
    json!({ "message": message, "data": data }).to_string()
}

/// The server keep-alive: `{"message":"ping","data":[]}`.
pub fn encode_ping() -> String {
    PING.to_string()
}

const PING: &str = r#"{"message":"ping","data":[]}"#;

/// `getUserData` for an established session: the `connection` request echoed back (minus
/// [`NOT_ECHOED`]) with `status` ESTABLISHED, `sessionId`, `authToken`, `mediaProviders`
/// narrowed to WebRTC, and `custom.login` set to the login the room core gave the session.
pub fn encode_user_data(
    request: &ConnectionRequest,
    login: &str,
    session_id: &str,
    auth_token: &str,
) -> String {
    let mut data: Map<String, Value> = request
        .fields
        .iter()
        .filter(|(k, _)| !NOT_ECHOED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    data.insert("status".into(), "ESTABLISHED".into());
    data.insert("sessionId".into(), session_id.into());
    data.insert("authToken".into(), auth_token.into());
    data.insert("mediaProviders".into(), json!([MEDIA_PROVIDER]));
    match data.get_mut("custom") {
        Some(Value::Object(custom)) => {
            custom.insert("login".into(), login.into());
        }
        _ => {
            data.insert("custom".into(), json!({ "login": login }));
        }
    }
    frame("getUserData", vec![Value::Object(data)])
}

/// One server text frame for a message of the room core.
///
/// [`ServerMessage::Established`] gives a minimal `getUserData` (status and login); the service
/// answers with [`encode_user_data`] instead, which echoes the request.
pub fn encode(message: &ServerMessage) -> String {
    match message {
        ServerMessage::Established { login } => frame(
            "getUserData",
            vec![json!({ "status": "ESTABLISHED", "custom": { "login": login } })],
        ),
        ServerMessage::DataStatus { op, result } => {
            let data = match result {
                Ok(()) => json!({ "operationId": op, "status": "ACCEPTED" }),
                Err(info) => json!({ "operationId": op, "status": "FAILED", "info": info }),
            };
            frame("DataStatusEvent", vec![data])
        }
        ServerMessage::RoomEvent { room, event } => {
            let (name, info) = room_event(event);
            frame(
                "OnDataEvent",
                vec![json!({ "payload": { "roomName": room, "name": name, "info": info } })],
            )
        }
        ServerMessage::RemoteSdp {
            media_session_id,
            sdp,
        } => frame(
            "setRemoteSDP",
            vec![json!(media_session_id), json!(sdp), json!(true)],
        ),
        ServerMessage::StreamStatus(status) => {
            frame("notifyStreamStatusEvent", vec![stream_status(status)])
        }
    }
}

fn stream_info(info: &StreamInfo) -> Value {
    json!({ "login": info.login, "name": info.name })
}

fn room_event(event: &RoomEvent) -> (&'static str, Value) {
    match event {
        RoomEvent::State(entries) => (
            "STATE",
            Value::Array(
                entries
                    .iter()
                    .map(|e| match e {
                        StateEntry::Login(login) => json!(login),
                        StateEntry::Stream(info) => stream_info(info),
                    })
                    .collect(),
            ),
        ),
        RoomEvent::Joined(login) => ("JOINED", json!(login)),
        RoomEvent::Left(login) => ("LEFT", json!(login)),
        RoomEvent::Published(info) => ("PUBLISHED", stream_info(info)),
        RoomEvent::Unpublished(info) => ("UNPUBLISHED", stream_info(info)),
        RoomEvent::Failed(info) => ("FAILED", stream_info(info)),
        RoomEvent::Message { from, text } => ("MESSAGE", json!({ "from": from, "text": text })),
    }
}

fn stream_status(s: &StreamStatus) -> Value {
    let mut v = json!({
        "mediaSessionId": s.media_session_id,
        "name": s.name,
        "published": s.published,
        "hasVideo": s.has_video,
        "hasAudio": s.has_audio,
        "status": s.status.as_str(),
        "info": s.info,
        "record": s.record,
        "mediaProvider": MEDIA_PROVIDER,
    });
    if let (Some(record_name), Value::Object(map)) = (&s.record_name, &mut v) {
        map.insert("recordName".into(), json!(record_name));
    }
    v
}
