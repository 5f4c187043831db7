//! Which node holds what, for the admin API and `/api/records` (`docs/SCALING.md`): each
//! record and room of this node is tagged with its id when it is part of a cluster
//! (`redis_url` set; nothing changes on a single node), `GET /admin/nodes` lists the live
//! nodes from the Redis registry, and `GET /admin/rooms` adds the rooms other nodes own.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use huddle_record::RecordingEntry;
use serde::Serialize;
use serde_json::json;

use crate::server::Shared;

/// A recording with the node whose disk holds it (absent on a single node).
#[derive(Serialize)]
pub(crate) struct NodeRecord {
    #[serde(flatten)]
    entry: RecordingEntry,
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<String>,
}

/// `entries` tagged with this node's id (when clustered).
pub(crate) fn tag_records(shared: &Shared, entries: Vec<RecordingEntry>) -> Vec<NodeRecord> {
    let node = node_id(shared);
    entries
        .into_iter()
        .map(|entry| NodeRecord {
            entry,
            node: node.clone(),
        })
        .collect()
}

/// This node's id in its cluster; `None` on a single node.
pub(crate) fn node_id(shared: &Shared) -> Option<String> {
    shared.cluster.as_ref().map(|c| c.node_id().to_string())
}

/// A room another node owns, as its owner last published it.
#[derive(Serialize)]
struct RemoteRoom {
    name: String,
    /// The owner.
    node: String,
    /// The owner's `public_url` (its own admin API has the room's details).
    node_url: String,
    participants: usize,
    streams: usize,
}

/// The rooms owned by other nodes, sorted by name: `None` on a single node, `Err` when
/// Redis does not answer.
pub(crate) async fn remote_rooms(shared: &Shared) -> Option<Result<serde_json::Value, String>> {
    let cluster = shared.cluster.as_ref()?;
    let nodes = match cluster.nodes().await {
        Ok(nodes) => nodes,
        Err(e) => return Some(Err(e)),
    };
    let mut rooms: Vec<RemoteRoom> = nodes
        .into_iter()
        .filter(|n| n.info.id != cluster.node_id())
        .flat_map(|n| {
            let (node, node_url) = (n.info.id, n.info.url);
            n.rooms.into_iter().map(move |(name, load)| RemoteRoom {
                name,
                node: node.clone(),
                node_url: node_url.clone(),
                participants: load.participants,
                streams: load.streams,
            })
        })
        .collect();
    rooms.sort_by(|a, b| (&a.name, &a.node).cmp(&(&b.name, &b.node)));
    Some(Ok(json!(rooms)))
}

/// `GET /admin/nodes`: the cluster's live nodes (address, media address, last heartbeat,
/// rooms owned); on a single node `{"clustered": false, "nodes": []}`.
pub(crate) async fn nodes(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(refusal) = crate::admin::denied(&shared, &headers) {
        return refusal;
    }
    let Some(cluster) = &shared.cluster else {
        return Json(json!({"clustered": false, "nodes": []})).into_response();
    };
    match cluster.nodes().await {
        Ok(nodes) => {
            let me = cluster.node_id();
            let nodes: Vec<serde_json::Value> = nodes
                .into_iter()
                .map(|n| {
                    let this = n.info.id == me;
                    let mut v = json!(n);
                    v["self"] = this.into();
                    v
                })
                .collect();
            Json(json!({"clustered": true, "node": me, "nodes": nodes})).into_response()
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": e}))).into_response(),
    }
}
