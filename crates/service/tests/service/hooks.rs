//! The application's backend (docs/HOOKS.md), played by a small HTTP server in the test on
//! 127.0.0.1: WCS REST hooks allow (bodies checked field by field), deny (the refusal as the
//! SDK sees it on the WebSocket), slow (refused in time, other clients unaffected), down
//! (refused, or let through when fail-open); signed webhooks retried with backoff until the
//! receiver is up, in order, and a bounded queue that drops its oldest.

use crate::support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use huddle_room::{MediaCommand, MediaEvent};
use huddle_service::media::{MediaPlane, MediaStarter};
use huddle_service::Config;
use serde_json::{json, Value};
use support::*;
use tokio::sync::mpsc::UnboundedSender;

const SECRET: &str = "a-webhook-secret-of-32-characters";

// ---- the backend ----

/// One request the backend received.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: HeaderMap,
    raw: Vec<u8>,
    body: Value,
    at: Instant,
}

/// How the backend answers a request: status, JSON body, delay before answering.
type Rule = dyn Fn(&str, &Value) -> (u16, Value, Duration) + Send + Sync;

struct Backend {
    addr: SocketAddr,
    state: Arc<BackendState>,
}

struct BackendState {
    received: Mutex<Vec<Received>>,
    rule: Box<Rule>,
}

impl Backend {
    /// A backend on a free port of 127.0.0.1.
    async fn start(
        rule: impl Fn(&str, &Value) -> (u16, Value, Duration) + Send + Sync + 'static,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, rule)
    }

    /// A backend on a given port (one that was refused connections until now).
    async fn start_on(
        addr: SocketAddr,
        rule: impl Fn(&str, &Value) -> (u16, Value, Duration) + Send + Sync + 'static,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        Self::serve(listener, rule)
    }

