use thiserror::Error;

/// Where a client expects the answer to a request that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorReply {
    /// A `sendData` with a usable `operationId`: answer `DataStatusEvent` FAILED, or the
    /// client's promise hangs forever.
    Data { op: String },
    /// A stream request with a usable `mediaSessionId`: answer `notifyStreamStatusEvent`
    /// FAILED, or the client's stream stays PENDING forever.
    Stream {
        media_session_id: String,
        name: String,
        published: bool,
    },
}

/// Why a client frame was rejected. The texts are meant for logs and for the `info` of a
/// FAILED reply; they never echo more than a short prefix of the client's input.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ProtocolError {
    #[error("frame is not valid JSON: {0}")]
    NotJson(String),
    #[error("frame is not a JSON object")]
    NotAnObject,
    #[error("frame has no string \"message\" field")]
    NoMessageName,
    #[error("unknown message {0:?}")]
    UnknownMessage(String),
    /// A `\u` escape of half a surrogate pair (e.g. an emoji cut in half): such text cannot
    /// be represented, so the request fails (answered when `reply` says where).
    #[error("text contains an unpaired UTF-16 surrogate (a cut emoji?)")]
    LoneSurrogate { reply: Option<ErrorReply> },
    #[error("{message}: missing field {field}")]
    MissingField {
        message: &'static str,
        field: &'static str,
        reply: Option<ErrorReply>,
    },
    #[error("{message}: field {field} must be {expected}")]
    WrongType {
        message: &'static str,
        field: &'static str,
        expected: &'static str,
        reply: Option<ErrorReply>,
    },
}

impl ProtocolError {
    /// How to tell the client that its request failed, when the frame says enough for that.
    pub fn reply(&self) -> Option<&ErrorReply> {
        match self {
            ProtocolError::MissingField { reply, .. }
            | ProtocolError::WrongType { reply, .. }
            | ProtocolError::LoneSurrogate { reply } => reply.as_ref(),
            _ => None,
        }
    }
}
