//! Multi-node (issue 14): two in-process Huddle nodes sharing rooms through a real
//! `redis-server` started by the test (its own port, no persistence). Proves the lease
//! rules in Redis, the relay of join / chat / leave between a session on one node and a
//! room on the other (byte-exact text), the end of relayed sessions when the owner goes and
//! the rejoin on a live node, and prints the relay's cost next to a single node's.

mod support;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use huddle_service::Server;
use redis::AsyncCommands;
use serde_json::json;
use support::*;

/// A `redis-server` of this test, stopped on drop.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
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

async fn node(redis: &RedisServer, tag: &str) -> Server {
    let mut config = test_config(tag);
    config.redis_url = Some(redis.url());
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

    // The owner refreshes its leases: they outlive their TTL while the room lives.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let ttl: i64 = con.ttl("huddle:room:Held").await.unwrap();
    assert!(ttl > 10, "refreshed (every 5 s, TTL 15 s): {ttl}");

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