    fn serve(
        listener: tokio::net::TcpListener,
        rule: impl Fn(&str, &Value) -> (u16, Value, Duration) + Send + Sync + 'static,
    ) -> Self {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(BackendState {
            received: Mutex::new(Vec::new()),
            rule: Box::new(rule),
        });
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, state }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Requests to `path`, in arrival order.
    fn at(&self, path: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Waits (at most 10 s) until `done` holds for what was received.
    async fn wait(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "backend: {what} not received; got {:?}",
                received.iter().map(|r| &r.path).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn answer(
    State(state): State<Arc<BackendState>>,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> (StatusCode, String) {
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let path = uri.path().to_string();
    state.received.lock().unwrap().push(Received {
        path: path.clone(),
        headers,
        raw: raw.to_vec(),
        body: body.clone(),
        at: Instant::now(),
    });
    let (status, reply, delay) = (state.rule)(&path, &body);
    tokio::time::sleep(delay).await;
    (StatusCode::from_u16(status).unwrap(), reply.to_string())
}

fn ok() -> (u16, Value, Duration) {
    (200, json!({}), Duration::ZERO)
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
fn closed_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

// ---- the server ----

/// A media plane that answers every offer at once and connects (media is not under test).
struct InstantMedia {
    events: UnboundedSender<MediaEvent>,
}

impl MediaPlane for InstantMedia {
    fn send(&self, command: MediaCommand) {
        match command {
            MediaCommand::Publish { peer, .. } | MediaCommand::Play { peer, .. } => {
                let _ = self.events.send(MediaEvent::Answer {
                    peer,
                    sdp: "answer".into(),
                });
                let _ = self.events.send(MediaEvent::Connected { peer });
            }
            MediaCommand::Ingest { peer, .. } => {
                let _ = self.events.send(MediaEvent::Connected { peer });
            }
            MediaCommand::Close { .. } => {}
        }
    }
    fn local_addr(&self) -> SocketAddr {
        "127.0.0.1:9".parse().unwrap()
    }
    fn peers(&self) -> u64 {
        0
    }
    fn shutdown(&self) {}
    fn settled(&self) -> tokio::sync::oneshot::Receiver<()> {
        let (done, settled) = tokio::sync::oneshot::channel();
        let _ = done.send(());
        settled
    }
}

fn instant_media() -> MediaStarter {
    Box::new(|_, events| Ok(Arc::new(InstantMedia { events }) as Arc<dyn MediaPlane>))
}

async fn start_server(config: Config) -> huddle_service::Server {
    huddle_service::start_with_media(config, instant_media())
        .await
        .expect("server starts")
}

fn with_rest_hooks(tag: &str, url: &str) -> Config {
    Config {
        rest_hook_url: Some(url.to_string()),
        ..test_config(tag)
    }
}

fn publish(id: &str, name: &str, room: &str) -> Value {
    stream_request("publishStream", id, name, room)
}

fn play(id: &str, name: &str, room: &str) -> Value {
    stream_request("playStream", id, name, room)
}

fn stream_request(message: &str, id: &str, name: &str, room: &str) -> Value {
    json!({"message": message, "data": [{
        "mediaSessionId": id, "name": name, "published": message == "publishStream",
        "hasVideo": true, "hasAudio": false, "status": "PENDING", "record": false,
        "mediaProvider": "WebRTC", "sdp": "v=0 offer", "custom": {"name": room}}]})
}

/// The next `notifyStreamStatusEvent` (skipping room events); returns its data.
async fn stream_status<S>(client: &mut Client<S>) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let v = client.next().await;
        if v["message"] == "notifyStreamStatusEvent" {
            return v["data"][0].clone();
        }
    }
}

async fn metric(server: &huddle_service::Server, name: &str) -> u64 {
    let (_, text) = http_get(server.http_addr(), "/metrics").await;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
        .trim()
        .parse()
        .unwrap()
}

/// Waits (at most 5 s) until a counter reaches `value`.
async fn wait_metric(server: &huddle_service::Server, name: &str, value: u64) {
    let deadline = Instant::now() + STEP;
    loop {
        let now = metric(server, name).await;
        if now == value {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} is {now}, expected {value}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---- WCS REST hooks ----

#[tokio::test]
async fn allowed_connect_publish_and_play_with_their_bodies() {
    let backend = Backend::start(|path, body| {
        // The backend names the login of an anonymous client (WCS-style overwrite).
        if path == "/connect" && body["custom"]["login"] == "anon" {
            return (200, json!({"custom": {"login": "carol"}}), Duration::ZERO);
        }
        ok()
    })
    .await;
    let server = start_server(with_rest_hooks("hooks-allow", &backend.url())).await;
    let http = server.http_addr();

    let mut a = ws_connect(http, "/", "alice").await;
    let user = a.login("alice").await;
    let session_id = user["data"][0]["sessionId"].clone();
    let connect = backend
        .wait("connect", |r| r.iter().any(|r| r.path == "/connect"))
        .await;
    let c = &connect.iter().find(|r| r.path == "/connect").unwrap().body;
    assert_eq!(c["appKey"], "roomApp");
    assert_eq!(c["nodeId"], "huddle");
    assert_eq!(c["sessionId"], session_id, "the id the client was given");
    assert_eq!(c["clientVersion"], "2.0");
    assert_eq!(c["clientOSVersion"], "5.0");
    assert_eq!(c["clientBrowserVersion"], "test");
    assert_eq!(c["mediaProviders"], json!(["WebRTC", "MSE", "WSPlayer"]));
    assert_eq!(c["custom"], json!({"login": "alice"}));
    // The request is JSON and carries the time.
    let r = &backend.at("/connect")[0];
    assert_eq!(r.headers["content-type"], "application/json");
    assert!(r.headers.contains_key("x-huddle-timestamp"));

    // ESTABLISHED is told.
    let established = backend
        .wait("ConnectionStatusEvent", |r| {
            r.iter().any(|r| r.path == "/ConnectionStatusEvent")
        })
        .await;
    let e = &established
        .iter()
        .find(|r| r.path == "/ConnectionStatusEvent")
        .unwrap()
        .body;
    assert_eq!(
        (&e["status"], &e["sessionId"], &e["custom"]["login"]),
        (&json!("ESTABLISHED"), &session_id, &json!("alice"))
    );

    // Publish: asked first, then PUBLISHING is told.
    a.join("a1", "R").await;
    a.send(publish("A-pub", "R-alice-cam", "R")).await;
    assert_eq!(a.next().await["message"], "setRemoteSDP");
    assert_eq!(stream_status(&mut a).await["status"], "PUBLISHING");
    let p = &backend.at("/publishStream")[0].body;
    assert_eq!(p["appKey"], "roomApp");
    assert_eq!(p["sessionId"], session_id);
    assert_eq!(p["mediaSessionId"], "A-pub");
    assert_eq!(p["name"], "R-alice-cam");
    assert_eq!(p["published"], true);
    assert_eq!(p["hasVideo"], true);
    assert_eq!(p["hasAudio"], false);
    assert_eq!(p["status"], "NEW");
    assert_eq!(p["record"], false);
    assert_eq!(p["sdp"], "v=0 offer");
    assert_eq!(p["mediaProvider"], "WebRTC");
    assert_eq!(p["custom"], json!({"name": "R"}));
    let statuses = backend
        .wait("StreamStatusEvent PUBLISHING", |r| {
            r.iter()
                .any(|r| r.path == "/StreamStatusEvent" && r.body["status"] == "PUBLISHING")
        })
        .await;
    let s = &statuses
        .iter()
        .find(|r| r.path == "/StreamStatusEvent")
        .unwrap()
        .body;
    assert_eq!(
        (&s["mediaSessionId"], &s["name"], &s["published"]),
        (&json!("A-pub"), &json!("R-alice-cam"), &json!(true))
    );

    // An anonymous client is named by the backend's answer; it plays alice's stream.
    let mut b = ws_connect(http, "/", "anon").await;
    let user_b = b.login("anon").await;
    assert_eq!(user_b["data"][0]["custom"]["login"], "carol");
    assert_eq!(b.join("b1", "R").await[0], "alice");
    b.send(play("B-play", "R-alice-cam", "R")).await;
    assert_eq!(b.next().await["message"], "setRemoteSDP");
    assert_eq!(stream_status(&mut b).await["status"], "PLAYING");
    let q = &backend.at("/playStream")[0].body;
    assert_eq!(q["sessionId"], user_b["data"][0]["sessionId"]);
    assert_eq!(
        (
            &q["mediaSessionId"],
            &q["name"],
            &q["published"],
            &q["status"]
        ),
        (
            &json!("B-play"),
            &json!("R-alice-cam"),
            &json!(false),
            &json!("NEW")
        )
    );

    // A normal close is told as DISCONNECTED.
    a.ws.close(None).await.unwrap();
    backend
        .wait("DISCONNECTED", |r| {
            r.iter().any(|r| {
                r.path == "/ConnectionStatusEvent"
                    && r.body["status"] == "DISCONNECTED"
                    && r.body["sessionId"] == session_id
            })
        })
        .await;
    server.shutdown().await;
}

#[tokio::test]
async fn denied_connect_and_publish_are_refused_as_the_sdk_expects() {
    let backend = Backend::start(|path, body| match path {
        "/connect" if body["custom"]["login"] == "mallory" => {
            (403, json!({"info": "Banned user"}), Duration::ZERO)
        }
        "/publishStream" => (403, json!("not JSON with info"), Duration::ZERO),
        _ => ok(),
    })
    .await;
    let server = start_server(with_rest_hooks("hooks-deny", &backend.url())).await;
    let http = server.http_addr();

    // connect refused: a `fail` with the reason, then the socket is dropped (the SDK's
    // session goes FAILED); the room core never heard of it.
    let mut m = ws_connect(http, "/", "mallory").await;
    m.send(
        json!({"message":"connection","data":[{"appKey":"roomApp","custom":{"login":"mallory"}}]}),
    )
    .await;
    let fail = m.next().await;
    assert_eq!(
        fail,
        json!({"message": "fail", "data": [{"apiMethod": "ConnectionStatusEvent",
               "status": "FAILED", "info": "Banned user"}]})
    );
    m.expect_closed(STEP).await;
    assert_eq!(stats(&server).await.sessions, 0);

    // publish refused: FAILED with the reason; nothing was published.
    let mut a = ws_connect(http, "/", "alice").await;
    a.login("alice").await;
    a.join("a1", "R").await;
    a.send(publish("A-pub", "R-alice-cam", "R")).await;
    let failed = stream_status(&mut a).await;
    assert_eq!(failed["mediaSessionId"], "A-pub");
    assert_eq!(failed["status"], "FAILED");
    assert_eq!(
        failed["info"],
        "Failed by publishStream REST hook: HTTP 403"
    );
    assert_eq!(stats(&server).await.publishers, 0);
    // The session goes on: chat still works.
    a.message("a2", "R", "nobody", "hi").await;
    assert_eq!(a.next().await["message"], "DataStatusEvent");
    assert_eq!(metric(&server, "huddle_hooks_refused_total").await, 2);
    server.shutdown().await;
}

#[tokio::test]
async fn a_slow_backend_refuses_in_time_and_delays_no_one_else() {
    let timeout = Duration::from_millis(1500);
    let backend = Backend::start(|path, body| match path {
        "/connect" if body["custom"]["login"] == "slow" => (200, json!({}), Duration::from_secs(5)),
        _ => ok(),
    })
    .await;
    let config = Config {
        hook_timeout_ms: timeout.as_millis() as u64,
        ..with_rest_hooks("hooks-slow", &backend.url())
    };
    let server = start_server(config).await;
    let http = server.http_addr();

    let mut slow = ws_connect(http, "/", "slow").await;
    let asked = Instant::now();
    slow.send(
        json!({"message":"connection","data":[{"appKey":"roomApp","custom":{"login":"slow"}}]}),
    )
    .await;
    backend.wait("slow connect", |r| !r.is_empty()).await;

    // While the backend sits on the slow one, another client connects and joins at once.
    let fast_start = Instant::now();
    let mut fast = ws_connect(http, "/", "fast").await;
    fast.login("fast").await;
    fast.join("f1", "R").await;
    let fast_took = fast_start.elapsed();
    assert!(
        fast_took < Duration::from_millis(1000),
        "fast client took {fast_took:?} behind a slow one"
    );

    let fail = slow.next().await;
    let refused_after = asked.elapsed();
    assert_eq!(fail["message"], "fail", "{fail}");
    assert_eq!(fail["data"][0]["status"], "FAILED");
    let info = fail["data"][0]["info"].as_str().unwrap();
    assert!(
        info.starts_with("Failed by connect REST hook: no answer"),
        "{info}"
    );
    assert!(
        refused_after >= timeout && refused_after < timeout + Duration::from_millis(1000),
        "refused after {refused_after:?} (timeout {timeout:?})"
    );
    println!(
        "slow backend: refused after {refused_after:?} (timeout {timeout:?}); \
         another client connected and joined in {fast_took:?} meanwhile"
    );
    assert_eq!(metric(&server, "huddle_hooks_unanswered_total").await, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn a_backend_that_is_down_refuses_unless_fail_open() {
    let down = format!("http://{}", closed_port());

    let server = start_server(with_rest_hooks("hooks-down", &down)).await;
    let mut a = ws_connect(server.http_addr(), "/", "alice").await;
    a.send(
        json!({"message":"connection","data":[{"appKey":"roomApp","custom":{"login":"alice"}}]}),
    )
    .await;
    let fail = a.next().await;
    assert_eq!(fail["message"], "fail", "{fail}");
    assert_eq!(fail["data"][0]["status"], "FAILED");
    let info = fail["data"][0]["info"].as_str().unwrap();
    assert!(info.starts_with("Failed by connect REST hook"), "{info}");
    a.expect_closed(STEP).await;
    server.shutdown().await;

    let config = Config {
        rest_hook_fail_open: true,
        ..with_rest_hooks("hooks-down-open", &down)
    };
    let server = start_server(config).await;
    let mut a = ws_connect(server.http_addr(), "/", "alice").await;
    a.login("alice").await;
    a.join("a1", "R").await;
    a.send(publish("A-pub", "R-alice-cam", "R")).await;
    assert_eq!(a.next().await["message"], "setRemoteSDP");
    assert_eq!(stream_status(&mut a).await["status"], "PUBLISHING");
    server.shutdown().await;
}

// ---- signed webhooks ----

/// Checks the signature header against the body with an independent HMAC.
fn assert_signed(r: &Received) {
    use aws_lc_rs::hmac;
    let header = r.headers["x-huddle-signature"].to_str().unwrap();
    let hex = header.strip_prefix("sha256=").expect("sha256= prefix");
    let tag: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET.as_bytes());
    hmac::verify(&key, &r.raw, &tag).expect("the signature matches the body");
    let stamp: u64 = r.headers["x-huddle-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(stamp.abs_diff(r.body["createdAt"].as_u64().unwrap()) <= 2);
}

fn with_webhooks(tag: &str, url: &str) -> Config {
    Config {
        webhook_urls: vec![format!("{url}/events")],
        webhook_secret: Some(SECRET.into()),
        webhook_max_backoff_ms: 200,
        webhook_max_attempts: 100,
        ..test_config(tag)
    }
}

#[tokio::test]
async fn webhooks_are_signed_retried_and_delivered_in_order_once_the_receiver_is_up() {
    let addr = closed_port();
    let server = start_server(with_webhooks("hooks-webhooks", &format!("http://{addr}"))).await;
    let http = server.http_addr();

    // A room's whole life while the receiver is down.
    let mut a = ws_connect(http, "/", "alice").await;
    a.login("alice").await;
    a.join("a1", "R").await;
    a.send(publish("A-pub", "R-alice-cam", "R")).await;
    assert_eq!(a.next().await["message"], "setRemoteSDP");
    assert_eq!(stream_status(&mut a).await["status"], "PUBLISHING");
    a.send_data("a2", "leave", json!({"name": "R"})).await;
    a.expect_status("a2", "ACCEPTED").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(metric(&server, "huddle_hooks_delivered_total").await, 0);

    // The receiver comes up, answering 503 twice before it accepts: still delivered.
    let refusals = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let count = refusals.clone();
    let receiver = Backend::start_on(addr, move |_, _| {
        if count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 {
            (503, json!({}), Duration::ZERO)
        } else {
            ok()
        }
    })
    .await;
    let received = receiver
        .wait("room_finished", |r| {
            r.iter().any(|r| r.body["event"] == "room_finished")
        })
        .await;

    // The first event was tried three times (503, 503, 200), waiting between tries (the
    // backoff has reached its 200 ms cap while the receiver was down).
    let first: Vec<&Received> = received
        .iter()
        .filter(|r| r.body["id"] == received[0].body["id"])
        .collect();
    assert_eq!(first.len(), 3, "503, 503, then delivered");
    let gaps = [first[1].at - first[0].at, first[2].at - first[1].at];
    println!("retry gaps after 503s: {gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(150), "{gaps:?}");

    // In order, each once (the retried ones apart), each signed.
    let mut seen = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for r in &received {
        assert_eq!(r.path, "/events");
        assert_signed(r);
        if ids.insert(r.body["id"].as_str().unwrap().to_string()) {
            seen.push(r.body.clone());
        }
    }
    let names: Vec<&str> = seen.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "room_started",
            "participant_joined",
            "stream_published",
            "stream_unpublished",
            "participant_left",
            "room_finished"
        ]
    );
    assert_eq!(seen[0]["room"], json!({"name": "R"}));
    assert_eq!(seen[1]["participant"], json!({"login": "alice"}));
    assert_eq!(seen[2]["stream"]["name"], "R-alice-cam");
    assert_eq!(seen[2]["stream"]["login"], "alice");
    assert_eq!(seen[2]["stream"]["mediaSessionId"], "A-pub");
    assert_eq!(seen[5]["room"]["name"], "R");
    assert_eq!(seen[5]["room"]["record"], false);
    wait_metric(&server, "huddle_hooks_delivered_total", 6).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_full_webhook_queue_drops_its_oldest_events() {
    let addr = closed_port();
    let config = Config {
        webhook_queue_size: 3,
        ..with_webhooks("hooks-queue", &format!("http://{addr}"))
    };
    let server = start_server(config).await;
    let http = server.http_addr();

    // room_started + five participant_joined while nothing listens.
    let mut clients = Vec::new();
    for name in ["p1", "p2", "p3", "p4", "p5"] {
        let mut c = ws_connect(http, "/", name).await;
        c.login(name).await;
        c.send_data("j", "join", json!({"name": "R", "record": false}))
            .await;
        c.expect_status("j", "ACCEPTED").await;
        clients.push(c);
    }
    let dropped = metric(&server, "huddle_hooks_dropped_total").await;
    assert!(dropped >= 2, "dropped {dropped}");

    let receiver = Backend::start_on(addr, |_, _| ok()).await;
    let received = receiver
        .wait("the newest event", |r| {
            r.iter().any(|r| r.body["participant"]["login"] == "p5")
        })
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = receiver.received().len().max(received.len());
    assert_eq!(
        received as u64 + dropped,
        6,
        "every event either delivered or counted as dropped"
    );
    let logins: Vec<Value> = receiver
        .received()
        .iter()
        .filter(|r| r.body["event"] == "participant_joined")
        .map(|r| r.body["participant"]["login"].clone())
        .collect();
    assert_eq!(
        logins[logins.len() - 3..],
        [json!("p3"), json!("p4"), json!("p5")],
        "the newest three kept, in order"
    );
    server.shutdown().await;
}

// ---- RTMP encoders ----

/// Pushes a short test pattern with Debian's ffmpeg; returns whether it succeeded.
async fn rtmp_push(url: &str, secs: u32) -> bool {
    let mut child = tokio::process::Command::new("ffmpeg")
        .args(["-v", "error", "-re", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=size=320x240:rate=15:duration={secs}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:duration={secs}"))
        .args([
            "-c:v",
            "libx264",
            "-bf",
            "0",
            "-g",
            "15",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-f",
            "flv",
        ])
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg runs");
    tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("ffmpeg ends in time")
        .unwrap()
        .success()
}

#[tokio::test]
async fn an_rtmp_encoder_is_asked_for_like_a_publish() {
    let backend = Backend::start(|path, body| match path {
        "/publishStream" if body["custom"]["login"] == "mallory" => (
            403,
            json!({"info": "No encoders for mallory"}),
            Duration::ZERO,
        ),
        _ => ok(),
    })
    .await;
    let server = start(with_rest_hooks("hooks-rtmp", &backend.url())).await;
    let rtmp = server.rtmp_addr();

    assert!(
        !rtmp_push(&format!("rtmp://{rtmp}/live/R/mallory"), 2).await,
        "refused by the backend"
    );
    assert_eq!(stats(&server).await.rooms, 0, "nothing joined");

    let url = format!("rtmp://{rtmp}/live/R/alice");
    let pushing = tokio::spawn(async move { rtmp_push(&url, 3).await });
    wait_stats(&server, "the encoder joined", |s| s.participants == 1).await;
    let asked = backend.at("/publishStream");
    let alice = &asked.last().unwrap().body;
    assert_eq!(alice["appKey"], "rtmp");
    assert_eq!(alice["mediaProvider"], "RTMP");
    assert_eq!(alice["published"], true);
    assert_eq!(alice["status"], "NEW");
    assert_eq!(
        alice["name"],
        huddle_service::rtmp_edge::stream_name("R", "alice")
    );
    assert_eq!(
        alice["custom"],
        json!({"name": "R", "login": "alice", "streamKey": "alice"})
    );
    assert!(pushing.await.unwrap());
    server.shutdown().await;
}
