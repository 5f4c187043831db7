//! The cluster's background tasks: the pub/sub reader, the heartbeat, the owner's lease
//! refresh, and the watch over the nodes this one relays to or for.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::RedisResult;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::wire::{events_channel, inputs_channel, RoomLoad, ToEdge, ToOwner};
use super::{lease, registry, Cluster};
use crate::actor::ActorMsg;

/// Seconds between two lease refreshes (a third of the lease's life).
const LEASE_REFRESH_SECS: u64 = lease::LEASE_TTL_SECS / 3;
/// A claimed lease whose room has not appeared in the room core after this long is
/// released (the join that claimed it was refused, or the room ended).
const UNUSED_LEASE: Duration = Duration::from_secs(5);
/// How often the nodes this one depends on are checked.
const WATCH_EVERY: Duration = Duration::from_secs(2);

impl Cluster {
    pub(super) async fn publish<T: serde::Serialize>(
        &self,
        channel: &str,
        message: &T,
    ) -> RedisResult<()> {
        let json = serde_json::to_string(message).unwrap_or_default();
        redis::cmd("PUBLISH")
            .arg(channel)
            .arg(json)
            .query_async::<i64>(&mut self.con.clone())
            .await
            .map(|_| ())
    }
}

/// Subscribes to this node's two channels (before returning, so a failure stops the start)
/// and reads them for as long as the node runs, reconnecting when the connection drops.
pub(super) async fn subscribe(
    cluster: Arc<Cluster>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<JoinHandle<()>, String> {
    let first = open_pubsub(&cluster)
        .await
        .map_err(|e| format!("redis subscribe: {e}"))?;
    Ok(tokio::spawn(async move {
        let mut pubsub = Some(first);
        loop {
            let stream = match pubsub.take() {
                Some(p) => p,
                None => match open_pubsub(&cluster).await {
                    Ok(p) => p,
                    Err(e) => {
                        warn!(error = %e, "redis subscribe failed; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                            _ = shutdown.wait_for(|s| *s) => return,
                        }
                    }
                },
            };
            tokio::select! {
                () = read(&cluster, stream) => warn!("redis subscription lost; reconnecting"),
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    }))
}

async fn open_pubsub(cluster: &Cluster) -> RedisResult<redis::aio::PubSub> {
    let mut pubsub = cluster.client.get_async_pubsub().await?;
    pubsub.subscribe(inputs_channel(&cluster.me.id)).await?;
    pubsub.subscribe(events_channel(&cluster.me.id)).await?;
    Ok(pubsub)
}

/// Handles the messages in the order they arrive (per edge session, the order it sent).
async fn read(cluster: &Arc<Cluster>, pubsub: redis::aio::PubSub) {
    let inputs = inputs_channel(&cluster.me.id);
    let mut messages = pubsub.into_on_message();
    while let Some(msg) = messages.next().await {
        let payload = msg.get_payload_bytes();
        if msg.get_channel_name() == inputs {
            match serde_json::from_slice::<ToOwner>(payload) {
                Ok(envelope) => cluster.handle_from_edge(envelope).await,
                Err(e) => warn!(error = %e, "bad relayed input dropped"),
            }
        } else {
            match serde_json::from_slice::<ToEdge>(payload) {
                Ok(event) => cluster.deliver_to_edge(event),
                Err(e) => warn!(error = %e, "bad relayed event dropped"),
            }
        }
    }
}

/// Refreshes this node's heartbeat key.
pub(super) async fn heartbeat(cluster: Arc<Cluster>, mut shutdown: watch::Receiver<bool>) {
    let every = Duration::from_secs(registry::HEARTBEAT_EVERY_SECS);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let now = super::unix_ms();
        if let Err(e) = registry::beat(&mut cluster.con.clone(), &cluster.me, now).await {
            warn!(error = %e, "heartbeat failed");
        }
    }
}

/// Keeps the leases of the rooms this node's room core holds (whoever created them: a
/// relayed join, a local one, an RTMP encoder), and releases those of rooms that ended.
pub(super) async fn keep_leases(cluster: Arc<Cluster>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(LEASE_REFRESH_SECS)) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let (tx, rx) = oneshot::channel();
        if cluster.actor.send(ActorMsg::Snapshot(tx)).await.is_err() {
            return;
        }
        let Ok(snapshot) = rx.await else { return };
        let loads: Vec<(String, RoomLoad)> = snapshot
            .rooms
            .into_iter()
            .map(|r| {
                let load = RoomLoad {
                    participants: r.participants.len(),
                    streams: r.streams.len(),
                };
                (r.name, load)
            })
            .collect();
        let live: HashSet<String> = loads.iter().map(|(name, _)| name.clone()).collect();
        let mut con = cluster.con.clone();
        let mut owned = Vec::with_capacity(loads.len());
        for (room, load) in loads {
            match lease::refresh(&mut con, &room, &cluster.me.id).await {
                Ok(owner) if owner == cluster.me.id => {
                    cluster
                        .leases
                        .lock()
                        .unwrap()
                        .entry(room.clone())
                        .or_insert_with(std::time::Instant::now);
                    owned.push((room, load));
                }
                Ok(owner) => warn!(%room, %owner, "room also lives on another node"),
                Err(e) => warn!(%room, error = %e, "lease refresh failed"),
            }
        }
        let ttl = lease::LEASE_TTL_SECS;
        if let Err(e) = registry::publish_rooms(&mut con, &cluster.me.id, &owned, ttl).await {
            warn!(error = %e, "room list not published");
        }
        let stale: Vec<String> = {
            let leases = cluster.leases.lock().unwrap();
            leases
                .iter()
                .filter(|(room, at)| !live.contains(*room) && at.elapsed() >= UNUSED_LEASE)
                .map(|(room, _)| room.clone())
                .collect()
        };
        for room in stale {
            cluster.leases.lock().unwrap().remove(&room);
            match lease::release(&mut con, &room, &cluster.me.id).await {
                Ok(released) => debug!(%room, released, "lease of an ended room released"),
                Err(e) => warn!(%room, error = %e, "lease release failed"),
            }
        }
    }
}

/// Fails what depends on a node whose heartbeat key is gone: this node's sessions relayed to
/// it, and its sessions relayed here.
pub(super) async fn watch_nodes(cluster: Arc<Cluster>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(WATCH_EVERY) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let mut nodes = cluster.edge_nodes();
        nodes.extend(cluster.remote_edges());
        let mut con = cluster.con.clone();
        for node in nodes {
            match registry::alive(&mut con, &node).await {
                Ok(true) => {}
                Ok(false) => {
                    warn!(%node, "node gone from the registry");
                    cluster.edge_node_lost(&node);
                    cluster.owner_edge_lost(&node).await;
                }
                Err(e) => warn!(%node, error = %e, "node check failed"),
            }
        }
    }
}
