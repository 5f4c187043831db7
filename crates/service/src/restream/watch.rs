//! Follows a restreamed room from the room actor: its publishers go to the restream, and the
//! restream stops by itself once the room is gone (finalized or closed).

use std::sync::Arc;
use std::time::Duration;

use huddle_room::{RoomSnapshot, Snapshot};
use tokio::sync::oneshot;
use tracing::info;

use super::LiveStream;
use crate::actor::ActorMsg;
use crate::server::Shared;

/// How often the room is looked at (a new publisher joins the mix within about this long).
const EVERY: Duration = Duration::from_secs(1);

/// The room's publishers whose media flows, in the room's order (by start time).
pub fn live_streams(room: &RoomSnapshot) -> Vec<LiveStream> {
    room.streams
        .iter()
        .filter(|s| s.live && (s.has_video || s.has_audio))
        .map(|s| LiveStream {
            name: s.name.clone(),
            peer: s.peer,
            has_video: s.has_video,
            has_audio: s.has_audio,
        })
        .collect()
}

/// The room actor's view; `None` when the actor is gone (server stopping).
pub(crate) async fn snapshot(shared: &Shared) -> Option<Snapshot> {
    let (tx, rx) = oneshot::channel();
    shared.actor.send(ActorMsg::Snapshot(tx)).await.ok()?;
    rx.await.ok()
}

/// Runs until the restream `id` of `room` is stopped, by an admin or by this watch.
pub(crate) async fn watch(shared: Arc<Shared>, room: String, id: u64) {
    loop {
        tokio::time::sleep(EVERY).await;
        if !shared.restreams.is_running(&room, id) {
            return;
        }
        let reason = match snapshot(&shared).await {
            None => "server stopping",
            Some(snap) => match snap.rooms.iter().find(|r| r.name == room) {
                Some(r) => {
                    shared.restreams.update(&room, live_streams(r));
                    continue;
                }
                None => "room finalized",
            },
        };
        info!(%room, reason, "restream ends with its room");
        let restreams = shared.restreams.clone();
        let _ =
            tokio::task::spawn_blocking(move || restreams.stop_if(&room, Some(id), reason)).await;
        return;
    }
}
