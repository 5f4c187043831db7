//! The edge side: one SDK session on this node whose rooms may be owned elsewhere.
//!
//! A `join` asks Redis who owns the room (claiming it when free); from then on the
//! session's commands for that room, and for the streams it publishes or plays there, go
//! to the owner as the client's own frames. The first command for an owner opens the
//! session there with the login this node established. Everything else (connection, pings,
//! streams outside rooms) stays local. Events come back on [`EdgeSession::recv`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use huddle_room::{Command, Grants, SessionId, StreamStatus};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::wire::{inputs_channel, EdgeBody, OwnerBody, ToEdge, ToOwner, WireGrants};
use super::{Cluster, EdgeRoute};

/// Messages that may wait for the session's socket writer; more and the session is
/// dropped as too slow (as the local outbound queue does).
const RELAYED_QUEUE: usize = 4096;

/// What comes back for a relayed session.
#[derive(Debug)]
pub(crate) enum Relayed {
    /// A message for the socket, encoded by the owner; `status` when it is a stream status
    /// (the edge settles its media admission and tells the REST hook with it).
    Message {
        text: String,
        status: Option<StreamStatus>,
    },
    /// The owner node is gone (or dropped the session): the session ends with this reason.
    Lost(String),
}

/// Where one command goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    Local,
    Remote(String),
}

pub(crate) struct EdgeSession {
    cluster: Arc<Cluster>,
    session: u64,
    login: Option<String>,
    grants: Option<Grants>,
    /// Rooms owned by another node, by room name → owner.
    rooms: HashMap<String, String>,
    /// Streams (mediaSessionId) sent to another node → that node.
    streams: HashMap<String, String>,
    /// Nodes this session is open on.
    opened: HashSet<String>,
    inbox: mpsc::Receiver<Relayed>,
}

impl EdgeSession {
    pub(crate) fn new(cluster: Arc<Cluster>, session: SessionId) -> Self {
        let (tx, inbox) = mpsc::channel(RELAYED_QUEUE);
        cluster.edges.lock().unwrap().insert(
            session.0,
            EdgeRoute {
                tx,
                nodes: HashSet::new(),
            },
        );
        Self {
            cluster,
            session: session.0,
            login: None,
            grants: None,
            rooms: HashMap::new(),
            streams: HashMap::new(),
            opened: HashSet::new(),
            inbox,
        }
    }

    /// The access token's grants, checked on this node, passed on to the owners.
    pub(crate) fn set_grants(&mut self, grants: Option<Grants>) {
        self.grants = grants;
    }

    /// The login this node established for the session (the owners use the same one).
    pub(crate) fn established(&mut self, login: &str) {
        self.login = Some(login.to_string());
    }

    /// Where `command` goes. A join asks Redis for the room's owner (one round trip).
    pub(crate) async fn route(&mut self, command: &Command) -> Result<Route, String> {
        if self.login.is_none() {
            // Not established yet: the local room core answers (it refuses).
            return Ok(Route::Local);
        }
        let node = match command {
            Command::Join { room, .. } => {
                let owner = self.cluster.claim(room).await?;
                if owner == self.cluster.me.id {
                    self.rooms.remove(room);
                    return Ok(Route::Local);
                }
                self.rooms.insert(room.clone(), owner.clone());
                Some(owner)
            }
            Command::Leave { room, .. } | Command::SendMessage { room, .. } => {
                self.rooms.get(room).cloned()
            }
            Command::Publish(req) | Command::Play(req) => {
                let node = req.room.as_ref().and_then(|r| self.rooms.get(r)).cloned();
                if let Some(node) = &node {
                    self.streams
                        .insert(req.media_session_id.clone(), node.clone());
                }
                node
            }
            Command::Unpublish { media_session_id } | Command::Stop { media_session_id } => {
                self.streams.get(media_session_id).cloned()
            }
            Command::Ingest { .. } | Command::UnknownData { .. } => None,
        };
        Ok(node.map_or(Route::Local, Route::Remote))
    }

    /// Sends the client's frame to `node`, opening the session there first if needed.
    pub(crate) async fn relay(&mut self, node: &str, text: &str) -> Result<(), String> {
        if !self.opened.contains(node) {
            let login = self.login.clone().unwrap_or_default();
            let grants = self.grants.as_ref().map(WireGrants::from);
            self.send(node, OwnerBody::Connect { login, grants })
                .await?;
            self.opened.insert(node.to_string());
            if let Some(route) = self.cluster.edges.lock().unwrap().get_mut(&self.session) {
                route.nodes.insert(node.to_string());
            }
        }
        self.send(
            node,
            OwnerBody::Command {
                text: text.to_string(),
            },
        )
        .await
    }

    async fn send(&self, node: &str, body: OwnerBody) -> Result<(), String> {
        let envelope = ToOwner {
            from: self.cluster.me.id.clone(),
            session: self.session,
            body,
        };
        self.cluster
            .publish(&inputs_channel(node), &envelope)
            .await
            .map_err(|e| format!("cluster unavailable: {e}"))
    }

    /// The next relayed message; never resolves while there is none.
    pub(crate) async fn recv(&mut self) -> Relayed {
        match self.inbox.recv().await {
            Some(relayed) => relayed,
            None => Relayed::Lost("too slow to read the room's messages".into()),
        }
    }

    /// The socket closed: the owners see the session disconnect.
    pub(crate) async fn close(self) {
        self.cluster.edges.lock().unwrap().remove(&self.session);
        for node in &self.opened {
            if let Err(e) = self.send(node, OwnerBody::Disconnect).await {
                warn!(session = self.session, %node, error = %e, "disconnect not relayed");
            }
        }
    }
}

impl Cluster {
    /// An event from an owner for one of this node's sessions.
    pub(super) fn deliver_to_edge(&self, event: ToEdge) {
        let mut edges = self.edges.lock().unwrap();
        let Some(route) = edges.get(&event.session) else {
            debug!(
                session = event.session,
                "relayed event for a closed session dropped"
            );
            return;
        };
        let relayed = match event.body {
            EdgeBody::Message { text, status } => Relayed::Message {
                text,
                status: status.and_then(|s| s.into_status()),
            },
            EdgeBody::Closed => Relayed::Lost("dropped by the room's node".into()),
        };
        if route.tx.try_send(relayed).is_err() {
            // Full (or the session is ending): dropping the sender ends it as too slow.
            edges.remove(&event.session);
        }
    }

    /// `node` is dead: the sessions relayed to it end (the client sees its session fail and
    /// can rejoin; the room is then claimed by a live node).
    pub(super) fn edge_node_lost(&self, node: &str) {
        let mut edges = self.edges.lock().unwrap();
        edges.retain(|session, route| {
            if !route.nodes.contains(node) {
                return true;
            }
            warn!(session, %node, "the room's node is gone; ending the session");
            let lost = Relayed::Lost(format!("room node {node} lost"));
            // Whether queued or not, the route goes: a full queue ends the session too.
            let _ = route.tx.try_send(lost);
            false
        });
    }

    /// Nodes the edge sessions are relayed to.
    pub(super) fn edge_nodes(&self) -> HashSet<String> {
        let edges = self.edges.lock().unwrap();
        edges
            .values()
            .flat_map(|r| r.nodes.iter().cloned())
            .collect()
    }
}
