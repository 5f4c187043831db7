use huddle_room::media::Transport;
use huddle_room::{Command, StreamRequest};
use serde_json::{Map, Value};

use crate::{ErrorReply, ProtocolError};

/// One client frame, decoded.
#[derive(Clone, Debug)]
pub enum ClientMessage {
    /// `connection`: the session's hello.
    Connection(ConnectionRequest),
    /// `ping` from the client (only when the app set `pingInterval`); liveness only.
    Ping,
    /// `pong`: the answer to the server's `ping`.
    Pong,
    /// A request for the room core.
    Command(Command),
    /// A message the SDK may send that this server accepts and ignores
    /// (`sendStreamEvent`, `availableStream`, `snapshot`, `pushLogs`, SIP calls, ...).
    Ignored(&'static str),
}

/// The `connection` payload.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConnectionRequest {
    /// `custom.login`: the participant's identity.
    pub login: Option<String>,
    /// `custom.token`: a JWT when the app passed one; kept for authentication.
    pub token: Option<String>,
    /// The whole payload object, echoed back in `getUserData`.
    pub fields: Map<String, Value>,
}

/// Messages that are accepted and ignored (spec §7.6, §9).
const IGNORED: &[&str] = &[
    "sendStreamEvent",
    "availableStream",
    "snapshot",
    "pushLogs",
    "submitBugReport",
    "sessionDebug",
    "call",
    "answer",
    "hangup",
    "hold",
    "unhold",
    "sendDtmf",
    "transfer",
];

/// Longest prefix of a client-chosen name quoted back in an error.
const MAX_QUOTED_CHARS: usize = 64;

/// Decodes one client text frame. Pure and total: any input gives a value or an error.
pub fn parse(frame: &str) -> Result<ClientMessage, ProtocolError> {
    let value: Value = match serde_json::from_str(frame) {
        Ok(value) => value,
        Err(e) => return Err(not_json(frame, e)),
    };
    let Value::Object(frame) = value else {
        return Err(ProtocolError::NotAnObject);
    };
    let Some(Value::String(name)) = frame.get("message") else {
        return Err(ProtocolError::NoMessageName);
    };
    let message: &'static str = match name.as_str() {
        "connection" => "connection",
        "ping" => return Ok(ClientMessage::Ping),
        "pong" => return Ok(ClientMessage::Pong),
        "sendData" => "sendData",
        "publishStream" => "publishStream",
        "playStream" => "playStream",
        "unPublishStream" => "unPublishStream",
        "stopStream" => "stopStream",
        other => {
            return match IGNORED.iter().find(|n| **n == other) {
                Some(n) => Ok(ClientMessage::Ignored(n)),
                None => Err(ProtocolError::UnknownMessage(
                    other.chars().take(MAX_QUOTED_CHARS).collect(),
                )),
            }
        }
    };
    let mut ctx = Ctx {
        message,
        reply: None,
    };
    let payload = match frame.get("data") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => items.first().filter(|v| !v.is_null()),
        Some(_) => return Err(ctx.wrong_type("data", "an array")),
    };
    match message {
        "connection" => connection(&ctx, payload).map(ClientMessage::Connection),
        "sendData" => send_data(&mut ctx, payload).map(ClientMessage::Command),
        "publishStream" => stream_request(&mut ctx, payload, true)
            .map(|r| ClientMessage::Command(Command::Publish(r))),
        "playStream" => stream_request(&mut ctx, payload, false)
            .map(|r| ClientMessage::Command(Command::Play(r))),
        "unPublishStream" => media_session_id(&ctx, payload).map(|media_session_id| {
            ClientMessage::Command(Command::Unpublish { media_session_id })
        }),
        _ => media_session_id(&ctx, payload)
            .map(|media_session_id| ClientMessage::Command(Command::Stop { media_session_id })),
    }
}

