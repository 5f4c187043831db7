//! An encoder with default settings learns why Huddle cannot use its stream (issue 16, part 0),
//! end to end with a real ffmpeg (Debian's): its log shows `Server error: <reason>` and it
//! exits, instead of a bare "Broken pipe".
//!
//! * default libx264 (High profile, B-frames): refused at the first B-frame, the reason names
//!   `-bf 0` and `-profile:v baseline`;
//! * High profile without B-frames: published; a browser offering no High (Debian's Chromium)
//!   is refused naming the profile, and as nobody else plays the stream the encoder is closed
//!   with the reason;
//! * High profile into a room whose players' offers cannot decode it: closed at publish time.

use crate::support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;
use tokio::io::AsyncReadExt;

/// ffmpeg pushing a test pattern and a tone to `url` for `secs`, with libx264's defaults
/// plus `x264`, its stderr piped.
fn push(url: &str, secs: u32, x264: &[&str]) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &secs.to_string(), "-c:v", "libx264"])
        .args(x264)
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "flv", url]);
    support::ffmpeg::spawn(&mut cmd, Stdio::piped())
}

/// Waits for ffmpeg to exit; returns (success, stderr, time since `since`).
async fn finish(mut ffmpeg: tokio::process::Child, since: Instant) -> (bool, String, Duration) {
    let mut stderr = ffmpeg.stderr.take().unwrap();
    let mut log = String::new();
    let read = async {
        let _ = stderr.read_to_string(&mut log).await;
        ffmpeg.wait().await
    };
    let status = tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("ffmpeg ends well before its input does")
        .unwrap();
    (status.success(), log, since.elapsed())
}

/// The `Server error: …` lines of an ffmpeg log.
fn server_errors(log: &str) -> Vec<&str> {
    log.split(['\n', '\r'])
        .filter_map(|l| l.find("Server error:").map(|i| &l[i..]))
        .collect()
}

/// A receive-only offer as Debian's Chromium makes it: H.264 Constrained Baseline, Baseline,
/// Main and High 4:4:4, no High. Complete enough for the media plane to accept it (then it
/// waits for ICE, which never comes).
fn chromium_offer() -> String {
    let mut sdp = String::from(
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
         a=msid-semantic: WMS\r\n",
    );
    let common = "c=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\n\
                  a=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=ice-options:trickle\r\n\
                  a=fingerprint:sha-256 \
                  AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99\r\n\
                  a=setup:actpass\r\na=recvonly\r\na=rtcp-mux\r\n";
    sdp += "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";
    sdp += common;
    sdp += "a=mid:0\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n";
    sdp += "m=video 9 UDP/TLS/RTP/SAVPF 96 102 104 106 108\r\n";
    sdp += common;
    sdp += "a=mid:1\r\na=rtcp-rsize\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\n";
    for (pt, id) in [
        (102, "42001f"),
        (104, "42e01f"),
        (106, "4d001f"),
        (108, "f4001f"),
    ] {
        sdp += &format!(
            "a=rtpmap:{pt} H264/90000\r\na=rtcp-fb:{pt} nack\r\n\
             a=fmtp:{pt} level-asymmetry-allowed=1;packetization-mode=1;profile-level-id={id}\r\n"
        );
    }
    sdp
}

/// The SDK's playStream of `name` with `offer`.
fn play_request(id: &str, name: &str, room: &str, offer: &str) -> Value {
    json!({"message": "playStream", "data": [{
        "mediaSessionId": id, "name": name, "published": false,
        "hasVideo": true, "hasAudio": true, "status": "PENDING", "record": false,
        "mediaProvider": "WebRTC", "sdp": offer, "custom": {"name": room}}]})
}

/// The next stream status for `id` (room events and SDP skipped).
async fn stream_status<S>(client: &mut Client<S>, id: &str) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let v = client.next().await;
        if v["message"] == "notifyStreamStatusEvent" && v["data"][0]["mediaSessionId"] == id {
            return v["data"][0].clone();
        }
    }
}

/// Waits for the room event `name` about `stream` (others skipped).
async fn room_event<S>(client: &mut Client<S>, room: &str, name: &str, stream: &str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let v = client.next().await;
        let p = &v["data"][0]["payload"];
        if v["message"] == "OnDataEvent"
            && p["roomName"] == room
            && p["name"] == name
            && p["info"].to_string().contains(stream)
        {
            return;
        }
    }
}

