//! Every client and server message of spec §10, plus garbage.

use huddle_room::{
    Command, RoomEvent, ServerMessage, StateEntry, StreamInfo, StreamState, StreamStatus,
};
use serde_json::{json, Value};

use crate::*;

const UNICODE: &str = "Привет, 世界 👋 مرحبا";

fn command(frame: &str) -> Command {
    match parse(frame) {
        Ok(ClientMessage::Command(c)) => c,
        other => panic!("expected a command from {frame}, got {other:?}"),
    }
}

fn value(frame: &str) -> Value {
    serde_json::from_str(frame).expect("server frames are JSON")
}

fn assert_frame(encoded: String, expected: &str) {
    assert_eq!(value(&encoded), value(expected), "{encoded}");
}

// ---- client -> server -------------------------------------------------------------------

#[test]
fn connection_from_spec() {
    let frame = r#"{"message":"connection","data":[{"appKey":"roomApp","mediaProviders":["WebRTC","MSE","WSPlayer"],"clientVersion":"2.0","clientOSVersion":"5.0","clientBrowserVersion":"Mozilla","msePacketizationVersion":2,"custom":{"login":"alice","token":"jwt.x.y"}}]}"#;
    let Ok(ClientMessage::Connection(c)) = parse(frame) else {
        panic!("connection")
    };
    assert_eq!(c.login.as_deref(), Some("alice"));
    assert_eq!(c.token.as_deref(), Some("jwt.x.y"));
    assert_eq!(c.fields["appKey"], "roomApp");
    assert_eq!(c.fields["msePacketizationVersion"], 2);
}

