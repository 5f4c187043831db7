//! The server driven over real sockets: the spec §10 flow minus media, garbage on one socket
//! that must not hurt others, keep-alive, WSS with the self-signed certificate, static files.

use crate::support;

use std::time::Duration;

use serde_json::json;
use support::*;

#[tokio::test]
async fn two_clients_join_chat_and_leave() {
    let server = start(test_config("flow")).await;
    let http = server.http_addr();

    // A connects: getUserData echoes the connection and adds the session fields.
    let mut a = ws_connect(http, "/", "alice").await;
    let user = a.login("alice").await;
    let d = &user["data"][0];
    assert_eq!(d["custom"]["login"], "alice");
    assert_eq!(d["appKey"], "roomApp");
    assert_eq!(d["clientVersion"], "2.0");
    assert!(d["sessionId"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(d["authToken"].as_str().is_some_and(|s| s.len() >= 16));
    assert!(d.get("webRTCMetricsServerDescription").is_none());

    // A joins the empty room.
    assert_eq!(a.join("op-a1", "R").await, json!([]));

    // B connects (on another path) and joins: STATE lists alice, A hears JOINED.
    let mut b = ws_connect(http, "/some/path", "bob").await;
    let user_b = b.login("bob").await;
    assert_ne!(user_b["data"][0]["sessionId"], d["sessionId"]);
    assert_ne!(user_b["data"][0]["authToken"], d["authToken"]);
    assert_eq!(b.join("op-b1", "R").await, json!(["alice"]));
    assert_eq!(a.expect_event("R", "JOINED").await, json!("bob"));

    let s = stats(&server).await;
    assert_eq!(
        (s.connections, s.sessions, s.rooms, s.participants),
        (2, 2, 1, 2)
    );
    assert_eq!((s.publishers, s.players, s.media_peers), (0, 0, 0));

    // A -> B, byte-exact Unicode.
    a.message("op-a2", "R", "bob", UNICODE).await;
    a.expect_status("op-a2", "ACCEPTED").await;
    let (raw, v) = b.next_raw(STEP).await.unwrap();
    assert!(raw.contains(UNICODE), "raw UTF-8 on the wire: {raw}");
    assert_eq!(v["message"], "OnDataEvent");
    let p = &v["data"][0]["payload"];
    assert_eq!(
        (p["roomName"].as_str(), p["name"].as_str()),
        (Some("R"), Some("MESSAGE"))
    );
    assert_eq!(p["info"]["from"], "alice");
    assert_eq!(
        p["info"]["text"].as_str().unwrap().as_bytes(),
        UNICODE.as_bytes()
    );

    // B -> A, sent with \u escapes: delivered as the same text.
    let escaped = serde_json::to_string(UNICODE)
        .unwrap()
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                c.encode_utf16(&mut [0; 2])
                    .iter()
                    .map(|u| format!("\\u{u:04x}"))
                    .collect()
            }
        })
        .collect::<String>();
    b.send_text(&format!(
        r#"{{"message":"sendData","data":[{{"operationId":"op-b2","payload":{{"command":"sendMessage","options":{{"roomConfig":{{"name":"R"}},"to":"alice","text":{escaped}}}}}}}]}}"#
    ))
    .await;
    b.expect_status("op-b2", "ACCEPTED").await;
    let info = a.expect_event("R", "MESSAGE").await;
    assert_eq!(info, json!({"from": "bob", "text": UNICODE}));

    // A message to someone not in the room fails.
    a.message("op-a3", "R", "carol", "hi").await;
    let failed = a.expect_status("op-a3", "FAILED").await;
    assert!(failed["info"].as_str().is_some_and(|s| !s.is_empty()));

    // A leaves: ACCEPTED, B hears LEFT; A's socket stays usable.
    a.send_data("op-a4", "leave", json!({"name": "R"})).await;
    a.expect_status("op-a4", "ACCEPTED").await;
    assert_eq!(b.expect_event("R", "LEFT").await, json!("alice"));
    a.send_data("op-a5", "noSuchCommand", json!({})).await;
    a.expect_status("op-a5", "FAILED").await;
    a.expect_silence(Duration::from_millis(300)).await;
    b.expect_silence(Duration::from_millis(100)).await;

    // B leaves too: the room is gone. Closing the sockets ends the sessions.
    b.send_data("op-b3", "leave", json!({"name": "R"})).await;
    b.expect_status("op-b3", "ACCEPTED").await;
    wait_stats(&server, "no rooms", |s| s.rooms == 0 && s.participants == 0).await;
    drop(a);
    b.ws.close(None).await.unwrap();
    wait_stats(&server, "no sessions", |s| {
        s.sessions == 0 && s.connections == 0
    })
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn socket_close_without_leave_keeps_the_participant_for_the_grace_period() {
    let mut config = test_config("grace");
    config.grace_period_secs = 1;
    let server = start(config).await;
    let mut a = ws_connect(server.http_addr(), "/", "alice").await;
    let mut b = ws_connect(server.http_addr(), "/", "bob").await;
    a.login("alice").await;
    b.login("bob").await;
    a.join("j1", "G").await;
    b.join("j2", "G").await;
    a.expect_event("G", "JOINED").await;
    drop(a);
    // Away, not gone: no LEFT before the grace period ends, then LEFT.
    b.expect_silence(Duration::from_millis(500)).await;
    assert_eq!(b.expect_event("G", "LEFT").await, json!("alice"));
    server.shutdown().await;
}

