//! With access control on, an RTMP encoder needs a token in its stream key
//! (`<login>?token=<jwt>`), checked like the SDK's `custom.token`. Needs Debian's ffmpeg.

use crate::support;

use std::time::{SystemTime, UNIX_EPOCH};

use huddle_service::auth::{issue, Claims};
use huddle_service::Config;
use support::ffmpeg::push_video_to_end;
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

#[tokio::test]
async fn encoders_need_a_valid_token_when_auth_is_on() {
    let config = Config {
        auth_secret: Some(SECRET.into()),
        ..test_config("rtmp-auth")
    };
    let server = start(config).await;
    let rtmp = server.rtmp_addr();

    // No token, and a token for another room: refused, nothing joined.
    let status = push_video_to_end(&format!("rtmp://{rtmp}/live/R/alice"), 2).await;
    assert!(!status.success(), "a push without a token is refused");
    let bad = token("alice", "Other");
    let status = push_video_to_end(&format!("rtmp://{rtmp}/live/R/alice?token={bad}"), 2).await;
    assert!(
        !status.success(),
        "a push with another room's token is refused"
    );
    assert_eq!(stats(&server).await.rooms, 0);

    // A valid token: the encoder joins the room while it pushes.
    let good = token("alice", "R");
    let url = format!("rtmp://{rtmp}/live/R/alice?token={good}");
    let pushing = tokio::spawn(async move { push_video_to_end(&url, 4).await });
    let s = wait_stats(&server, "the encoder joined", |s| s.participants == 1).await;
    assert_eq!(s.rooms, 1);
    assert!(pushing.await.unwrap().success());
    server.shutdown().await;
}
