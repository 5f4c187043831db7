//! Several Huddle nodes sharing rooms through Redis (on only with `redis_url`).
//!
//! LiveKit's model, kept small: Redis holds a registry of live nodes ([`registry`]) and, per
//! room, which node owns it ([`lease`]). The SDK's WebSocket lands on any node (the "edge");
//! the session's room-scoped commands — join, leave, chat, publish/play/stop of the room's
//! streams — are relayed over pub/sub to the room's owner ([`edge`]), which runs them
//! through its own room core as for a local session ([`owner`]) and relays the events back.
//! The owner's SDP answers carry the owner's candidates, so media goes straight to it.
//! Session-level messages (connection, ping) stay on the edge. [`tasks`] keeps the heartbeat
//! and leases alive and fails the sessions relayed to a node that died.

mod edge;
mod lease;
mod owner;
mod registry;
mod tasks;
mod wire;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

pub(crate) use edge::{EdgeSession, Relayed, Route};
pub use registry::NodeEntry;
pub use wire::NodeInfo;

use crate::actor::ActorMsg;

/// Where the relay of one edge session goes, and the nodes it opened the session on.
struct EdgeRoute {
    tx: mpsc::Sender<Relayed>,
    nodes: HashSet<String>,
}

/// This node's membership of the cluster. Shared by the sessions (edge side) and the
/// pub/sub task (owner side).
pub struct Cluster {
    me: NodeInfo,
    con: ConnectionManager,
    client: redis::Client,
    actor: mpsc::Sender<ActorMsg>,
    max_queued_bytes: usize,
    /// Sessions of this node relayed elsewhere, by session id.
    edges: Mutex<HashMap<u64, EdgeRoute>>,
    /// Sessions of other nodes run here: (edge node, its session id) → our session id.
    remotes: Mutex<HashMap<(String, u64), huddle_room::SessionId>>,
    /// Rooms this node claimed, with when (a fresh claim is kept even before its room
    /// exists in the room core).
    leases: Mutex<HashMap<String, Instant>>,
    next_remote: AtomicU64,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// Now, in ms since the Unix epoch (the heartbeat's time stamp).
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Session ids of sessions relayed from other nodes start here, far above the local ones
/// (which count from 1), so the two never meet in the room core.
const REMOTE_SESSION_BASE: u64 = 1 << 48;

impl Cluster {
    /// Connects to Redis, registers this node and starts its tasks.
    pub(crate) async fn start(
        url: &str,
        me: NodeInfo,
        actor: mpsc::Sender<ActorMsg>,
        max_queued_bytes: usize,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Arc<Cluster>, String> {
        let client = redis::Client::open(url).map_err(|e| format!("redis_url {url}: {e}"))?;
        let mut con = client
            .get_connection_manager()
            .await
            .map_err(|e| format!("cannot reach redis at {url}: {e}"))?;
        registry::beat(&mut con, &me, unix_ms())
            .await
            .map_err(|e| format!("redis at {url}: {e}"))?;
        let cluster = Arc::new(Cluster {
            me,
            con,
            client,
            actor,
            max_queued_bytes,
            edges: Mutex::default(),
            remotes: Mutex::default(),
            leases: Mutex::default(),
            next_remote: AtomicU64::new(REMOTE_SESSION_BASE),
            tasks: Mutex::default(),
        });
        // Subscribed before the first session can relay: no event is published to a
        // channel nobody listens to yet.
        let subscriber = tasks::subscribe(cluster.clone(), shutdown.clone()).await?;
        let handles = vec![
            subscriber,
            tokio::spawn(tasks::heartbeat(cluster.clone(), shutdown.clone())),
            tokio::spawn(tasks::keep_leases(cluster.clone(), shutdown.clone())),
            tokio::spawn(tasks::watch_nodes(cluster.clone(), shutdown)),
        ];
        *cluster.tasks.lock().unwrap() = handles;
        info!(node = %cluster.me.id, "joined the cluster");
        Ok(cluster)
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.me.id
    }

    /// The live nodes of the cluster (this one included), with the rooms each owns.
    pub(crate) async fn nodes(&self) -> Result<Vec<NodeEntry>, String> {
        registry::list(&mut self.con.clone())
            .await
            .map_err(|e| format!("cluster unavailable: {e}"))
    }

    /// The owner of `room`: this node when it claims it now (free room, or its owner's
    /// heartbeat is gone), else the live owner.
    pub(crate) async fn claim(&self, room: &str) -> Result<String, String> {
        let mut con = self.con.clone();
        let owner = lease::claim(&mut con, room, &self.me.id)
            .await
            .map_err(|e| format!("cluster unavailable: {e}"))?;
        if owner == self.me.id {
            self.leases
                .lock()
                .unwrap()
                .entry(room.to_string())
                .or_insert_with(Instant::now);
        }
        Ok(owner)
    }

    /// Clean stop: the tasks end, this node's leases are released and its heartbeat key
    /// removed, so the others take its rooms over at once.
    pub(crate) async fn stop(&self) {
        for task in std::mem::take(&mut *self.tasks.lock().unwrap()) {
            task.abort();
        }
        let mut con = self.con.clone();
        let rooms: Vec<String> = self
            .leases
            .lock()
            .unwrap()
            .drain()
            .map(|(r, _)| r)
            .collect();
        for room in rooms {
            if let Err(e) = lease::release(&mut con, &room, &self.me.id).await {
                warn!(%room, error = %e, "lease not released");
            }
        }
        if let Err(e) = registry::remove(&mut con, &self.me.id).await {
            warn!(error = %e, "heartbeat key not removed");
        }
        info!(node = %self.me.id, "left the cluster");
    }
}
