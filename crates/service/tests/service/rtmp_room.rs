//! RTMP encoders in rooms, end to end with a real ffmpeg (Debian's): the room ending the
//! stream closes the encoder's connection, and a recorded room records the RTMP stream.

use crate::support;

use std::time::{Duration, Instant};

use huddle_service::Config;
use serde_json::{json, Value};
use support::ffmpeg::push_test_pattern;
use support::*;

const ADMIN: &str = "rtmp-room-admin-secret";

#[tokio::test]
async fn kicking_an_encoder_closes_its_connection() {
    let server = start(Config {
        admin_secret: Some(ADMIN.into()),
        ..test_config("rtmp-kick")
    })
    .await;
    let mut ffmpeg = push_test_pattern(
        &format!("rtmp://{}/live/K/enc", server.rtmp_addr()),
        30,
        false,
    );
    wait_stats(&server, "the encoder publishing", |s| {
        s.participants == 1 && s.publishers == 1
    })
    .await;
    let kicked = Instant::now();
    let (status, body) = admin(
        server.http_addr(),
        "POST",
        "/admin/rooms/K/kick/enc",
        Some(ADMIN),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let exit = tokio::time::timeout(Duration::from_secs(10), ffmpeg.wait())
        .await
        .expect("ffmpeg stops once the room ends its stream")
        .unwrap();
    assert!(!exit.success(), "ffmpeg sees its publish cut: {exit}");
    assert!(kicked.elapsed() < Duration::from_secs(10));
    let s = wait_stats(&server, "the encoder gone", |s| s.participants == 0).await;
    assert_eq!((s.rooms, s.publishers), (0, 0));
    server.shutdown().await;
}

/// ffprobe's view of a file: (codec names of its streams, duration in seconds).
fn probe(path: &std::path::Path) -> (Vec<String>, f64) {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-show_streams"])
        .arg("-show_format")
        .arg(path)
        .output()
        .expect("ffprobe runs");
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("ffprobe JSON for {}: {e}", path.display()));
    let codecs = v["streams"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(|s| s["codec_name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let duration = v["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0);
    (codecs, duration)
}

#[tokio::test]
async fn a_recorded_room_records_its_rtmp_stream() {
    let config = test_config("rtmp-record");
    let records = config.records_dir.clone();
    let server = start(config).await;
    let mut alice = ws_connect(server.http_addr(), "/", "alice").await;
    alice.login("alice").await;
    alice
        .send_data("a1", "join", json!({"name": "Rec", "record": true}))
        .await;
    alice.expect_status("a1", "ACCEPTED").await;
    alice.expect_event("Rec", "STATE").await;

    let pushed_secs = 4;
    let mut ffmpeg = push_test_pattern(
        &format!("rtmp://{}/live/Rec/enc", server.rtmp_addr()),
        pushed_secs,
        true,
    );
    alice.expect_event("Rec", "JOINED").await;
    let published = alice.expect_event("Rec", "PUBLISHED").await;
    assert!(
        published.to_string().contains("Rec-enc-rtmp"),
        "{published}"
    );
    let exit = tokio::time::timeout(Duration::from_secs(20), ffmpeg.wait())
        .await
        .expect("ffmpeg ends")
        .unwrap();
    assert!(exit.success(), "the push went through: {exit}");
    // An RTMP ingest in a recorded room counts as a recording started (issue 12).
    let (_, metrics) = http_get(server.http_addr(), "/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "huddle_recordings_started_total 1"),
        "{metrics}"
    );
    alice.expect_event("Rec", "UNPUBLISHED").await;
    alice.expect_event("Rec", "LEFT").await;
    alice.send_data("a2", "leave", json!({"name": "Rec"})).await;
    alice.expect_status("a2", "ACCEPTED").await;

    // The room is over: its mix appears once every file is finished.
    let mut listed: Vec<String> = Vec::new();
    for _ in 0..600 {
        let (status, body) = http_get(server.http_addr(), "/api/records").await;
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        listed = v
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["name"].as_str().map(String::from))
            .collect();
        if listed.iter().any(|n| n.starts_with("Rec-room-")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stream_file = listed
        .iter()
        .find(|n| n.contains("Rec-enc-rtmp"))
        .unwrap_or_else(|| panic!("the RTMP stream's recording is listed: {listed:?}"));
    assert!(
        listed.iter().any(|n| n.starts_with("Rec-room-")),
        "the room mix is listed: {listed:?}"
    );
    let path = records.join(stream_file);
    assert!(path.is_file(), "{}", path.display());
    let (codecs, duration) = probe(&path);
    assert!(codecs.iter().any(|c| c == "h264"), "{codecs:?}");
    assert!(codecs.iter().any(|c| c == "opus"), "{codecs:?}");
    assert!(
        (pushed_secs as f64 - 1.5..pushed_secs as f64 + 1.0).contains(&duration),
        "recording lasts {duration} s for a {pushed_secs} s push"
    );
    server.shutdown().await;
}
