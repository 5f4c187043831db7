//! Trust and operations over real sockets: access tokens, limits, `/metrics`, the admin API.
//! A fake media plane answers every offer at once, so streams go live without WebRTC.

use crate::support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use huddle_room::{MediaCommand, MediaEvent};
use huddle_service::auth::{issue, Claims};
use huddle_service::media::{MediaPlane, MediaStarter};
use huddle_service::{Config, Server};
use serde_json::{json, Value};
use support::*;
use tokio::sync::mpsc::UnboundedSender;

const SECRET: &str = "test-secret";
const ADMIN: &str = "admin-secret-123";

struct FakeMedia {
    events: UnboundedSender<MediaEvent>,
    open: Mutex<BTreeSet<u64>>,
}

impl MediaPlane for FakeMedia {
    fn send(&self, command: MediaCommand) {
        let peer = match command {
            MediaCommand::Close { peer } => {
                self.open.lock().unwrap().remove(&peer.0);
                return;
            }
            MediaCommand::Publish { peer, .. } | MediaCommand::Play { peer, .. } => peer,
            _ => return,
        };
        self.open.lock().unwrap().insert(peer.0);
        let _ = self.events.send(MediaEvent::Answer {
            peer,
            sdp: "answer".into(),
        });
        let _ = self.events.send(MediaEvent::Connected { peer });
    }
    fn local_addr(&self) -> SocketAddr {
        "127.0.0.1:9".parse().unwrap()
    }
    fn peers(&self) -> u64 {
        self.open.lock().unwrap().len() as u64
    }
    fn shutdown(&self) {}
}

fn fake() -> MediaStarter {
    Box::new(|_settings, events| {
        Ok(Arc::new(FakeMedia {
            events,
            open: Mutex::new(BTreeSet::new()),
        }) as Arc<dyn MediaPlane>)
    })
}

async fn start_fake(config: Config) -> Server {
    huddle_service::start_with_media(config, fake())
        .await
        .expect("server starts")
}

fn token(secret: &str, login: &str, room: &str, exp_in: i64, publish: bool) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    issue(
        secret,
        &Claims {
            sub: login.into(),
            exp: (now + exp_in) as u64,
            room: room.into(),
            publish,
            record: true,
        },
    )
}

fn connection(login: &str, token: Option<&str>) -> Value {
    let mut custom = json!({"login": login});
    if let Some(t) = token {
        custom["token"] = json!(t);
    }
    json!({"message":"connection","data":[{"appKey":"roomApp","mediaProviders":["WebRTC"],
        "clientVersion":"2.0","clientOSVersion":"5.0","clientBrowserVersion":"test",
        "msePacketizationVersion":2,"custom":custom}]})
}

/// Connects with `token`; expects the refusal (`fail` FAILED with `info`) then a drop.
async fn expect_refused(server: &Server, login: &str, token: Option<&str>, info: &str) {
    let mut c = ws_connect(server.http_addr(), "/", login).await;
    c.send(connection(login, token)).await;
    let v = c.next().await;
    assert_eq!(v["message"], "fail", "{v}");
    assert_eq!(v["data"][0]["apiMethod"], "ConnectionStatusEvent", "{v}");
    assert_eq!(v["data"][0]["status"], "FAILED", "{v}");
    assert_eq!(v["data"][0]["info"], info, "{v}");
    c.expect_closed(STEP).await;
}

fn publish(msid: &str, name: &str, room: &str) -> Value {
    json!({"message":"publishStream","data":[{"mediaSessionId":msid,"name":name,"published":true,
        "hasVideo":true,"hasAudio":true,"status":"PENDING","record":false,"mediaProvider":"WebRTC",
        "sdp":"v=0 offer","custom":{"name":room}}]})
}

/// Expects a stream status for `msid`; returns (status, info).
async fn stream_status<S>(c: &mut Client<S>, msid: &str) -> (String, String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let v = c.next().await;
        if v["message"] == "notifyStreamStatusEvent" && v["data"][0]["mediaSessionId"] == msid {
            let d = &v["data"][0];
            return (
                d["status"].as_str().unwrap().into(),
                d["info"].as_str().unwrap_or("").into(),
            );
        }
    }
}

