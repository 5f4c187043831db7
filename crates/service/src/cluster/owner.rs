//! The owner side: sessions of other nodes run in this node's room core.
//!
//! A relayed session gets a local [`SessionId`] (above [`super::REMOTE_SESSION_BASE`]) and
//! is registered with the room actor like a socket: its outbound queue is read by a task
//! that encodes each message and publishes it to the edge node. The room core cannot tell
//! it from a local session, so every rule (grants, limits, grace period) applies as is.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use huddle_protocol::ClientMessage;
use huddle_room::{Input, ServerMessage, SessionId};
use tracing::{debug, info, warn};

use super::wire::{events_channel, EdgeBody, OwnerBody, ToEdge, ToOwner, WireStreamStatus};
use super::Cluster;
use crate::actor::ActorMsg;

impl Cluster {
    /// One input from an edge node, in the order that node sent it.
    pub(super) async fn handle_from_edge(self: &Arc<Self>, envelope: ToOwner) {
        let key = (envelope.from.clone(), envelope.session);
        match envelope.body {
            OwnerBody::Connect { login, grants } => {
                let known = self.remotes.lock().unwrap().get(&key).copied();
                let session = match known {
                    Some(session) => session,
                    None => match self.open_remote(&envelope.from, envelope.session).await {
                        Some(session) => session,
                        None => return,
                    },
                };
                self.remotes.lock().unwrap().insert(key, session);
                let input = Input::Connect {
                    session,
                    login: Some(login),
                    grants: grants.map(Into::into),
                };
                let _ = self.actor.send(ActorMsg::Input(input)).await;
            }
            OwnerBody::Command { text } => {
                let Some(session) = self.remotes.lock().unwrap().get(&key).copied() else {
                    debug!(from = %envelope.from, "command for an unknown relayed session");
                    return;
                };
                match huddle_protocol::parse(&text) {
                    Ok(ClientMessage::Command(command)) => {
                        let input = Input::Command { session, command };
                        let _ = self.actor.send(ActorMsg::Input(input)).await;
                    }
                    // The edge relays commands only; anything else is a bug on its side.
                    Ok(_) => debug!(%session, "relayed frame is not a command"),
                    Err(e) => warn!(%session, error = %e, "relayed frame does not parse"),
                }
            }
            OwnerBody::Disconnect => {
                let session = self.remotes.lock().unwrap().remove(&key);
                if let Some(session) = session {
                    let _ = self
                        .actor
                        .send(ActorMsg::Input(Input::Disconnect { session }))
                        .await;
                }
            }
        }
    }

    /// Registers a relayed session with the room actor and starts its forwarder.
    async fn open_remote(self: &Arc<Self>, edge: &str, edge_session: u64) -> Option<SessionId> {
        let session = SessionId(self.next_remote.fetch_add(1, Ordering::Relaxed));
        let (outbound, mut messages) = crate::outbound::channel(self.max_queued_bytes);
        let open = ActorMsg::Open { session, outbound };
        if self.actor.send(open).await.is_err() {
            return None;
        }
        info!(%session, %edge, edge_session, "relayed session opened");
        let cluster = self.clone();
        let channel = events_channel(edge);
        tokio::spawn(async move {
            while let Some(message) = messages.recv().await {
                let body = match &message {
                    // The edge already told the client its session is established.
                    ServerMessage::Established { .. } => continue,
                    ServerMessage::StreamStatus(status) => EdgeBody::Message {
                        text: huddle_protocol::encode(&message),
                        status: Some(WireStreamStatus::from(status)),
                    },
                    _ => EdgeBody::Message {
                        text: huddle_protocol::encode(&message),
                        status: None,
                    },
                };
                let event = ToEdge {
                    session: edge_session,
                    body,
                };
                if let Err(e) = cluster.publish(&channel, &event).await {
                    warn!(%session, error = %e, "relayed event lost");
                }
            }
            // The actor dropped the route: a disconnect (the edge knows), or the edge was
            // too slow to read (it must close the socket).
            let still_open = {
                let mut remotes = cluster.remotes.lock().unwrap();
                let before = remotes.len();
                remotes.retain(|_, s| *s != session);
                remotes.len() != before
            };
            if still_open {
                let closed = ToEdge {
                    session: edge_session,
                    body: EdgeBody::Closed,
                };
                let _ = cluster.publish(&channel, &closed).await;
            }
        });
        Some(session)
    }

    /// `edge` is dead: its sessions here disconnect (the room's grace period applies).
    pub(super) async fn owner_edge_lost(&self, edge: &str) {
        let gone: Vec<SessionId> = {
            let mut remotes = self.remotes.lock().unwrap();
            let keys: Vec<_> = remotes.keys().filter(|(n, _)| n == edge).cloned().collect();
            keys.iter().filter_map(|k| remotes.remove(k)).collect()
        };
        for session in gone {
            warn!(%session, %edge, "the session's edge node is gone; disconnecting it");
            let _ = self
                .actor
                .send(ActorMsg::Input(Input::Disconnect { session }))
                .await;
        }
    }

    /// Edge nodes with sessions here.
    pub(super) fn remote_edges(&self) -> std::collections::HashSet<String> {
        let remotes = self.remotes.lock().unwrap();
        remotes.keys().map(|(node, _)| node.clone()).collect()
    }
}