/// A frame serde_json refused. If it only failed for lone surrogates, it is read again with
/// U+FFFD in their place to learn whom to answer: the request still fails (its text cannot be
/// passed on faithfully), but the client's promise settles.
fn not_json(frame: &str, error: serde_json::Error) -> ProtocolError {
    let Some(repaired) = crate::surrogates::replace_lone_surrogates(frame) else {
        return ProtocolError::NotJson(error.to_string());
    };
    let reply = match parse(&repaired) {
        Ok(message) => reply_to(message),
        Err(e) => e.reply().cloned(),
    };
    ProtocolError::LoneSurrogate { reply }
}

/// Where the answer to a request goes.
fn reply_to(message: ClientMessage) -> Option<ErrorReply> {
    let (req, published) = match message {
        ClientMessage::Command(
            Command::Join { op, .. }
            | Command::Leave { op, .. }
            | Command::SendMessage { op, .. }
            | Command::UnknownData { op, .. },
        ) => return Some(ErrorReply::Data { op }),
        ClientMessage::Command(Command::Publish(req)) => (req, true),
        ClientMessage::Command(Command::Play(req)) => (req, false),
        _ => return None,
    };
    Some(ErrorReply::Stream {
        media_session_id: req.media_session_id,
        name: req.name,
        published,
    })
}

/// What the error of the current message looks like, and whom it can be answered to.
struct Ctx {
    message: &'static str,
    reply: Option<ErrorReply>,
}

impl Ctx {
    fn missing(&self, field: &'static str) -> ProtocolError {
        ProtocolError::MissingField {
            message: self.message,
            field,
            reply: self.reply.clone(),
        }
    }

    fn wrong_type(&self, field: &'static str, expected: &'static str) -> ProtocolError {
        ProtocolError::WrongType {
            message: self.message,
            field,
            expected,
            reply: self.reply.clone(),
        }
    }

    fn object<'a>(
        &self,
        value: Option<&'a Value>,
        field: &'static str,
    ) -> Result<&'a Map<String, Value>, ProtocolError> {
        match value {
            None | Some(Value::Null) => Err(self.missing(field)),
            Some(Value::Object(map)) => Ok(map),
            Some(_) => Err(self.wrong_type(field, "an object")),
        }
    }

    /// A required string field.
    fn string(
        &self,
        obj: &Map<String, Value>,
        key: &str,
        field: &'static str,
    ) -> Result<String, ProtocolError> {
        self.opt_string(obj, key, field)?
            .ok_or_else(|| self.missing(field))
    }

    /// An optional string field (absent or null is `None`).
    fn opt_string(
        &self,
        obj: &Map<String, Value>,
        key: &str,
        field: &'static str,
    ) -> Result<Option<String>, ProtocolError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.wrong_type(field, "a string")),
        }
    }

    /// An optional boolean with a default (absent or null is the default).
    fn bool(
        &self,
        obj: &Map<String, Value>,
        key: &str,
        field: &'static str,
        default: bool,
    ) -> Result<bool, ProtocolError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(self.wrong_type(field, "a boolean")),
        }
    }

    /// An optional nested object (absent or null is `None`).
    fn opt_object<'a>(
        &self,
        obj: &'a Map<String, Value>,
        key: &str,
        field: &'static str,
    ) -> Result<Option<&'a Map<String, Value>>, ProtocolError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(_) => Err(self.wrong_type(field, "an object")),
        }
    }
}

fn connection(ctx: &Ctx, payload: Option<&Value>) -> Result<ConnectionRequest, ProtocolError> {
    let fields = match payload {
        None => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err(ctx.wrong_type("data[0]", "an object")),
    };
    let (login, token) = match ctx.opt_object(&fields, "custom", "custom")? {
        None => (None, None),
        Some(custom) => (
            ctx.opt_string(custom, "login", "custom.login")?,
            ctx.opt_string(custom, "token", "custom.token")?,
        ),
    };
    Ok(ConnectionRequest {
        login,
        token,
        fields,
    })
}