#[test]
fn connection_without_custom_or_payload() {
    let Ok(ClientMessage::Connection(c)) =
        parse(r#"{"message":"connection","data":[{"appKey":"defaultApp"}]}"#)
    else {
        panic!()
    };
    assert_eq!((c.login, c.token), (None, None));
    let Ok(ClientMessage::Connection(c)) = parse(r#"{"message":"connection","data":[null]}"#)
    else {
        panic!()
    };
    assert!(c.fields.is_empty());
}

#[test]
fn connection_with_non_string_login_is_rejected() {
    let err = parse(r#"{"message":"connection","data":[{"custom":{"login":42}}]}"#).unwrap_err();
    assert!(
        matches!(
            err,
            ProtocolError::WrongType {
                field: "custom.login",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "connection: field custom.login must be a string"
    );
}

#[test]
fn ping_and_pong() {
    assert!(matches!(
        parse(r#"{"message":"pong","data":[null]}"#),
        Ok(ClientMessage::Pong)
    ));
    assert!(matches!(
        parse(r#"{"message":"ping","data":[]}"#),
        Ok(ClientMessage::Ping)
    ));
    assert!(matches!(
        parse(r#"{"message":"pong"}"#),
        Ok(ClientMessage::Pong)
    ));
}

#[test]
fn join_from_spec() {
    let c = command(
        r#"{"message":"sendData","data":[{"operationId":"op-a1","payload":{"command":"join","options":{"name":"R","record":false}}}]}"#,
    );
    let Command::Join { op, room, record } = c else {
        panic!("{c:?}")
    };
    assert_eq!((op.as_str(), room.as_str(), record), ("op-a1", "R", false));
}

#[test]
fn join_record_is_optional_and_read() {
    let c = command(
        r#"{"message":"sendData","data":[{"operationId":"o","payload":{"command":"join","options":{"name":"R"}}}]}"#,
    );
    assert!(matches!(c, Command::Join { record: false, .. }));
    let c = command(
        r#"{"message":"sendData","data":[{"operationId":"o","payload":{"command":"join","options":{"name":"R","record":true}}}]}"#,
    );
    assert!(matches!(c, Command::Join { record: true, .. }));
}

#[test]
fn leave_from_spec() {
    let c = command(
        r#"{"message":"sendData","data":[{"operationId":"op-a3","payload":{"command":"leave","options":{"name":"R"}}}]}"#,
    );
    let Command::Leave { op, room } = c else {
        panic!("{c:?}")
    };
    assert_eq!((op.as_str(), room.as_str()), ("op-a3", "R"));
}

#[test]
fn send_message_from_spec() {
    let c = command(
        r#"{"message":"sendData","data":[{"operationId":"op-a2","payload":{"command":"sendMessage","options":{"roomConfig":{"name":"R"},"to":"bob","text":"hello"}}}]}"#,
    );
    let Command::SendMessage { op, room, to, text } = c else {
        panic!("{c:?}")
    };
    assert_eq!(
        (op.as_str(), room.as_str(), to.as_str(), text.as_str()),
        ("op-a2", "R", "bob", "hello")
    );
}

#[test]
fn unknown_data_command() {
    let c = command(
        r#"{"message":"sendData","data":[{"operationId":"op-9","payload":{"command":"kick","options":{}}}]}"#,
    );
    let Command::UnknownData { op, command } = c else {
        panic!("{c:?}")
    };
    assert_eq!((op.as_str(), command.as_str()), ("op-9", "kick"));
}

#[test]
fn publish_from_spec() {
    let c = command(
        r#"{"message":"publishStream","data":[{"mediaSessionId":"A-pub","name":"R-alice-1f0c","published":true,"hasVideo":true,"hasAudio":false,"status":"PENDING","record":true,"mediaProvider":"WebRTC","sdp":"v=0\r\noffer","custom":{"name":"R"},"bitrate":0,"minBitrate":0,"maxBitrate":0,"constraints":{"audio":true,"video":true},"localMediaInfo":{"devices":{}}}]}"#,
    );
    let Command::Publish(r) = c else {
        panic!("{c:?}")
    };
    assert_eq!(r.media_session_id, "A-pub");
    assert_eq!(r.name, "R-alice-1f0c");
    assert_eq!(r.room.as_deref(), Some("R"));
    assert_eq!(r.sdp, "v=0\r\noffer");
    assert!(r.has_video && !r.has_audio && r.record);
}

#[test]
fn play_from_spec() {
    let c = command(
        r#"{"message":"playStream","data":[{"mediaSessionId":"B-play-A","name":"R-alice-1f0c","published":false,"hasVideo":true,"hasAudio":true,"status":"PENDING","record":false,"width":0,"height":0,"mediaProvider":"WebRTC","sdp":"v=0\r\n","custom":{"name":"R"},"bitrate":0,"minBitrate":0,"maxBitrate":0,"quality":0,"constraints":{"audio":{"deviceId":"default"}}}]}"#,
    );
    let Command::Play(r) = c else { panic!("{c:?}") };
    assert_eq!(
        (r.media_session_id.as_str(), r.name.as_str()),
        ("B-play-A", "R-alice-1f0c")
    );
    assert_eq!(r.room.as_deref(), Some("R"));
    assert!(r.has_audio && r.has_video && !r.record);
}

#[test]
fn play_constraints_are_read_and_zero_means_none() {
    use huddle_room::PlayConstraints;
    let play = |fields: &str| {
        let frame = format!(
            r#"{{"message":"playStream","data":[{{"mediaSessionId":"m","name":"s","sdp":"v=0"{fields}}}]}}"#
        );
        match command(&frame) {
            Command::Play(r) => r.constraints,
            c => panic!("{c:?}"),
        }
    };
    // What the SDK sends for `constraints: {video: {width: 320, height: 240, bitrate: 300,
    // quality: 50}}`: bitrate in kbit/s.
    assert_eq!(
        play(
            r#","width":320,"height":240,"bitrate":300,"minBitrate":0,"maxBitrate":0,"quality":50"#
        ),
        PlayConstraints {
            width: Some(320),
            height: Some(240),
            video_bps: Some(300_000),
            quality: Some(50),
        }
    );
    // The SDK's zeros, nothing, nulls: no limit.
    let none = PlayConstraints::default();
    assert_eq!(
        play(r#","width":0,"height":0,"bitrate":0,"quality":0"#),
        none
    );
    assert_eq!(play(""), none);
    assert_eq!(play(r#","width":null,"quality":null"#), none);
    // An app's text field, a fraction, an out-of-range quality.
    assert_eq!(
        play(r#","width":" 640 ","height":360.7,"quality":250"#),
        PlayConstraints {
            width: Some(640),
            height: Some(360),
            quality: Some(100),
            ..none
        }
    );
}

#[test]
fn bad_play_constraints_are_ignored_not_refused() {
    for fields in [
        r#","width":-5"#,
        r#","width":"wide""#,
        r#","height":true"#,
        r#","bitrate":{"max":3}"#,
        r#","quality":[50]"#,
        r#","quality":0.5"#,
        r#","width":1e400"#,
    ] {
        let frame = format!(
            r#"{{"message":"playStream","data":[{{"mediaSessionId":"m","name":"s","sdp":"v=0"{fields}}}]}}"#
        );
        match parse(&frame) {
            Ok(ClientMessage::Command(Command::Play(r))) => {
                assert_eq!(r.constraints, Default::default(), "{fields}")
            }
            // serde_json refuses 1e400 as a whole frame (out of f64 range): that is its
            // error, not a field's.
            Err(ProtocolError::NotJson(_)) if fields.contains("1e400") => {}
            other => panic!("{fields}: {other:?}"),
        }
    }
    // A huge width is a limit above every picture, not an overflow.
    let c = command(
        r#"{"message":"playStream","data":[{"mediaSessionId":"m","name":"s","sdp":"v=0","width":1e30,"bitrate":1e30}]}"#,
    );
    let Command::Play(r) = c else { panic!() };
    assert_eq!(r.constraints.width, Some(u32::MAX));
    assert_eq!(r.constraints.video_bps, Some(u64::MAX));
}

#[test]
fn a_publish_has_no_play_constraints() {
    let c = command(
        r#"{"message":"publishStream","data":[{"mediaSessionId":"m","name":"s","sdp":"v=0","width":320,"bitrate":500}]}"#,
    );
    let Command::Publish(r) = c else { panic!() };
    assert_eq!(r.constraints, Default::default());
}

#[test]
fn play_outside_a_room() {
    let c = command(
        r#"{"message":"playStream","data":[{"mediaSessionId":"m","name":"screen1","sdp":"v=0"}]}"#,
    );
    let Command::Play(r) = c else { panic!() };
    assert_eq!(r.room, None);
    assert!(r.has_audio && r.has_video, "defaults to both");
}

#[test]
fn the_transport_option_is_a_typed_field_and_the_offer_is_untouched() {
    use huddle_room::Transport;
    let offer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";
    let c = command(
        r#"{"message":"publishStream","data":[{"mediaSessionId":"m","name":"s","sdp":"v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n","transport":"TCP"}]}"#,
    );
    let Command::Publish(r) = c else { panic!() };
    assert_eq!(r.transport, Transport::Tcp);
    assert_eq!(r.sdp, offer);
    // The option in lower case, on a play.
    let c = command(
        r#"{"message":"playStream","data":[{"mediaSessionId":"m","name":"s","sdp":"v=0","transport":"tcp"}]}"#,
    );
    let Command::Play(r) = c else { panic!() };
    assert_eq!((r.transport, r.sdp.as_str()), (Transport::Tcp, "v=0"));
    for transport in [r#","transport":"UDP""#, r#","transport":null"#, ""] {
        let c = command(&format!(
            r#"{{"message":"playStream","data":[{{"mediaSessionId":"m","name":"s","sdp":"v=0"{transport}}}]}}"#
        ));
        let Command::Play(r) = c else { panic!() };
        assert_eq!(
            (r.transport, r.sdp.as_str()),
            (Transport::Udp, "v=0"),
            "{transport}"
        );
    }
}

#[test]
fn transport_other_than_udp_or_tcp_is_refused_on_the_stream() {
    for transport in [r#""SCTP""#, "5", "true"] {
        let frame = format!(
            r#"{{"message":"publishStream","data":[{{"mediaSessionId":"m","name":"s","sdp":"v=0","transport":{transport}}}]}}"#
        );
        let err = parse(&frame).unwrap_err();
        assert!(
            matches!(
                &err,
                ProtocolError::WrongType {
                    field: "transport",
                    ..
                }
            ),
            "{frame}: {err:?}"
        );
        assert!(
            matches!(err.reply(), Some(ErrorReply::Stream { media_session_id, .. }) if media_session_id == "m"),
            "answered on the stream: {err:?}"
        );
    }
}

#[test]
fn unpublish_and_stop_from_spec() {
    let c = command(
        r#"{"message":"unPublishStream","data":[{"mediaSessionId":"A-pub","name":"R-alice-1f0c","published":true,"hasVideo":true,"hasAudio":true,"status":"PUBLISHING","record":false}]}"#,
    );
    assert!(matches!(c, Command::Unpublish { media_session_id } if media_session_id == "A-pub"));
    let c = command(
        r#"{"message":"stopStream","data":[{"mediaSessionId":"A-play-B","name":"R-bob-2a7d","published":false,"hasVideo":true,"hasAudio":true,"status":"PLAYING","record":false}]}"#,
    );
    assert!(matches!(c, Command::Stop { media_session_id } if media_session_id == "A-play-B"));
}

#[test]
fn ignorable_messages() {
    for name in [
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
    ] {
        let frame = json!({"message": name, "data": [{"mediaSessionId": "x", "logs": "..."}]});
        match parse(&frame.to_string()) {
            Ok(ClientMessage::Ignored(n)) => assert_eq!(n, name),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn unicode_text_round_trips_byte_exact() {
    let frame = json!({"message":"sendData","data":[{"operationId":"op","payload":{"command":"sendMessage","options":{"roomConfig":{"name":"Комната 世界"},"to":"боб","text":UNICODE}}}]});
    let Command::SendMessage { room, to, text, .. } = command(&frame.to_string()) else {
        panic!()
    };
    assert_eq!(text.as_bytes(), UNICODE.as_bytes());
    assert_eq!(room, "Комната 世界");
    assert_eq!(to, "боб");
    let out = encode(&ServerMessage::RoomEvent {
        room: room.clone(),
        event: RoomEvent::Message {
            from: "алиса".into(),
            text,
        },
    });
    // Not escaped on the wire: the raw UTF-8 is there.
    assert!(out.contains(UNICODE), "{out}");
    let v = value(&out);
    assert_eq!(
        v["data"][0]["payload"]["info"]["text"].as_str(),
        Some(UNICODE)
    );
    assert_eq!(
        v["data"][0]["payload"]["roomName"].as_str(),
        Some("Комната 世界")
    );
}

#[test]
fn escaped_unicode_is_decoded() {
    // A client may send \u escapes (surrogate pair for the emoji): same text.
    let frame = r#"{"message":"sendData","data":[{"operationId":"o","payload":{"command":"sendMessage","options":{"roomConfig":{"name":"R"},"to":"b","text":"\u041f\u0440\u0438\u0432\u0435\u0442, \u4e16\u754c \ud83d\udc4b \u0645\u0631\u062d\u0628\u0627"}}}]}"#;
    let Command::SendMessage { text, .. } = command(frame) else {
        panic!()
    };
    assert_eq!(text, UNICODE);
}

// ---- garbage -----------------------------------------------------------------------------

#[test]
fn not_json() {
    for frame in [
        "",
        "hello",
        "{",
        "{\"message\":",
        "\u{0}\u{1}",
        "{\"message\":\"pong\"} trailing",
    ] {
        assert!(
            matches!(parse(frame), Err(ProtocolError::NotJson(_))),
            "{frame:?}"
        );
    }
}

#[test]
fn not_an_object_or_no_name() {
    for frame in ["[]", "42", "\"pong\"", "null", "true"] {
        assert_eq!(
            parse(frame).unwrap_err(),
            ProtocolError::NotAnObject,
            "{frame}"
        );
    }
    for frame in [
        "{}",
        r#"{"data":[]}"#,
        r#"{"message":7,"data":[]}"#,
        r#"{"message":null}"#,
    ] {
        assert_eq!(
            parse(frame).unwrap_err(),
            ProtocolError::NoMessageName,
            "{frame}"
        );
    }
}

#[test]
fn unknown_message_is_named_and_cut() {
    let err = parse(r#"{"message":"launchRockets","data":[]}"#).unwrap_err();
    assert_eq!(err, ProtocolError::UnknownMessage("launchRockets".into()));
    assert_eq!(err.to_string(), "unknown message \"launchRockets\"");
    let long = "x".repeat(10_000);
    let err = parse(&json!({"message": long, "data": []}).to_string()).unwrap_err();
    assert!(err.to_string().len() < 100, "{err}");
}

#[test]
fn data_must_be_an_array() {
    let err = parse(r#"{"message":"sendData","data":{"operationId":"o"}}"#).unwrap_err();
    assert!(matches!(
        err,
        ProtocolError::WrongType { field: "data", .. }
    ));
}

#[test]
fn send_data_missing_fields() {
    // No operationId: nothing to answer.
    let err =
        parse(r#"{"message":"sendData","data":[{"payload":{"command":"join"}}]}"#).unwrap_err();
    assert!(matches!(
        err,
        ProtocolError::MissingField {
            field: "operationId",
            reply: None,
            ..
        }
    ));
    let err = parse(r#"{"message":"sendData","data":[]}"#).unwrap_err();
    assert_eq!(err.reply(), None);
    assert_eq!(err.to_string(), "sendData: missing field data[0]");

    // With an operationId: answer FAILED to it.
    let op = Some(ErrorReply::Data { op: "op-1".into() });
    let cases = [
        (r#"{"operationId":"op-1"}"#, "payload"),
        (r#"{"operationId":"op-1","payload":{}}"#, "payload.command"),
        (
            r#"{"operationId":"op-1","payload":{"command":"join"}}"#,
            "options.name",
        ),
        (
            r#"{"operationId":"op-1","payload":{"command":"leave","options":{}}}"#,
            "options.name",
        ),
        (
            r#"{"operationId":"op-1","payload":{"command":"sendMessage","options":{"to":"b","text":"t"}}}"#,
            "options.roomConfig",
        ),
        (
            r#"{"operationId":"op-1","payload":{"command":"sendMessage","options":{"roomConfig":{"name":"R"},"text":"t"}}}"#,
            "options.to",
        ),
        (
            r#"{"operationId":"op-1","payload":{"command":"sendMessage","options":{"roomConfig":{"name":"R"},"to":"b"}}}"#,
            "options.text",
        ),
    ];
    for (payload, field) in cases {
        let frame = format!(r#"{{"message":"sendData","data":[{payload}]}}"#);
        let err = parse(&frame).unwrap_err();
        match &err {
            ProtocolError::MissingField { field: f, .. } => assert_eq!(*f, field, "{frame}"),
            other => panic!("{frame}: {other:?}"),
        }
        assert_eq!(err.reply(), op.as_ref(), "{frame}");
    }
}

#[test]
fn send_data_wrong_types() {
    let cases = [
        (
            r#"{"operationId":"o","payload":{"command":"sendMessage","options":{"roomConfig":{"name":"R"},"to":"b","text":5}}}"#,
            "options.text",
        ),
        (
            r#"{"operationId":"o","payload":{"command":"join","options":{"name":["R"]}}}"#,
            "options.name",
        ),
        (
            r#"{"operationId":"o","payload":{"command":"join","options":{"name":"R","record":"yes"}}}"#,
            "options.record",
        ),
        (
            r#"{"operationId":"o","payload":{"command":"join","options":"R"}}"#,
            "payload.options",
        ),
        (r#"{"operationId":"o","payload":[1]}"#, "payload"),
    ];
    for (payload, field) in cases {
        let frame = format!(r#"{{"message":"sendData","data":[{payload}]}}"#);
        let err = parse(&frame).unwrap_err();
        assert!(
            matches!(&err, ProtocolError::WrongType { field: f, .. } if *f == field),
            "{frame}: {err:?}"
        );
        assert_eq!(err.reply(), Some(&ErrorReply::Data { op: "o".into() }));
    }
    let err = parse(r#"{"message":"sendData","data":[{"operationId":1}]}"#).unwrap_err();
    assert_eq!(err.reply(), None);
}

#[test]
fn stream_request_missing_fields() {
    let err =
        parse(r#"{"message":"publishStream","data":[{"name":"s","sdp":"v=0"}]}"#).unwrap_err();
    assert!(matches!(
        err,
        ProtocolError::MissingField {
            field: "mediaSessionId",
            reply: None,
            ..
        }
    ));
    let err = parse(r#"{"message":"publishStream","data":[{"mediaSessionId":"m","name":"s"}]}"#)
        .unwrap_err();
    assert_eq!(err.to_string(), "publishStream: missing field sdp");
    assert_eq!(
        err.reply(),
        Some(&ErrorReply::Stream {
            media_session_id: "m".into(),
            name: "s".into(),
            published: true
        })
    );
    let err = parse(r#"{"message":"playStream","data":[{"mediaSessionId":"m","sdp":"v=0"}]}"#)
        .unwrap_err();
    assert_eq!(
        err.reply(),
        Some(&ErrorReply::Stream {
            media_session_id: "m".into(),
            name: String::new(),
            published: false
        })
    );
    let err = parse(
        r#"{"message":"playStream","data":[{"mediaSessionId":"m","name":"s","sdp":"v=0","custom":{"name":3}}]}"#,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        ProtocolError::WrongType {
            field: "custom.name",
            ..
        }
    ));
    for message in ["unPublishStream", "stopStream"] {
        let err = parse(&format!(r#"{{"message":"{message}","data":[{{}}]}}"#)).unwrap_err();
        assert!(matches!(
            err,
            ProtocolError::MissingField {
                field: "mediaSessionId",
                ..
            }
        ));
        let err = parse(&format!(r#"{{"message":"{message}","data":[null]}}"#)).unwrap_err();
        assert!(matches!(
            err,
            ProtocolError::MissingField {
                field: "data[0]",
                ..
            }
        ));
    }
}

#[test]
fn deep_nesting_and_huge_input_do_not_panic() {
    let deep = "[".repeat(100_000);
    assert!(matches!(parse(&deep), Err(ProtocolError::NotJson(_))));
    let deep_obj = format!(
        r#"{{"message":"sendData","data":[{}]}}"#,
        "{\"a\":".repeat(5000)
    );
    assert!(parse(&deep_obj).is_err());
    let big = json!({"message":"sendData","data":[{"operationId":"o","payload":{"command":"sendMessage","options":{"roomConfig":{"name":"R"},"to":"b","text":"z".repeat(2_000_000)}}}]});
    let Command::SendMessage { text, .. } = command(&big.to_string()) else {
        panic!()
    };
    assert_eq!(text.len(), 2_000_000);
}

#[test]
fn every_prefix_of_a_valid_frame_is_handled() {
    let frame = r#"{"message":"sendData","data":[{"operationId":"op","payload":{"command":"sendMessage","options":{"roomConfig":{"name":"R"},"to":"b","text":"Привет 👋"}}}]}"#;
    for (i, _) in frame.char_indices() {
        let _ = parse(&frame[..i]);
    }
    assert!(parse(frame).is_ok());
}

// ---- server -> client --------------------------------------------------------------------

#[test]
fn user_data_echoes_the_request() {
    let Ok(ClientMessage::Connection(c)) = parse(
        r#"{"message":"connection","data":[{"appKey":"roomApp","mediaProviders":["WebRTC","MSE","WSPlayer"],"clientVersion":"2.0","custom":{"login":"alice"},"sipPassword":"secret","status":"x"}]}"#,
    ) else {
        panic!()
    };
    assert_frame(
        encode_user_data(&c, "alice", "s-A", "s-A"),
        r#"{"message":"getUserData","data":[{"status":"ESTABLISHED","sessionId":"s-A","authToken":"s-A","appKey":"roomApp","mediaProviders":["WebRTC"],"clientVersion":"2.0","custom":{"login":"alice"}}]}"#,
    );
    // A session without a login gets the one the core made up.
    let anonymous = ConnectionRequest::default();
    assert_frame(
        encode_user_data(&anonymous, "guest-7", "s7", "t"),
        r#"{"message":"getUserData","data":[{"status":"ESTABLISHED","sessionId":"s7","authToken":"t","mediaProviders":["WebRTC"],"custom":{"login":"guest-7"}}]}"#,
    );
    assert_frame(
        encode(&ServerMessage::Established {
            login: "alice".into(),
        }),
        r#"{"message":"getUserData","data":[{"status":"ESTABLISHED","custom":{"login":"alice"}}]}"#,
    );
}

#[test]
fn ping_frame() {
    assert_eq!(encode_ping(), r#"{"message":"ping","data":[]}"#);
    assert_frame(encode_ping(), r#"{"message":"ping","data":[]}"#);
}

#[test]
fn data_status_from_spec() {
    assert_frame(
        encode(&ServerMessage::DataStatus {
            op: "op-a1".into(),
            result: Ok(()),
        }),
        r#"{"message":"DataStatusEvent","data":[{"operationId":"op-a1","status":"ACCEPTED"}]}"#,
    );
    assert_frame(
        encode(&ServerMessage::DataStatus {
            op: "op-b1".into(),
            result: Err("Room is full".into()),
        }),
        r#"{"message":"DataStatusEvent","data":[{"operationId":"op-b1","status":"FAILED","info":"Room is full"}]}"#,
    );
}

fn room_event(event: RoomEvent) -> String {
    encode(&ServerMessage::RoomEvent {
        room: "R".into(),
        event,
    })
}

fn info(login: &str, name: &str) -> StreamInfo {
    StreamInfo {
        login: login.into(),
        name: name.into(),
    }
}

#[test]
fn room_events_from_spec() {
    assert_frame(
        room_event(RoomEvent::State(vec![])),
        r#"{"message":"OnDataEvent","data":[{"payload":{"roomName":"R","name":"STATE","info":[]}}]}"#,
    );
    assert_frame(
        room_event(RoomEvent::State(vec![
            StateEntry::Login("carol".into()),
            StateEntry::Stream(info("alice", "R-alice-1f0c")),
        ])),
        r#"{"message":"OnDataEvent","data":[{"payload":{"roomName":"R","name":"STATE","info":["carol",{"login":"alice","name":"R-alice-1f0c"}]}}]}"#,
    );
    assert_frame(
        room_event(RoomEvent::Joined("bob".into())),
        r#"{"message":"OnDataEvent","data":[{"payload":{"roomName":"R","name":"JOINED","info":"bob"}}]}"#,
    );
    assert_frame(
        room_event(RoomEvent::Left("alice".into())),
        r#"{"message":"OnDataEvent","data":[{"payload":{"roomName":"R","name":"LEFT","info":"alice"}}]}"#,
    );
    assert_frame(
        room_event(RoomEvent::Published(info("bob", "R-bob-2a7d"))),
        r#"{"message":"OnDataEvent","data":[{"payload":{"roomName":"R","name":"PUBLISHED","info":{"login":"bob","name":"R-bob-2a7d"}}}]}"#,
    );
    assert_frame(
        room_event(RoomEvent::Unpublished(info("alice", "R-alice-1f0c"))),
        r#"{"message":"OnDataEvent","data":[{"payload":{"roomName":"R","name":"UNPUBLISHED","info":{"login":"alice","name":"R-alice-1f0c"}}}]}"#,
    );
    assert_frame(
        room_event(RoomEvent::Failed(info("alice", "R-alice-1f0c"))),
        r#"{"message":"OnDataEvent","data":[{"payload":{"roomName":"R","name":"FAILED","info":{"login":"alice","name":"R-alice-1f0c"}}}]}"#,
    );
    assert_frame(
        room_event(RoomEvent::Message {
            from: "alice".into(),
            text: "hello".into(),
        }),
        r#"{"message":"OnDataEvent","data":[{"payload":{"roomName":"R","name":"MESSAGE","info":{"from":"alice","text":"hello"}}}]}"#,
    );
}

#[test]
fn remote_sdp_from_spec() {
    assert_frame(
        encode(&ServerMessage::RemoteSdp {
            media_session_id: "A-pub".into(),
            sdp: "v=0\r\nanswer".into(),
        }),
        r#"{"message":"setRemoteSDP","data":["A-pub","v=0\r\nanswer",true]}"#,
    );
}

fn status(state: StreamState, info: &str, record_name: Option<&str>) -> StreamStatus {
    StreamStatus {
        media_session_id: "A-pub".into(),
        name: "R-alice-1f0c".into(),
        published: true,
        has_audio: true,
        has_video: true,
        record: record_name.is_some(),
        status: state,
        info: info.into(),
        record_name: record_name.map(String::from),
    }
}

#[test]
fn stream_status_from_spec() {
    assert_frame(
        encode(&ServerMessage::StreamStatus(status(
            StreamState::Publishing,
            "",
            None,
        ))),
        r#"{"message":"notifyStreamStatusEvent","data":[{"mediaSessionId":"A-pub","name":"R-alice-1f0c","published":true,"hasVideo":true,"hasAudio":true,"status":"PUBLISHING","info":"","record":false,"mediaProvider":"WebRTC"}]}"#,
    );
    assert_frame(
        encode(&ServerMessage::StreamStatus(status(
            StreamState::Unpublished,
            "",
            Some("R-alice-R-alice-1f0c-1700.mkv"),
        ))),
        r#"{"message":"notifyStreamStatusEvent","data":[{"mediaSessionId":"A-pub","name":"R-alice-1f0c","published":true,"hasVideo":true,"hasAudio":true,"status":"UNPUBLISHED","info":"","record":true,"recordName":"R-alice-R-alice-1f0c-1700.mkv","mediaProvider":"WebRTC"}]}"#,
    );
    let mut stopped = status(StreamState::Stopped, "Stopped by publisher stop", None);
    stopped.media_session_id = "B-play-A".into();
    stopped.published = false;
    let v = value(&encode(&ServerMessage::StreamStatus(stopped)));
    assert_eq!(v["data"][0]["status"], "STOPPED");
    assert_eq!(v["data"][0]["info"], "Stopped by publisher stop");
    assert_eq!(v["data"][0]["published"], false);
    for (state, s) in [
        (StreamState::Playing, "PLAYING"),
        (StreamState::Failed, "FAILED"),
    ] {
        let v = value(&encode(&ServerMessage::StreamStatus(status(
            state, "", None,
        ))));
        assert_eq!(v["data"][0]["status"], s);
    }
}

#[test]
fn every_server_frame_has_a_data_array() {
    let messages = [
        ServerMessage::Established { login: "a".into() },
        ServerMessage::DataStatus {
            op: "o".into(),
            result: Ok(()),
        },
        ServerMessage::RoomEvent {
            room: "R".into(),
            event: RoomEvent::Joined("b".into()),
        },
        ServerMessage::RemoteSdp {
            media_session_id: "m".into(),
            sdp: String::new(),
        },
        ServerMessage::StreamStatus(status(StreamState::Playing, "", None)),
    ];
    let mut frames: Vec<String> = messages.iter().map(encode).collect();
    frames.push(encode_ping());
    frames.push(encode_user_data(
        &ConnectionRequest::default(),
        "g",
        "s",
        "t",
    ));
    for f in frames {
        let v = value(&f);
        assert!(v["data"].is_array(), "{f}");
        assert!(v["message"].is_string(), "{f}");
    }
}

#[test]
fn mutated_frames_never_panic() {
    // A small deterministic fuzz: byte flips, deletions and duplications of valid frames.
    let seeds = [
        r#"{"message":"connection","data":[{"appKey":"roomApp","custom":{"login":"alice","token":"t"}}]}"#,
        r#"{"message":"sendData","data":[{"operationId":"op","payload":{"command":"sendMessage","options":{"roomConfig":{"name":"R"},"to":"b","text":"Привет 👋"}}}]}"#,
        r#"{"message":"publishStream","data":[{"mediaSessionId":"m","name":"R-a-1","sdp":"v=0","custom":{"name":"R"},"hasAudio":true,"record":false}]}"#,
        r#"{"message":"stopStream","data":[{"mediaSessionId":"m"}]}"#,
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut parsed = 0;
    for seed in seeds {
        for _ in 0..2000 {
            let mut bytes = seed.as_bytes().to_vec();
            for _ in 0..(1 + next() % 4) {
                let i = (next() as usize) % bytes.len();
                match next() % 3 {
                    0 => bytes[i] = (next() % 128) as u8,
                    1 => {
                        bytes.remove(i);
                    }
                    _ => {
                        let b = bytes[i];
                        bytes.insert(i, b);
                    }
                }
                if bytes.is_empty() {
                    bytes.push(b'{');
                }
            }
            let text = String::from_utf8_lossy(&bytes);
            if parse(&text).is_ok() {
                parsed += 1;
            }
        }
    }
    // Some mutations (inside strings) stay valid: the parser is not just rejecting everything.
    assert!(parsed > 0);
}

#[test]
fn a_lone_surrogate_fails_the_request_it_is_in() {
    // A chat text ending in half an emoji: the promise of that operation must settle.
    let frame = r#"{"message":"sendData","data":[{"operationId":"op-7","payload":{"command":"sendMessage","options":{"roomConfig":{"name":"R"},"to":"b","text":"hi \ud83d"}}}]}"#;
    let err = parse(frame).unwrap_err();
    assert!(
        matches!(err, ProtocolError::LoneSurrogate { .. }),
        "{err:?}"
    );
    assert_eq!(err.reply(), Some(&ErrorReply::Data { op: "op-7".into() }));
    assert!(err.to_string().contains("surrogate"));
    // In a stream name: the stream's status answers.
    let frame = r#"{"message":"publishStream","data":[{"mediaSessionId":"m1","name":"s\udc00","sdp":"v=0"}]}"#;
    match parse(frame).unwrap_err().reply() {
        Some(ErrorReply::Stream {
            media_session_id,
            published,
            ..
        }) => assert_eq!((media_session_id.as_str(), *published), ("m1", true)),
        other => panic!("{other:?}"),
    }
    // In a message nobody answers (connection): an error without a reply.
    let frame = r#"{"message":"connection","data":[{"custom":{"login":"\ud83d"}}]}"#;
    let err = parse(frame).unwrap_err();
    assert!(matches!(err, ProtocolError::LoneSurrogate { reply: None }));
}
