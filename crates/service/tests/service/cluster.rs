//! Multi-node (issue 14): two in-process Huddle nodes sharing rooms through a real
//! `redis-server` started by the test (its own port, no persistence). Proves the lease
//! rules in Redis, the relay of join / chat / leave between a session on one node and a
//! room on the other (byte-exact text), the end of relayed sessions when the owner goes and
//! the rejoin on a live node, and prints the relay's cost next to a single node's.

use crate::support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use huddle_service::Server;
use redis::AsyncCommands;
use serde_json::json;
use support::ffmpeg::push_video_to_end;
use support::*;

/// A `redis-server` of this test, stopped on drop.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    fn start() -> Self {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package, installed by scripts/install-deps.sh)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn con(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The admin API's secret on the test nodes.
const ADMIN: &str = "cluster-admin-secret";

async fn node(redis: &RedisServer, tag: &str) -> Server {
    node_with(redis, test_config(tag)).await
}

async fn node_with(redis: &RedisServer, mut config: huddle_service::Config) -> Server {
    config.redis_url = Some(redis.url());
    config.admin_secret = Some(ADMIN.into());
    // The latency runs send hundreds of commands in a row, above the per-socket rate limit.
    config.max_commands_per_sec = 10_000;
    config.command_burst = 10_000;
    let server = start(config).await;
    assert!(
        server.ready_line().contains(" node="),
        "{}",
        server.ready_line()
    );
    server
}

async fn owner_of(con: &mut redis::aio::MultiplexedConnection, room: &str) -> Option<String> {
    con.get(format!("huddle:room:{room}")).await.unwrap()
}