#[tokio::test]
async fn default_libx264_is_told_to_drop_b_frames_and_high() {
    let server = start(test_config("enc-bframes")).await;
    let started = Instant::now();
    let ffmpeg = push(
        &format!("rtmp://{}/live/B/enc", server.rtmp_addr()),
        20,
        &[],
    );
    let (ok, log, took) = finish(ffmpeg, started).await;
    let errors = server_errors(&log);
    println!("default libx264: ffmpeg exited after {took:?}: {errors:?}");
    assert!(!ok, "ffmpeg fails");
    assert!(
        errors.iter().any(|l| l.contains("B-frames")
            && l.contains("-bf 0")
            && l.contains("-profile:v baseline")
            && l.contains("OBS")),
        "ffmpeg's log names the cause and both settings:\n{log}"
    );
    assert!(took < Duration::from_secs(10), "at once: {took:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn high_profile_nobody_can_play_closes_the_encoder_with_the_reason() {
    let server = start(test_config("enc-high-refused")).await;
    let mut alice = ws_connect(server.http_addr(), "/", "alice").await;
    alice.login("alice").await;
    alice.join("a1", "H").await;
    let started = Instant::now();
    let ffmpeg = push(
        &format!("rtmp://{}/live/H/enc", server.rtmp_addr()),
        20,
        &["-bf", "0", "-g", "25"],
    );
    room_event(&mut alice, "H", "PUBLISHED", "H-enc-rtmp").await;
    let published = started.elapsed();
    let played = Instant::now();
    alice
        .send(play_request("p1", "H-enc-rtmp", "H", &chromium_offer()))
        .await;
    let st = stream_status(&mut alice, "p1").await;
    assert_eq!(st["status"], "FAILED", "{st}");
    let info = st["info"].as_str().unwrap_or_default();
    assert!(
        info.contains("High") && info.contains("640"),
        "the browser is told the profile: {info}"
    );
    let (ok, log, took) = finish(ffmpeg, played).await;
    let errors = server_errors(&log);
    println!(
        "High profile: PUBLISHED {published:?} after start; play refused, ffmpeg exited {took:?} after the play: {errors:?}"
    );
    assert!(!ok, "the publish is cut");
    assert!(
        errors
            .iter()
            .any(|l| l.contains("nobody can play H.264 High") && l.contains("-profile:v baseline")),
        "ffmpeg's log says why:\n{log}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    room_event(&mut alice, "H", "UNPUBLISHED", "H-enc-rtmp").await;
    server.shutdown().await;
}

#[tokio::test]
async fn high_profile_into_a_room_that_cannot_decode_it_is_closed_at_publish_time() {
    let server = start(test_config("enc-high-room")).await;
    let mut alice = ws_connect(server.http_addr(), "/", "alice").await;
    alice.login("alice").await;
    alice.join("a1", "C").await;
    // A baseline camera in the room, played by alice's Chromium: her receive profiles are
    // known.
    let rtmp = server.rtmp_addr();
    let cam = push(
        &format!("rtmp://{rtmp}/live/C/cam"),
        20,
        &["-bf", "0", "-profile:v", "baseline", "-g", "25"],
    );
    room_event(&mut alice, "C", "PUBLISHED", "C-cam-rtmp").await;
    alice
        .send(play_request("p1", "C-cam-rtmp", "C", &chromium_offer()))
        .await;
    loop {
        let v = alice.next().await;
        assert_ne!(v["message"], "notifyStreamStatusEvent", "no failure: {v}");
        if v["message"] == "setRemoteSDP" {
            break; // accepted; it waits for ICE
        }
    }
    let started = Instant::now();
    let high = push(
        &format!("rtmp://{rtmp}/live/C/enc"),
        20,
        &["-bf", "0", "-g", "25"],
    );
    let (ok, log, took) = finish(high, started).await;
    let errors = server_errors(&log);
    println!("High into a Chromium room: ffmpeg exited {took:?} after start: {errors:?}");
    assert!(!ok);
    assert!(
        errors
            .iter()
            .any(|l| l.contains("none of the 1 players in room C")
                && l.contains("H.264 High")
                && l.contains("-profile:v baseline")),
        "ffmpeg's log says why:\n{log}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    // The camera goes on.
    assert!(
        stats(&server).await.publishers >= 1,
        "the baseline camera still publishes"
    );
    drop(cam);
    server.shutdown().await;
}
