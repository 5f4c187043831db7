//! With access control on, an RTMP encoder needs a token in its stream key
//! (`<login>?token=<jwt>`), checked like the SDK's `custom.token`. Needs Debian's ffmpeg.

mod support;

use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use huddle_service::auth::{issue, Claims};
use huddle_service::Config;
use support::*;

const SECRET: &str = "rtmp-test-secret";

fn token(login: &str, room: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    issue(
        SECRET,
        &Claims {
            sub: login.into(),
            exp: now + 600,
            room: room.into(),
            publish: true,
            record: true,
        },
    )
}

/// Pushes a short test pattern; returns ffmpeg's exit status.
async fn push(url: &str, secs: u32) -> std::process::ExitStatus {
    let mut child = tokio::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x120:rate=15",
        ])
        .args([
            "-t",
            &secs.to_string(),
            "-c:v",
            "libx264",
            "-profile:v",
            "baseline",
            "-bf",
            "0",
        ])
        .args(["-g", "15", "-pix_fmt", "yuv420p", "-an", "-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg runs");
    tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("ffmpeg ends in time")
        .unwrap()
}

#[tokio::test]
async fn encoders_need_a_valid_token_when_auth_is_on() {
    let config = Config {
        auth_secret: Some(SECRET.into()),
        ..test_config("rtmp-auth")
    };
    let server = start(config).await;
    let rtmp = server.rtmp_addr();

    // No token, and a token for another room: refused, nothing joined.
    let status = push(&format!("rtmp://{rtmp}/live/R/alice"), 2).await;
    assert!(!status.success(), "a push without a token is refused");
    let bad = token("alice", "Other");
    let status = push(&format!("rtmp://{rtmp}/live/R/alice?token={bad}"), 2).await;
    assert!(
        !status.success(),
        "a push with another room's token is refused"
    );
    assert_eq!(stats(&server).await.rooms, 0);

    // A valid token: the encoder joins the room while it pushes.
    let good = token("alice", "R");
    let url = format!("rtmp://{rtmp}/live/R/alice?token={good}");
    let pushing = tokio::spawn(async move { push(&url, 4).await });
    let s = wait_stats(&server, "the encoder joined", |s| s.participants == 1).await;
    assert_eq!(s.rooms, 1);
    assert!(pushing.await.unwrap().success());
    server.shutdown().await;
}
