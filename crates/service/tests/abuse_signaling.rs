//! Abuse of the signaling WebSocket (issue 12): each scenario attacks a real in-process server
//! on 127.0.0.1, bounded in count and time, then checks that the server still answers, that
//! the media plane still reads datagrams, and that the victim-side behaviour is the
//! documented one.

use std::time::{Duration, Instant};

use crate::abuse_support::*;
use crate::support::*;
use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

/// Finding 2: a participant that stops reading is dropped once its queue or a write limit
/// is hit; it goes "away" (chat to it fails), and its login can come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_and_its_login_comes_back() {
    let _shared = shares_the_process().await;
    let server = start(huddle_service::Config {
        max_queued_bytes: 64 * 1024,
        send_timeout_secs: 1,
        max_commands_per_sec: 1000,
        command_burst: 1000,
        ..test_config("abuse-slow")
    })
    .await;
    let mut alice = ws_connect(server.http_addr(), "/", "alice").await;
    let mut mallory = ws_connect(server.http_addr(), "/", "mallory").await;
    alice.login("alice").await;
    mallory.login("mallory").await;
    alice.join("j1", "R").await;
    mallory.join("j2", "R").await;
    alice.expect_event("R", "JOINED").await;
    // mallory reads nothing from here on. alice sends 60 KB lines until the server gives up
    // on mallory (bounded: 400 lines, 20 s).
    let line = "x".repeat(60 * 1024);
    let started = Instant::now();
    let mut dropped = false;
    for i in 0..400 {
        let op = format!("m{i}");
        alice.message(&op, "R", "mallory", &line).await;
        let v = alice.next().await;
        if v["data"][0]["status"] == "FAILED" {
            assert_eq!(
                v["data"][0]["info"], "Participant mallory is not connected",
                "{v}"
            );
            dropped = true;
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "bounded");
    }
    assert!(dropped, "the slow reader was never dropped");
    println!("slow reader dropped after {:?}", started.elapsed());
    assert!(metric(&server, "huddle_slow_sessions_dropped_total").await >= 1);
    // The real user reconnects under the same login and is back in the room.
    let mut again = ws_connect(server.http_addr(), "/", "mallory-again").await;
    again.login("mallory").await;
    again.join("j3", "R").await;
    alice.message("after", "R", "mallory", "welcome back").await;
    alice.expect_status("after", "ACCEPTED").await;
    assert_media_reads_packets(&server).await;
    drop(mallory);
    server.shutdown().await;
}

/// Finding 7: a fragmented message that never ends is not kept alive by WebSocket pings; the
/// socket is closed after the missed application pongs, while a normal client stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfinished_fragmented_message_times_out() {
    let _shared = shares_the_process().await;
    let server = start(huddle_service::Config {
        ping_interval_secs: 1,
        max_missed_pongs: 2,
        ..test_config("abuse-fragments")
    })
    .await;
    let mut honest = ws_connect(server.http_addr(), "/", "honest").await;
    honest.login("honest").await;
    let mut attacker = ws_connect(server.http_addr(), "/", "attacker").await;
    // It cannot answer the application pings: a text frame inside a fragmented message
    // would be a protocol error (closing the socket by itself).
    attacker.auto_pong = false;
    let first = Frame::message(vec![b'{'; 64 * 1024], OpCode::Data(Data::Text), false);
    attacker.ws.send(Message::Frame(first)).await.unwrap();
    let started = Instant::now();
    let mut closed = false;
    // Ping every 200 ms for at most 8 s; the server must close well before.
    while started.elapsed() < Duration::from_secs(8) {
        if attacker
            .ws
            .send(Message::Ping(vec![1].into()))
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        // The honest client reads (and so answers its pings) meanwhile.
        let _ = honest.next_raw(Duration::from_millis(10)).await;
        match attacker.next_raw(Duration::from_millis(200)).await {
            Err(Closed::Closed) => {
                closed = true;
                break;
            }
            _ => continue,
        }
    }
    assert!(closed, "the unfinished message was held for 8 s");
    // Not before the missed pongs (2 x 1 s): it was the liveness check, not an error.
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
    println!(
        "unfinished fragmented message closed after {:?}",
        started.elapsed()
    );
    // The honest client answered its pings and is still served.
    honest.send_data("op", "join", json!({"name": "R"})).await;
    honest.expect_status("op", "ACCEPTED").await;
    server.shutdown().await;
}