fn send_data(ctx: &mut Ctx, payload: Option<&Value>) -> Result<Command, ProtocolError> {
    let data = ctx.object(payload, "data[0]")?;
    let op = ctx.string(data, "operationId", "operationId")?;
    // From here on the client waits for a DataStatusEvent on `op`.
    ctx.reply = Some(ErrorReply::Data { op: op.clone() });
    let body = ctx.object(data.get("payload"), "payload")?;
    let command = ctx.string(body, "command", "payload.command")?;
    let empty = Map::new();
    let options = ctx
        .opt_object(body, "options", "payload.options")?
        .unwrap_or(&empty);
    match command.as_str() {
        "join" => Ok(Command::Join {
            room: ctx.string(options, "name", "options.name")?,
            record: ctx.bool(options, "record", "options.record", false)?,
            op,
        }),
        "leave" => Ok(Command::Leave {
            room: ctx.string(options, "name", "options.name")?,
            op,
        }),
        "sendMessage" => {
            let room_config = ctx
                .opt_object(options, "roomConfig", "options.roomConfig")?
                .ok_or_else(|| ctx.missing("options.roomConfig"))?;
            Ok(Command::SendMessage {
                room: ctx.string(room_config, "name", "options.roomConfig.name")?,
                to: ctx.string(options, "to", "options.to")?,
                text: ctx.string(options, "text", "options.text")?,
                op,
            })
        }
        _ => Ok(Command::UnknownData { op, command }),
    }
}

fn stream_request(
    ctx: &mut Ctx,
    payload: Option<&Value>,
    published: bool,
) -> Result<StreamRequest, ProtocolError> {
    let data = ctx.object(payload, "data[0]")?;
    let media_session_id = ctx.string(data, "mediaSessionId", "mediaSessionId")?;
    // From here on the client waits for a status on `media_session_id`.
    let name = match data.get("name") {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    ctx.reply = Some(ErrorReply::Stream {
        media_session_id: media_session_id.clone(),
        name,
        published,
    });
    let name = ctx.string(data, "name", "name")?;
    let room = match ctx.opt_object(data, "custom", "custom")? {
        None => None,
        Some(custom) => ctx.opt_string(custom, "name", "custom.name")?,
    };
    let sdp = ctx.string(data, "sdp", "sdp")?;
    let transport = transport(ctx, data)?;
    Ok(StreamRequest {
        sdp,
        transport,
        has_audio: ctx.bool(data, "hasAudio", "hasAudio", true)?,
        has_video: ctx.bool(data, "hasVideo", "hasVideo", true)?,
        record: ctx.bool(data, "record", "record", false)?,
        // A publish's `bitrate` is an encoder setting, not a limit on what it receives.
        constraints: if published {
            Default::default()
        } else {
            crate::play_constraints::play_constraints(data)
        },
        media_session_id,
        name,
        room,
    })
}

/// The SDK's `transport` option: `"TCP"` asks for ICE over TCP only, `"UDP"` (or none) for
/// the default (UDP, with the TCP candidate beside it). Case is ignored.
fn transport(ctx: &Ctx, data: &Map<String, Value>) -> Result<Transport, ProtocolError> {
    match ctx.opt_string(data, "transport", "transport")? {
        None => Ok(Transport::Udp),
        Some(t) if t.eq_ignore_ascii_case("tcp") => Ok(Transport::Tcp),
        Some(t) if t.eq_ignore_ascii_case("udp") => Ok(Transport::Udp),
        Some(_) => Err(ctx.wrong_type("transport", "\"UDP\" or \"TCP\"")),
    }
}

fn media_session_id(ctx: &Ctx, payload: Option<&Value>) -> Result<String, ProtocolError> {
    let data = ctx.object(payload, "data[0]")?;
    ctx.string(data, "mediaSessionId", "mediaSessionId")
}