#[tokio::test]
async fn access_tokens() {
    let server = start_fake(Config {
        auth_secret: Some(SECRET.into()),
        ..test_config("auth")
    })
    .await;
    let http = server.http_addr();
    // Valid: established, joins its room, but not another one.
    let t = token(SECRET, "alice", "R", 60, true);
    let mut a = ws_connect(http, "/", "alice").await;
    a.send(connection("alice", Some(&t))).await;
    let v = a.next().await;
    assert_eq!(v["message"], "getUserData", "{v}");
    a.join("a1", "R").await;
    a.send_data("a2", "join", json!({"name": "Other", "record": false}))
        .await;
    let d = a.expect_status("a2", "FAILED").await;
    assert_eq!(d["info"], "Not allowed to join room Other");

    // Wrong signature, expired, missing, another login.
    let wrong = token("not-the-secret", "bob", "R", 60, true);
    expect_refused(
        &server,
        "bob",
        Some(&wrong),
        "Access token signature is invalid",
    )
    .await;
    let old = token(SECRET, "bob", "R", -5, true);
    expect_refused(&server, "bob", Some(&old), "Access token expired").await;
    expect_refused(&server, "bob", None, "Access token required").await;
    let alices = token(SECRET, "alice", "*", 60, true);
    expect_refused(
        &server,
        "bob",
        Some(&alices),
        "Access token is for another login",
    )
    .await;
    let s = wait_stats(&server, "refused sessions gone", |s| s.connections == 1).await;
    assert_eq!((s.sessions, s.participants), (1, 1), "nothing joined");

    // No publish grant: publish FAILED, nothing reaches the media plane.
    let t = token(SECRET, "viewer", "*", 60, false);
    let mut v = ws_connect(http, "/", "viewer").await;
    v.send(connection("viewer", Some(&t))).await;
    assert_eq!(v.next().await["message"], "getUserData");
    v.join("v1", "R").await;
    v.send(publish("m1", "viewer-cam", "R")).await;
    assert_eq!(
        stream_status(&mut v, "m1").await,
        ("FAILED".into(), "Not allowed to publish".into())
    );
    let (_, metrics) = http_get(http, "/metrics").await;
    assert!(
        metrics.contains("huddle_auth_failures_total 4"),
        "{metrics}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn limits() {
    let server = start_fake(Config {
        max_rooms: 1,
        max_streams_per_session: 1,
        max_commands_per_sec: 5,
        command_burst: 10,
        ..test_config("limits")
    })
    .await;
    let http = server.http_addr();
    let mut a = ws_connect(http, "/", "alice").await;
    a.login("alice").await;
    a.join("j1", "R").await;
    a.send_data("j2", "join", json!({"name": "R2", "record": false}))
        .await;
    assert_eq!(
        a.expect_status("j2", "FAILED").await["info"],
        "Too many rooms"
    );
    a.send(publish("m1", "cam1", "R")).await;
    assert_eq!(stream_status(&mut a, "m1").await.0, "PUBLISHING");
    a.send(publish("m2", "cam2", "R")).await;
    assert_eq!(
        stream_status(&mut a, "m2").await,
        (
            "FAILED".into(),
            "Too many streams: at most 1 per session".into()
        )
    );
    // Rate: the bucket (10) is nearly empty after 5 commands; a burst of 20 more gets some
    // "Too many requests".
    for i in 0..20 {
        a.send_data(&format!("x{i}"), "nope", json!({})).await;
    }
    let mut refused = 0;
    for _ in 0..20 {
        let v = a.next().await;
        assert_eq!(v["message"], "DataStatusEvent", "{v}");
        if v["data"][0]["info"] == "Too many requests" {
            refused += 1;
        }
    }
    assert!(refused >= 5, "refused {refused}");
    // Sustained abuse closes the socket.
    for i in 0..100 {
        if a.ws.send(tokio_tungstenite::tungstenite::Message::text(
            json!({"message":"sendData","data":[{"operationId":format!("y{i}"),"payload":{"command":"nope","options":{}}}]}).to_string(),
        )).await.is_err() {
            break;
        }
    }
    a.expect_closed(STEP).await;
    let (_, metrics) = http_get(http, "/metrics").await;
    let limited = metric(&metrics, "huddle_rate_limited_total");
    assert!(limited >= 10.0, "{limited}");
    server.shutdown().await;
}

use futures_util::SinkExt;

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} missing in {text}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn metrics_and_admin_api() {
    let off = start_fake(test_config("admin-off")).await;
    assert_eq!(
        admin(off.http_addr(), "GET", "/admin/rooms", Some(ADMIN))
            .await
            .0,
        404
    );
    off.shutdown().await;

    let server = start_fake(Config {
        admin_secret: Some(ADMIN.into()),
        ..test_config("admin")
    })
    .await;
    let http = server.http_addr();
    assert_eq!(admin(http, "GET", "/admin/rooms", None).await.0, 401);
    assert_eq!(
        admin(http, "GET", "/admin/rooms", Some("wrong-secret"))
            .await
            .0,
        401
    );
    let (_, m0) = http_get(http, "/metrics").await;
    assert_eq!(metric(&m0, "huddle_rooms"), 0.0);

    let mut a = ws_connect(http, "/", "alice").await;
    a.login("alice").await;
    let mut b = ws_connect(http, "/", "bob").await;
    b.login("bob").await;
    a.join("a1", "R").await;
    b.join("b1", "R").await;
    a.expect_event("R", "JOINED").await;
    a.send(publish("m1", "alice-cam", "R")).await;
    assert_eq!(stream_status(&mut a, "m1").await.0, "PUBLISHING");
    b.expect_event("R", "PUBLISHED").await;
    b.send_text("{not json").await;
    b.expect_silence(Duration::from_millis(200)).await;

    let (_, m1) = http_get(http, "/metrics").await;
    assert_eq!(metric(&m1, "huddle_rooms"), 1.0, "{m1}");
    assert_eq!(metric(&m1, "huddle_participants"), 2.0);
    assert_eq!(metric(&m1, "huddle_sessions"), 2.0);
    assert_eq!(metric(&m1, "huddle_publishers"), 1.0);
    assert_eq!(metric(&m1, "huddle_media_peers"), 1.0);
    assert_eq!(metric(&m1, "huddle_protocol_errors_total"), 1.0);

    let (status, body) = admin(http, "GET", "/admin/rooms", Some(ADMIN)).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let room = &v["rooms"][0];
    assert_eq!(room["name"], "R");
    assert_eq!(room["participants"][0]["login"], "alice");
    assert_eq!(room["participants"][1]["presence"], "active");
    assert_eq!(room["streams"][0]["name"], "alice-cam");
    assert_eq!(room["streams"][0]["status"], "PUBLISHING");

    // Kick bob, then close the room: alice's stream ends, the room is gone.
    assert_eq!(
        admin(http, "POST", "/admin/rooms/R/kick/zed", Some(ADMIN))
            .await
            .0,
        404
    );
    assert_eq!(
        admin(http, "POST", "/admin/rooms/R/kick/bob", Some(ADMIN))
            .await
            .0,
        200
    );
    assert_eq!(a.expect_event("R", "LEFT").await, json!("bob"));
    assert_eq!(
        admin(http, "POST", "/admin/rooms/R/close", Some(ADMIN))
            .await
            .0,
        200
    );
    assert_eq!(
        stream_status(&mut a, "m1").await.0,
        "UNPUBLISHED",
        "the closed room's streams end"
    );
    assert_eq!(
        admin(http, "POST", "/admin/rooms/R/close", Some(ADMIN))
            .await
            .0,
        404
    );
    let s = wait_stats(&server, "room closed", |s| s.rooms == 0).await;
    assert_eq!((s.participants, s.publishers, s.media_peers), (0, 0, 0));
    let (status, body) = admin(http, "GET", "/admin/records", Some(ADMIN)).await;
    assert_eq!(status, 200, "{body}");
    assert!(serde_json::from_str::<Value>(&body).unwrap()["records"].is_array());
    let (_, m2) = http_get(http, "/metrics").await;
    assert_eq!(metric(&m2, "huddle_rooms"), 0.0);
    assert_eq!(metric(&m2, "huddle_admin_actions_total"), 2.0);
    server.shutdown().await;
}