#[tokio::test]
async fn a_room_is_shared_by_sessions_on_two_nodes() {
    let redis = RedisServer::start();
    let mut con = redis.con().await;
    let n1 = node(&redis, "cluster-n1").await;
    let n2 = node(&redis, "cluster-n2").await;
    let (id1, id2) = (n1.node_id().unwrap(), n2.node_id().unwrap());
    assert_ne!(id1, id2);
    let heartbeat: String = con.get(format!("huddle:node:{id1}")).await.unwrap();
    assert!(
        heartbeat.contains(&n1.http_addr().to_string()),
        "{heartbeat}"
    );

    // Alice on node 1 creates the room: node 1 owns it.
    let mut alice = ws_connect(n1.http_addr(), "/", "alice").await;
    alice.login("alice").await;
    assert_eq!(alice.join("a1", "R").await, json!([]));
    assert_eq!(owner_of(&mut con, "R").await.as_deref(), Some(id1));

    // Bob on node 2 joins the same room: relayed to node 1.
    let mut bob = ws_connect(n2.http_addr(), "/", "bob").await;
    bob.login("bob").await;
    assert_eq!(bob.join("b1", "R").await, json!(["alice"]));
    assert_eq!(alice.expect_event("R", "JOINED").await, json!("bob"));
    let s1 = stats(&n1).await;
    let s2 = stats(&n2).await;
    assert_eq!(
        (s1.rooms, s1.participants),
        (1, 2),
        "the room lives on node 1"
    );
    assert_eq!((s2.rooms, s2.participants), (0, 0), "node 2 only relays");

    // Chat both ways, byte-exact.
    bob.message("b2", "R", "alice", UNICODE).await;
    bob.expect_status("b2", "ACCEPTED").await;
    let (raw, _) = alice.next_raw(STEP).await.unwrap();
    assert!(raw.contains(UNICODE), "{raw}");
    let info = serde_json::from_str::<serde_json::Value>(&raw).unwrap()["data"][0]["payload"]
        ["info"]
        .clone();
    assert_eq!(info, json!({"from": "bob", "text": UNICODE}));
    alice.message("a2", "R", "bob", "назад 👋").await;
    alice.expect_status("a2", "ACCEPTED").await;
    let info = bob.expect_event("R", "MESSAGE").await;
    assert_eq!(info, json!({"from": "alice", "text": "назад 👋"}));
    // The owner's rules apply to relayed commands: no such participant.
    bob.message("b3", "R", "carol", "hi").await;
    bob.expect_status("b3", "FAILED").await;

    // Bob leaves (relayed); Alice hears LEFT. Bob's socket closing ends his relayed session.
    bob.send_data("b4", "leave", json!({"name": "R"})).await;
    bob.expect_status("b4", "ACCEPTED").await;
    assert_eq!(alice.expect_event("R", "LEFT").await, json!("bob"));
    drop(bob);
    wait_stats(&n1, "bob's relayed session closed", |s| s.sessions == 1).await;

    // Alice leaves: the room ends on node 1 and its lease is released (next refresh).
    alice.send_data("a3", "leave", json!({"name": "R"})).await;
    alice.expect_status("a3", "ACCEPTED").await;
    let deadline = Instant::now() + Duration::from_secs(25);
    while owner_of(&mut con, "R").await.is_some() {
        assert!(Instant::now() < deadline, "lease of the ended room kept");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(alice);
    n2.shutdown().await;
    n1.shutdown().await;
    let keys: Vec<String> = con.keys("huddle:*").await.unwrap();
    assert!(
        keys.is_empty(),
        "a clean stop leaves nothing behind: {keys:?}"
    );
}

#[tokio::test]
async fn leases_are_taken_over_from_dead_nodes_only() {
    let redis = RedisServer::start();
    let mut con = redis.con().await;
    let n1 = node(&redis, "cluster-lease").await;
    let id1 = n1.node_id().unwrap().to_string();
    let mut alice = ws_connect(n1.http_addr(), "/", "alice").await;
    alice.login("alice").await;

    // A lease left by a node with no heartbeat (it died): taken over at once.
    let _: () = con
        .set_ex("huddle:room:Dead", "gone-node", 15)
        .await
        .unwrap();
    assert_eq!(alice.join("j1", "Dead").await, json!([]));
    assert_eq!(owner_of(&mut con, "Dead").await, Some(id1.clone()));
    let ttl: i64 = con.ttl("huddle:room:Dead").await.unwrap();
    assert!((1..=15).contains(&ttl), "the lease has a TTL: {ttl}");

    // A lease of a live node (heartbeat present) is respected until the node's heartbeat
    // expires; then the next join takes the room over. The "live node" here is a ghost
    // that never answers, so the join waits: the first join is relayed into the void.
    let _: () = con.set_ex("huddle:node:ghost", "{}", 2).await.unwrap();
    let _: () = con.set_ex("huddle:room:Held", "ghost", 15).await.unwrap();
    alice.send_data("j2", "join", json!({"name": "Held"})).await;
    alice.expect_silence(Duration::from_millis(500)).await;
    assert_eq!(owner_of(&mut con, "Held").await.as_deref(), Some("ghost"));
    // The ghost's heartbeat expires: the session relayed to it ends (the client sees its
    // socket close), and a new session's join takes the room.
    alice.expect_closed(Duration::from_secs(8)).await;
    let mut alice = ws_connect(n1.http_addr(), "/", "alice").await;
    alice.login("alice").await;
    assert_eq!(alice.join("j3", "Held").await, json!([]));
    assert_eq!(owner_of(&mut con, "Held").await, Some(id1.clone()));

    // The owner refreshes its leases (every 5 s, TTL 15 s): they outlive their TTL while the
    // room lives. Seen as the TTL going back up; the wait allows one refresh period plus
    // slack for a loaded machine, instead of a fixed sleep racing the refresh's phase.
    let mut lowest: i64 = con.ttl("huddle:room:Held").await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(9);
    let refreshed = loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let ttl: i64 = con.ttl("huddle:room:Held").await.unwrap();
        if ttl > lowest {
            break Some(ttl);
        }
        lowest = lowest.min(ttl);
        if tokio::time::Instant::now() > deadline {
            break None;
        }
    };
    assert!(
        refreshed.is_some(),
        "the lease was not refreshed within 9 s (TTL down to {lowest})"
    );

    // A release never deletes another node's lease.
    n1.shutdown().await;
    let _: () = con
        .set_ex("huddle:room:Other", "someone", 15)
        .await
        .unwrap();
    assert_eq!(owner_of(&mut con, "Held").await, None, "released on stop");
    assert_eq!(
        owner_of(&mut con, "Other").await.as_deref(),
        Some("someone")
    );
}

#[tokio::test]
async fn losing_the_owner_ends_relayed_sessions_and_a_rejoin_works() {
    let redis = RedisServer::start();
    let mut con = redis.con().await;
    let n1 = node(&redis, "cluster-loss1").await;
    let n2 = node(&redis, "cluster-loss2").await;
    let id2 = n2.node_id().unwrap().to_string();

    let mut alice = ws_connect(n1.http_addr(), "/", "alice").await;
    alice.login("alice").await;
    alice.join("a1", "L").await;
    let mut bob = ws_connect(n2.http_addr(), "/", "bob").await;
    bob.login("bob").await;
    assert_eq!(bob.join("b1", "L").await, json!(["alice"]));

    // The owner goes away: node 2 notices its heartbeat gone and closes Bob's socket.
    let gone = Instant::now();
    n1.shutdown().await;
    bob.expect_closed(Duration::from_secs(15)).await;
    println!(
        "cluster: relayed session ended {} ms after its room's node stopped",
        gone.elapsed().as_millis()
    );

    // Bob comes back (to node 2): the room is now node 2's.
    let mut bob = ws_connect(n2.http_addr(), "/", "bob").await;
    bob.login("bob").await;
    assert_eq!(bob.join("b2", "L").await, json!([]));
    assert_eq!(owner_of(&mut con, "L").await, Some(id2));
    drop(alice);
    n2.shutdown().await;
}