/// Finding 8: a chat text ending in half a surrogate pair gets FAILED with a reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_surrogate_in_a_chat_text_is_answered() {
    let _shared = shares_the_process().await;
    let server = start(test_config("abuse-surrogate")).await;
    let mut a = ws_connect(server.http_addr(), "/", "a").await;
    let mut b = ws_connect(server.http_addr(), "/", "b").await;
    a.login("a").await;
    b.login("b").await;
    a.join("j1", "R").await;
    b.join("j2", "R").await;
    a.expect_event("R", "JOINED").await;
    a.send_text(r#"{"message":"sendData","data":[{"operationId":"cut","payload":{"command":"sendMessage","options":{"roomConfig":{"name":"R"},"to":"b","text":"hi \ud83d"}}}]}"#).await;
    let v = a.expect_status("cut", "FAILED").await;
    assert!(v["info"].as_str().unwrap().contains("surrogate"), "{v}");
    b.expect_silence(Duration::from_millis(300)).await;
    server.shutdown().await;
}

/// Finding 1 (signaling side): a publish flood from one address is refused with reasons by
/// the admission limits; the media plane keeps reading and the server answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_flood_is_refused_with_a_reason() {
    let _shared = shares_the_process().await;
    let server = start(huddle_service::Config {
        max_commands_per_sec: 1000,
        command_burst: 1000,
        ..test_config("abuse-flood")
    })
    .await;
    let mut sockets = Vec::new();
    for i in 0..10 {
        let mut c = ws_connect(server.http_addr(), "/", &format!("f{i}")).await;
        c.login(&format!("flood{i}")).await;
        sockets.push(c);
    }
    // 10 sockets x 10 publishes at once: over the per-address burst (40) and pending cap (32).
    for (i, c) in sockets.iter_mut().enumerate() {
        for j in 0..10 {
            c.send(json!({"message":"publishStream","data":[{
                "mediaSessionId": format!("m{i}-{j}"), "name": format!("s{i}-{j}"),
                "sdp": "v=0\r\n", "hasAudio": true, "hasVideo": true}]}))
                .await;
        }
    }
    let mut refused = 0;
    for c in sockets.iter_mut() {
        for _ in 0..10 {
            let v = c.next().await;
            assert_eq!(v["message"], "notifyStreamStatusEvent", "{v}");
            assert_eq!(v["data"][0]["status"], "FAILED", "{v}");
            let info = v["data"][0]["info"].as_str().unwrap_or("");
            if info.contains("your address") || info.starts_with("Server busy") {
                refused += 1;
            }
        }
    }
    println!("publish flood: {refused} of 100 refused by admission");
    assert!(refused >= 50, "only {refused} refused");
    assert_eq!(
        metric(&server, "huddle_media_admission_refused_total").await,
        refused
    );
    assert_eq!(
        get_from("127.0.0.2", server.http_addr(), "/api/stats").await,
        200
    );
    assert_media_reads_packets(&server).await;
    server.shutdown().await;
}

/// Findings 2 and 6: over-long names and an oversized `connection` are refused with reasons.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_names_and_connection_messages_are_refused() {
    let _shared = shares_the_process().await;
    let server = start(test_config("abuse-names")).await;
    let mut a = ws_connect(server.http_addr(), "/", "a").await;
    a.login("a").await;
    a.send_data("big", "join", json!({"name": "r".repeat(200_000)}))
        .await;
    let v = a.expect_status("big", "FAILED").await;
    assert_eq!(v["info"], "Room name is too long: at most 256 bytes");
    // A login over the limit: refused like a bad token, socket dropped.
    let mut b = ws_connect(server.http_addr(), "/", "b").await;
    b.send(json!({"message":"connection","data":[{"custom":{"login":"l".repeat(300)}}]}))
        .await;
    let v = b.next().await;
    assert_eq!(v["message"], "fail", "{v}");
    assert!(v["data"][0]["info"]
        .as_str()
        .unwrap()
        .contains("Login is too long"));
    b.expect_closed(STEP).await;
    // A 100 KB `connection` message.
    let mut c = ws_connect(server.http_addr(), "/", "c").await;
    c.send(
        json!({"message":"connection","data":[{"custom":{"login":"c","pad":"p".repeat(100_000)}}]}),
    )
    .await;
    let v = c.next().await;
    assert_eq!(v["message"], "fail", "{v}");
    c.expect_closed(STEP).await;
    server.shutdown().await;
}
