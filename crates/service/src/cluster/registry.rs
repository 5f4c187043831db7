//! The node registry: every node keeps `huddle:node:<id>` (its [`NodeInfo`]) alive with a
//! TTL; a node whose key is gone is dead for the others (its leases can be taken over, the
//! sessions relayed to it are failed).

use redis::aio::ConnectionManager;
use redis::RedisResult;

use super::wire::{node_key, NodeInfo};

/// Seconds a heartbeat key lives without a refresh.
pub(crate) const HEARTBEAT_TTL_SECS: u64 = 10;
/// Seconds between two refreshes: three tries before the key expires.
pub(crate) const HEARTBEAT_EVERY_SECS: u64 = 3;

/// Writes (or refreshes) this node's heartbeat key.
pub(crate) async fn beat(con: &mut ConnectionManager, info: &NodeInfo) -> RedisResult<()> {
    let json = serde_json::to_string(info).unwrap_or_default();
    redis::cmd("SET")
        .arg(node_key(&info.id))
        .arg(json)
        .arg("EX")
        .arg(HEARTBEAT_TTL_SECS)
        .query_async(con)
        .await
}

/// Removes this node's key (clean stop): the others see it gone at once.
pub(crate) async fn remove(con: &mut ConnectionManager, node: &str) -> RedisResult<()> {
    redis::cmd("DEL").arg(node_key(node)).query_async(con).await
}

/// Whether `node`'s heartbeat key exists.
pub(crate) async fn alive(con: &mut ConnectionManager, node: &str) -> RedisResult<bool> {
    redis::cmd("EXISTS")
        .arg(node_key(node))
        .query_async(con)
        .await
}