#[tokio::test]
async fn garbage_hurts_only_its_own_socket() {
    let server = start(test_config("garbage")).await;
    let http = server.http_addr();

    // A healthy room next door.
    let mut c1 = ws_connect(http, "/", "c1").await;
    let mut c2 = ws_connect(http, "/", "c2").await;
    c1.login("carol").await;
    c2.login("dave").await;
    c1.join("c1-j", "Healthy").await;
    c2.join("c2-j", "Healthy").await;
    c1.expect_event("Healthy", "JOINED").await;

    let mut x = ws_connect(http, "/", "x").await;
    x.login("mallory").await;
    x.join("x-j", "Other").await;

    // Non-JSON, not an object, no message name, unknown message: ignored, socket open.
    for junk in [
        "hello",
        "{",
        "[1,2]",
        "{}",
        r#"{"message":"launch","data":[]}"#,
        "\u{0}",
    ] {
        x.send_text(junk).await;
    }
    // Ignorable SDK messages: no answer either.
    x.send(
        json!({"message":"sendStreamEvent","data":[{"mediaSessionId":"m","type":"audioMuted"}]}),
    )
    .await;
    x.send(json!({"message":"pushLogs","data":[{"logs":"..."}]}))
        .await;
    x.expect_silence(Duration::from_millis(300)).await;

    // Missing fields with an operationId: FAILED to that operation, with a clear text.
    x.send(json!({"message":"sendData","data":[{"operationId":"bad-1","payload":{"command":"join","options":{}}}]}))
        .await;
    let failed = x.expect_status("bad-1", "FAILED").await;
    assert_eq!(failed["info"], "sendData: missing field options.name");
    x.send(json!({"message":"sendData","data":[{"operationId":"bad-2","payload":{"command":"sendMessage","options":{"roomConfig":{"name":"Other"},"to":"carol","text":42}}}]}))
        .await;
    let failed = x.expect_status("bad-2", "FAILED").await;
    assert_eq!(
        failed["info"],
        "sendData: field options.text must be a string"
    );
    // Missing operationId: nothing to answer to.
    x.send(json!({"message":"sendData","data":[{"payload":{"command":"join"}}]}))
        .await;
    x.expect_silence(Duration::from_millis(300)).await;

    // A stream request without SDP: FAILED on its mediaSessionId.
    x.send(json!({"message":"publishStream","data":[{"mediaSessionId":"m-1","name":"Other-mallory-1","custom":{"name":"Other"}}]}))
        .await;
    let v = x.next().await;
    assert_eq!(v["message"], "notifyStreamStatusEvent", "{v}");
    assert_eq!(v["data"][0]["mediaSessionId"], "m-1");
    assert_eq!(v["data"][0]["status"], "FAILED");
    assert_eq!(v["data"][0]["info"], "publishStream: missing field sdp");

    // Replies keep their order with the commands around them.
    x.send_data("ok-1", "noSuchCommand", json!({})).await;
    x.send(json!({"message":"sendData","data":[{"operationId":"bad-3","payload":{}}]}))
        .await;
    x.send_data("ok-2", "noSuchCommand", json!({})).await;
    x.expect_status("ok-1", "FAILED").await;
    x.expect_status("bad-3", "FAILED").await;
    x.expect_status("ok-2", "FAILED").await;

    // The socket still works.
    x.send_data("x-l", "leave", json!({"name": "Other"})).await;
    x.expect_status("x-l", "ACCEPTED").await;

    // A 10 MB frame: that socket is closed.
    let huge = json!({"message":"sendData","data":[{"operationId":"big","payload":{"command":"sendMessage","options":{"roomConfig":{"name":"Healthy"},"to":"carol","text":"z".repeat(10 * 1024 * 1024)}}}]});
    let _ = futures_util::SinkExt::send(
        &mut x.ws,
        tokio_tungstenite::tungstenite::Message::text(huge.to_string()),
    )
    .await;
    x.expect_closed(STEP).await;

    // The healthy room never saw any of it, and still works both ways.
    c1.expect_silence(Duration::from_millis(100)).await;
    c2.expect_silence(Duration::from_millis(100)).await;
    c1.message("c1-m", "Healthy", "dave", UNICODE).await;
    c1.expect_status("c1-m", "ACCEPTED").await;
    assert_eq!(
        c2.expect_event("Healthy", "MESSAGE").await,
        json!({"from":"carol","text":UNICODE})
    );
    c2.message("c2-m", "Healthy", "carol", "ok").await;
    c2.expect_status("c2-m", "ACCEPTED").await;
    c1.expect_event("Healthy", "MESSAGE").await;

    // New connections are still accepted.
    let mut y = ws_connect(http, "/", "y").await;
    y.login("yves").await;
    wait_stats(&server, "mallory gone", |s| {
        s.connections == 3 && s.sessions == 3
    })
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn commands_before_connection_fail() {
    let server = start(test_config("unconnected")).await;
    let mut x = ws_connect(server.http_addr(), "/", "x").await;
    x.send_data("early", "join", json!({"name": "R"})).await;
    x.expect_status("early", "FAILED").await;
    x.login("late").await;
    x.join("j", "R").await;
    server.shutdown().await;
}

#[tokio::test]
async fn frames_over_the_limit_close_the_socket_under_the_limit_pass() {
    let mut config = test_config("limit");
    config.max_frame_bytes = 4096;
    let server = start(config).await;
    let mut a = ws_connect(server.http_addr(), "/", "a").await;
    a.login("a").await;
    // Just under the limit (a long unknown command name): answered.
    let name = "x".repeat(3000);
    a.send_data("op", &name, json!({})).await;
    a.expect_status("op", "FAILED").await;
    // Over it: closed.
    a.send_data("op2", &"y".repeat(5000), json!({})).await;
    a.expect_closed(STEP).await;
    server.shutdown().await;
}

#[tokio::test]
async fn server_pings_and_closes_silent_clients() {
    let mut config = test_config("ping");
    config.ping_interval_secs = 1;
    config.max_missed_pongs = 2;
    let server = start(config).await;
    let mut quiet = ws_connect(server.http_addr(), "/", "quiet").await;
    quiet.auto_pong = false;
    quiet.login("quiet").await;
    let mut alive = ws_connect(server.http_addr(), "/", "alive").await;
    alive.login("alive").await;

    // The quiet one sees exactly the ping frame of the spec, then is closed; meanwhile the
    // one that answers (it reads, so it pongs) is pinged as often and stays.
    let quiet_side = async {
        let (raw, _) = quiet.next_raw(Duration::from_secs(3)).await.unwrap();
        assert_eq!(raw, r#"{"message":"ping","data":[]}"#);
        quiet.expect_closed(Duration::from_secs(5)).await;
    };
    let alive_side = alive.expect_silence(Duration::from_secs(5));
    tokio::join!(quiet_side, alive_side);
    alive.send_data("still", "noSuchCommand", json!({})).await;
    alive.expect_status("still", "FAILED").await;
    server.shutdown().await;
}

#[tokio::test]
async fn wss_on_the_https_port_with_the_self_signed_certificate() {
    let server = start(test_config("wss")).await;
    let https = server.https_addr();

    // The screen-sharing demo's URL shape: wss://host:8443/<id>.
    let mut a = wss_connect(https, "/abcd1234", "alice").await;
    let mut b = wss_connect(https, "/", "bob").await;
    a.login("alice").await;
    b.login("bob").await;
    a.join("a1", "S").await;
    assert_eq!(b.join("b1", "S").await, json!(["alice"]));
    a.expect_event("S", "JOINED").await;
    b.message("b2", "S", "alice", UNICODE).await;
    b.expect_status("b2", "ACCEPTED").await;
    assert_eq!(
        a.expect_event("S", "MESSAGE").await,
        json!({"from":"bob","text":UNICODE})
    );

    // Same router over TLS: static files and stats.
    let (tls, cert) = tls_connect(https, &[b"http/1.1"]).await;
    assert!(!cert.is_empty());
    let (status, body) = http_get_on(tls, "/").await;
    assert_eq!(status, 200);
    assert!(body.contains("huddle test"), "{body}");
    let (tls, _) = tls_connect(https, &[b"http/1.1"]).await;
    let (status, body) = http_get_on(tls, "/api/stats").await;
    assert_eq!(status, 200);
    let s: huddle_service::Stats = serde_json::from_str(&body).unwrap();
    assert_eq!((s.sessions, s.rooms, s.participants), (2, 1, 2));
    server.shutdown().await;
}

#[tokio::test]
async fn static_files_and_stats_over_http() {
    let config = test_config("static");
    std::fs::write(config.web_dir.join("app.js"), "console.log('hi')").unwrap();
    let server = start(config).await;
    let http = server.http_addr();
    let (status, body) = http_get(http, "/").await;
    assert_eq!(status, 200);
    assert!(body.contains("huddle test"));
    let (status, body) = http_get(http, "/app.js").await;
    assert_eq!((status, body.as_str()), (200, "console.log('hi')"));
    assert_eq!(http_get(http, "/missing.html").await.0, 404);
    assert_eq!(http_get(http, "/../../etc/passwd").await.0, 404);
    let mut s = stats(&server).await;
    let shards = std::mem::take(&mut s.media_shards);
    assert_eq!(s, huddle_service::Stats::default());
    assert!(!shards.is_empty(), "every media shard is listed");
    assert!(shards.iter().all(|sh| sh.peers == 0 && sh.udp_port != 0));
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_open_sockets_and_frees_the_ports() {
    let server = start(test_config("shutdown")).await;
    let http = server.http_addr();
    let mut a = ws_connect(http, "/", "a").await;
    a.login("a").await;
    a.join("j", "R").await;
    tokio::time::timeout(Duration::from_secs(10), server.shutdown())
        .await
        .expect("shutdown in time");
    a.expect_closed(STEP).await;
    assert!(tokio::net::TcpStream::connect(http).await.is_err());
}
