//! The node registry: every node keeps `huddle:node:<id>` (its [`NodeInfo`]) alive with a
//! TTL; a node whose key is gone is dead for the others (its leases can be taken over, the
//! sessions relayed to it are failed). The sorted set `huddle:nodes` names the registered
//! nodes with their last heartbeat, so the registry can be listed without a key scan; a
//! member whose key is gone is removed by whoever lists it.

use std::collections::HashMap;

use redis::aio::ConnectionManager;
use redis::RedisResult;

use super::wire::{node_key, nodes_key, rooms_of_key, NodeInfo, RoomLoad};

/// Seconds a heartbeat key lives without a refresh.
pub(crate) const HEARTBEAT_TTL_SECS: u64 = 10;
/// Seconds between two refreshes: three tries before the key expires.
pub(crate) const HEARTBEAT_EVERY_SECS: u64 = 3;

/// Writes (or refreshes) this node's heartbeat key and its entry in the node set.
pub(crate) async fn beat(
    con: &mut ConnectionManager,
    info: &NodeInfo,
    now_unix_ms: u64,
) -> RedisResult<()> {
    let json = serde_json::to_string(info).unwrap_or_default();
    redis::pipe()
        .atomic()
        .cmd("SET")
        .arg(node_key(&info.id))
        .arg(json)
        .arg("EX")
        .arg(HEARTBEAT_TTL_SECS)
        .ignore()
        .cmd("ZADD")
        .arg(nodes_key())
        .arg(now_unix_ms)
        .arg(&info.id)
        .ignore()
        .query_async(con)
        .await
}

/// Removes this node's keys (clean stop): the others see it gone at once.
pub(crate) async fn remove(con: &mut ConnectionManager, node: &str) -> RedisResult<()> {
    redis::pipe()
        .atomic()
        .cmd("DEL")
        .arg(node_key(node))
        .arg(rooms_of_key(node))
        .ignore()
        .cmd("ZREM")
        .arg(nodes_key())
        .arg(node)
        .ignore()
        .query_async(con)
        .await
}

/// Whether `node`'s heartbeat key exists.
pub(crate) async fn alive(con: &mut ConnectionManager, node: &str) -> RedisResult<bool> {
    redis::cmd("EXISTS")
        .arg(node_key(node))
        .query_async(con)
        .await
}

/// Replaces the list of rooms `node` owns (with the lease's TTL: a dead node's list goes
/// with its leases).
pub(crate) async fn publish_rooms(
    con: &mut ConnectionManager,
    node: &str,
    rooms: &[(String, RoomLoad)],
    ttl_secs: u64,
) -> RedisResult<()> {
    let key = rooms_of_key(node);
    let mut pipe = redis::pipe();
    pipe.atomic().cmd("DEL").arg(&key).ignore();
    if !rooms.is_empty() {
        let fields: Vec<(&str, String)> = rooms
            .iter()
            .map(|(name, load)| {
                let json = serde_json::to_string(load).unwrap_or_default();
                (name.as_str(), json)
            })
            .collect();
        pipe.cmd("HSET").arg(&key).arg(fields).ignore();
        pipe.cmd("EXPIRE").arg(&key).arg(ttl_secs).ignore();
    }
    pipe.query_async(con).await
}

/// One live node as the registry knows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeEntry {
    #[serde(flatten)]
    pub info: NodeInfo,
    /// When its heartbeat was last written (Unix ms).
    pub last_heartbeat_unix_ms: u64,
    /// The rooms it owns, by name (as of its last lease refresh, every 5 s).
    pub rooms: HashMap<String, RoomLoad>,
}

/// The live nodes, sorted by id; dead members of the node set are removed on the way.
pub(crate) async fn list(con: &mut ConnectionManager) -> RedisResult<Vec<NodeEntry>> {
    let members: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg(nodes_key())
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(con)
        .await?;
    let mut nodes = Vec::with_capacity(members.len());
    for (id, last_beat) in members {
        let info: Option<String> = redis::cmd("GET")
            .arg(node_key(&id))
            .query_async(con)
            .await?;
        let Some(info) = info.and_then(|j| serde_json::from_str::<NodeInfo>(&j).ok()) else {
            // No heartbeat (dead), or a key this version cannot read: not a live node.
            redis::cmd("ZREM")
                .arg(nodes_key())
                .arg(&id)
                .query_async::<i64>(con)
                .await?;
            continue;
        };
        let raw: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(rooms_of_key(&id))
            .query_async(con)
            .await?;
        let rooms = raw
            .into_iter()
            .filter_map(|(name, json)| Some((name, serde_json::from_str(&json).ok()?)))
            .collect();
        nodes.push(NodeEntry {
            info,
            last_heartbeat_unix_ms: last_beat as u64,
            rooms,
        });
    }
    nodes.sort_by(|a, b| a.info.id.cmp(&b.info.id));
    Ok(nodes)
}
