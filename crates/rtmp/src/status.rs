//! Telling an encoder why its publish ends, in a form its RTMP client prints.
//!
//! ffmpeg's RTMP client (libavformat/rtmpproto.c) reads the server's messages while it
//! publishes: an `onStatus` whose info object has `level: "error"` makes it log
//! `Server error: <description>` and stop (a refusal of the publish request itself, an
//! `_error` reply, is logged the same way). Without it, the encoder only sees its socket
//! closed ("Broken pipe") and the user has to find the server's log. So every close the
//! server decides for a publishing connection first sends such a status ([`goodbye`]).
//!
//! ffmpeg keeps at most 255 bytes of the description, so the cause and the fix come first
//! and [`MAX_DESCRIPTION`] bounds what is sent.

use std::collections::HashMap;

use rml_rtmp::chunk_io::ChunkSerializer;
use rml_rtmp::messages::RtmpMessage;
use rml_rtmp::rml_amf0::Amf0Value;
use rml_rtmp::time::RtmpTimestamp;

use crate::CloseReason;

/// ffmpeg reads status strings into a 256-byte buffer (255 bytes and a NUL).
pub(crate) const MAX_DESCRIPTION: usize = 255;

/// What the publisher is told when the server ends its publish for `reason`, as
/// `(code, description)`; `None` when there is nobody to tell (the encoder left) or nothing
/// went wrong.
pub(crate) fn goodbye(reason: &CloseReason) -> Option<(&'static str, String)> {
    let (code, text) = match reason {
        CloseReason::Disconnected
        | CloseReason::Finished
        | CloseReason::Io(_)
        | CloseReason::PlayEnded(_) => return None,
        CloseReason::Unsupported(m) => ("NetStream.Publish.Rejected", m.clone()),
        CloseReason::Malformed(m) => (
            "NetStream.Publish.Rejected",
            format!("malformed media: {m}"),
        ),
        // The room's own words (a kick, the stream failed, nobody can play it).
        CloseReason::Closed(m) => ("NetStream.Publish.Rejected", m.clone()),
        other => ("NetStream.Failed", other.to_string()),
    };
    Some((code, truncate(text, MAX_DESCRIPTION)))
}

/// `text` cut to at most `max` bytes at a character boundary.
fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// The bytes of `onStatus(0, null, {level: "error", code, description})` on `stream_id`.
///
/// rml_rtmp's session has no call for a status it did not originate, so the message is
/// serialized here with its own chunk serializer: a full (type 0) chunk header needs no
/// state shared with the session's serializer, and `chunk_size` (the size the session
/// announced to the client) keeps the chunk boundaries the client expects. Only the last
/// message of a connection is sent this way.
pub(crate) fn error_status(
    stream_id: u32,
    chunk_size: u32,
    code: &str,
    description: &str,
) -> Result<Vec<u8>, String> {
    let info: HashMap<String, Amf0Value> = [
        ("level", "error"),
        ("code", code),
        ("description", description),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Amf0Value::Utf8String(v.to_string())))
    .collect();
    let message = RtmpMessage::Amf0Command {
        command_name: "onStatus".into(),
        transaction_id: 0.0,
        command_object: Amf0Value::Null,
        additional_arguments: vec![Amf0Value::Object(info)],
    };
    let payload = message
        .into_message_payload(RtmpTimestamp::new(0), stream_id)
        .map_err(|e| format!("{e:?}"))?;
    let mut serializer = ChunkSerializer::new();
    // Only the serializer's own setting: the client already has this size.
    serializer
        .set_max_chunk_size(chunk_size, RtmpTimestamp::new(0))
        .map_err(|e| format!("{e:?}"))?;
    let packet = serializer
        .serialize(&payload, true, false)
        .map_err(|e| format!("{e:?}"))?;
    Ok(packet.bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rml_rtmp::chunk_io::ChunkDeserializer;

    #[test]
    fn the_status_parses_back_with_level_error() {
        let description = "B".repeat(300);
        let bytes = error_status(1, 4096, "NetStream.Publish.Rejected", &description).unwrap();
        let mut de = ChunkDeserializer::new();
        de.set_max_chunk_size(4096).unwrap();
        let payload = de.get_next_message(&bytes).unwrap().expect("one message");
        assert_eq!(payload.message_stream_id, 1);
        let RtmpMessage::Amf0Command {
            command_name,
            additional_arguments,
            ..
        } = payload.to_rtmp_message().unwrap()
        else {
            panic!("not a command")
        };
        assert_eq!(command_name, "onStatus");
        let Some(Amf0Value::Object(info)) = additional_arguments.first() else {
            panic!("{additional_arguments:?}")
        };
        assert_eq!(info["level"], Amf0Value::Utf8String("error".into()));
        assert_eq!(info["description"], Amf0Value::Utf8String(description));
    }

    #[test]
    fn goodbyes_name_the_cause_and_fit_ffmpegs_buffer() {
        assert_eq!(goodbye(&CloseReason::Disconnected), None);
        assert_eq!(goodbye(&CloseReason::Finished), None);
        let (code, text) =
            goodbye(&CloseReason::Unsupported("B-frames: use -bf 0".into())).unwrap();
        assert_eq!(code, "NetStream.Publish.Rejected");
        assert_eq!(text, "B-frames: use -bf 0");
        let (_, text) = goodbye(&CloseReason::Closed("kicked".into())).unwrap();
        assert_eq!(text, "kicked");
        let (_, text) = goodbye(&CloseReason::Unsupported("é".repeat(200))).unwrap();
        assert!(text.len() <= MAX_DESCRIPTION && text.starts_with('é'));
        let (code, text) = goodbye(&CloseReason::Timeout("publisher sent nothing".into())).unwrap();
        assert_eq!(
            (code, text.as_str()),
            ("NetStream.Failed", "timeout: publisher sent nothing")
        );
    }
}