/// `GET path` on `server`'s admin API, as JSON.
async fn admin_json(server: &Server, path: &str) -> serde_json::Value {
    let (status, body) = admin(server.http_addr(), "GET", path, Some(ADMIN)).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// Polls `path` (at most `secs`) until `done` holds for its JSON; returns that JSON.
async fn wait_admin(
    server: &Server,
    path: &str,
    secs: u64,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = admin_json(server, path).await;
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{path} never matched: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_admin_api_and_records_say_which_node_holds_what() {
    let redis = RedisServer::start();
    let n1 = node(&redis, "cluster-which1").await;
    let n2 = node(&redis, "cluster-which2").await;
    let (id1, id2) = (n1.node_id().unwrap(), n2.node_id().unwrap());

    // A recorded room on node 1, with Bob relayed from node 2 and an encoder on node 1.
    let mut alice = ws_connect(n1.http_addr(), "/", "alice").await;
    alice.login("alice").await;
    alice
        .send_data("a1", "join", json!({"name": "Rec", "record": true}))
        .await;
    alice.expect_status("a1", "ACCEPTED").await;
    alice.expect_event("Rec", "STATE").await;
    let mut bob = ws_connect(n2.http_addr(), "/", "bob").await;
    bob.login("bob").await;
    assert_eq!(bob.join("b1", "Rec").await, json!(["alice"]));
    let pushed = push_video_to_end(&format!("rtmp://{}/live/Rec/enc", n1.rtmp_addr()), 2).await;
    assert!(pushed.success(), "the push went through: {pushed}");

    // /admin/nodes on node 2: both nodes, with their reachable addresses and node 1's room.
    // (Each owner rewrites its list of rooms every 5 s.)
    let nodes = wait_admin(&n2, "/admin/nodes", 15, |v| {
        v["nodes"].as_array().is_some_and(|nodes| {
            nodes
                .iter()
                .any(|n| n["id"] == id1 && n["rooms"]["Rec"]["participants"] == 2)
        })
    })
    .await;
    assert_eq!(
        (&nodes["clustered"], &nodes["node"]),
        (&json!(true), &json!(id2))
    );
    let listed: Vec<&str> = nodes["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    let mut both = vec![id1, id2];
    both.sort();
    assert_eq!(listed, both, "{nodes}");
    let n1_entry = nodes["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id1)
        .unwrap();
    assert_eq!(n1_entry["url"], format!("http://{}", n1.http_addr()));
    assert_eq!(n1_entry["self"], false);
    assert!(
        n1_entry["last_heartbeat_unix_ms"].as_u64().unwrap() > 0,
        "{n1_entry}"
    );
    // Alice and Bob are in the room (the encoder left when its push ended).
    assert_eq!(n1_entry["rooms"]["Rec"]["participants"], 2, "{n1_entry}");
    let n2_entry = nodes["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id2)
        .unwrap();
    assert_eq!(
        (&n2_entry["self"], &n2_entry["rooms"]),
        (&json!(true), &json!({}))
    );

    // /admin/rooms on node 2: no room of its own, node 1's room with its owner.
    let rooms = admin_json(&n2, "/admin/rooms").await;
    assert_eq!(rooms["rooms"], json!([]));
    let remote = &rooms["remote_rooms"][0];
    assert_eq!(
        (&remote["name"], &remote["node"]),
        (&json!("Rec"), &json!(id1)),
        "{rooms}"
    );
    assert_eq!(remote["participants"], 2);
    // ... and on node 1 the room is its own, named as such.
    let rooms = admin_json(&n1, "/admin/rooms").await;
    assert_eq!(
        (&rooms["rooms"][0]["name"], &rooms["rooms"][0]["node"]),
        (&json!("Rec"), &json!(id1))
    );
    assert_eq!(rooms["remote_rooms"], json!([]));

    // The encoder's recording stays on node 1 and says so, in /api/records and the admin API.
    let (status, body) = http_get(n1.http_addr(), "/api/records").await;
    assert_eq!(status, 200, "{body}");
    let records: serde_json::Value = serde_json::from_str(&body).unwrap();
    let file = records
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"].as_str().unwrap().contains("Rec-enc-rtmp"))
        .unwrap_or_else(|| panic!("the encoder's recording is listed on node 1: {records}"));
    assert_eq!(file["node"], id1);
    let (_, body) = http_get(n2.http_addr(), "/api/records").await;
    assert_eq!(body, "[]", "node 2's disk holds no recording");
    let admin_records = admin_json(&n1, "/admin/records").await;
    assert_eq!(admin_records["node"], id1);
    assert!(admin_records["records"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["node"] == id1));

    drop((alice, bob));
    n2.shutdown().await;
    n1.shutdown().await;
}

#[tokio::test]
async fn a_single_node_names_no_node() {
    let server = start(huddle_service::Config {
        admin_secret: Some(ADMIN.into()),
        ..test_config("cluster-single")
    })
    .await;
    let nodes = admin_json(&server, "/admin/nodes").await;
    assert_eq!(nodes, json!({"clustered": false, "nodes": []}));
    let mut alice = ws_connect(server.http_addr(), "/", "alice").await;
    alice.login("alice").await;
    alice.join("a1", "Solo").await;
    let rooms = admin_json(&server, "/admin/rooms").await;
    assert!(rooms["rooms"][0].get("node").is_none(), "{rooms}");
    assert!(rooms.get("remote_rooms").is_none(), "{rooms}");
    drop(alice);
    server.shutdown().await;
}

/// A WCS REST hook backend: records each request's path and JSON body, answers 200 `{}`.
struct HookBackend {
    url: String,
    received: std::sync::Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>,
}

impl HookBackend {
    async fn start() -> Self {
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let store = received.clone();
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri, body: String| {
            let store = store.clone();
            async move {
                let json = serde_json::from_str(&body).unwrap_or_default();
                store.lock().unwrap().push((uri.path().to_string(), json));
                "{}"
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, received }
    }

    /// Bodies received at `path`.
    fn at(&self, path: &str) -> Vec<serde_json::Value> {
        let received = self.received.lock().unwrap();
        received
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, b)| b.clone())
            .collect()
    }
}

#[tokio::test]
async fn a_relayed_stream_status_is_told_to_the_rest_hook_by_the_edge() {
    let redis = RedisServer::start();
    let backend = HookBackend::start().await;
    let with_hooks = |tag: &str| huddle_service::Config {
        rest_hook_url: Some(backend.url.clone()),
        ..test_config(tag)
    };
    let n1 = node_with(&redis, with_hooks("cluster-hook1")).await;
    let n2 = node_with(&redis, with_hooks("cluster-hook2")).await;
    let mut alice = ws_connect(n1.http_addr(), "/", "alice").await;
    alice.login("alice").await;
    alice.join("a1", "H").await;
    let mut bob = ws_connect(n2.http_addr(), "/", "bob").await;
    bob.login("bob").await;
    assert_eq!(bob.join("b1", "H").await, json!(["alice"]));

    // Bob publishes in node 1's room through node 2. The offer is no SDP: node 1's media
    // plane fails the stream, a status that travels back to node 2 like any other.
    bob.send(json!({"message": "publishStream", "data": [{
        "mediaSessionId": "bob-cam", "name": "H-bob-cam", "published": true,
        "hasVideo": true, "hasAudio": false, "status": "PENDING", "record": false,
        "mediaProvider": "WebRTC", "sdp": "v=0 offer", "custom": {"name": "H"}}]}))
        .await;
    let status = loop {
        let v = bob.next().await;
        if v["message"] == "notifyStreamStatusEvent" {
            break v["data"][0].clone();
        }
    };
    assert_eq!(
        (&status["mediaSessionId"], &status["status"]),
        (&json!("bob-cam"), &json!("FAILED"))
    );

    // The backend hears it once, from node 2 (the edge, whose hooks share the session's
    // sessionId and appKey): as it hears Bob's connection and publish request.
    let deadline = Instant::now() + Duration::from_secs(10);
    let event = loop {
        let events: Vec<_> = backend
            .at("/StreamStatusEvent")
            .into_iter()
            .filter(|e| e["mediaSessionId"] == "bob-cam")
            .collect();
        if let Some(event) = events.first() {
            break event.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no StreamStatusEvent for the relayed stream"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(event["status"], "FAILED", "{event}");
    assert_eq!(
        (&event["name"], &event["published"]),
        (&json!("H-bob-cam"), &json!(true))
    );
    let bob_connect = backend
        .at("/connect")
        .into_iter()
        .find(|c| c["custom"]["login"] == "bob")
        .expect("bob's connect asked");
    assert_eq!(event["sessionId"], bob_connect["sessionId"], "{event}");
    assert_eq!(event["appKey"], bob_connect["appKey"]);
    let asked = backend.at("/publishStream");
    assert_eq!(asked.len(), 1, "asked once, by the edge: {asked:?}");
    assert_eq!(asked[0]["sessionId"], bob_connect["sessionId"]);
    // Never twice (the owner does not tell it as well).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let told = backend.at("/StreamStatusEvent");
    let for_bob = told
        .iter()
        .filter(|e| e["mediaSessionId"] == "bob-cam")
        .count();
    assert_eq!(for_bob, 1, "{told:?}");

    drop((alice, bob));
    n2.shutdown().await;
    n1.shutdown().await;
}

/// Milliseconds at the given percentile of sorted samples.
fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn summary(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (pct(&samples, 0.5), pct(&samples, 0.95))
}

/// Chat one way `n` times: time from the send to the receiver's MESSAGE, in ms.
async fn chat_latency(
    from: &mut Client<tokio::net::TcpStream>,
    to: &mut Client<tokio::net::TcpStream>,
    room: &str,
    n: usize,
) -> Vec<f64> {
    let mut samples = Vec::new();
    for i in 0..n {
        let at = Instant::now();
        from.message(&format!("m{i}"), room, &to.name.clone(), "ping")
            .await;
        to.expect_event(room, "MESSAGE").await;
        samples.push(at.elapsed().as_secs_f64() * 1000.0);
        from.expect_status(&format!("m{i}"), "ACCEPTED").await;
    }
    samples
}

/// Joins `n` rooms created by `creator`: time from the join to its STATE, in ms.
async fn join_latency(
    creator: &mut Client<tokio::net::TcpStream>,
    joiner: &mut Client<tokio::net::TcpStream>,
    tag: &str,
    n: usize,
) -> Vec<f64> {
    let mut samples = Vec::new();
    for i in 0..n {
        let room = format!("{tag}{i}");
        creator.join(&format!("c{tag}{i}"), &room).await;
        let at = Instant::now();
        joiner.join(&format!("j{tag}{i}"), &room).await;
        samples.push(at.elapsed().as_secs_f64() * 1000.0);
        creator.expect_event(&room, "JOINED").await;
    }
    samples
}

/// The relay's cost, printed next to the same exchanges on one node (same run, same load).
#[tokio::test]
async fn relay_overhead_on_loopback() {
    const CHATS: usize = 200;
    const JOINS: usize = 30;
    let redis = RedisServer::start();
    let n1 = node(&redis, "cluster-cost1").await;
    let n2 = node(&redis, "cluster-cost2").await;
    let mut alice = ws_connect(n1.http_addr(), "/", "alice").await;
    alice.login("alice").await;
    let mut local = ws_connect(n1.http_addr(), "/", "carol").await;
    local.login("carol").await;
    let mut remote = ws_connect(n2.http_addr(), "/", "bob").await;
    remote.login("bob").await;

    let local_join = summary(join_latency(&mut alice, &mut local, "LJ", JOINS).await);
    let remote_join = summary(join_latency(&mut alice, &mut remote, "RJ", JOINS).await);
    alice.join("a", "C").await;
    local.join("l", "C").await;
    alice.expect_event("C", "JOINED").await;
    remote.join("r", "C").await;
    alice.expect_event("C", "JOINED").await;
    local.expect_event("C", "JOINED").await;
    let local_chat = summary(chat_latency(&mut local, &mut alice, "C", CHATS).await);
    let remote_chat = summary(chat_latency(&mut remote, &mut alice, "C", CHATS).await);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("cluster relay overhead (loopback, load {})", load.trim());
    println!(
        "  chat ms p50/p95: one node {:.2}/{:.2}, relayed {:.2}/{:.2} -> added p50 {:.2}",
        local_chat.0,
        local_chat.1,
        remote_chat.0,
        remote_chat.1,
        remote_chat.0 - local_chat.0
    );
    println!(
        "  join ms p50/p95: one node {:.2}/{:.2}, relayed {:.2}/{:.2} -> added p50 {:.2}",
        local_join.0,
        local_join.1,
        remote_join.0,
        remote_join.1,
        remote_join.0 - local_join.0
    );
    drop((alice, local, remote));
    n2.shutdown().await;
    n1.shutdown().await;
}
