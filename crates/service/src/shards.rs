//! Media shards: several media planes, one thread (and one UDP port, one ICE-TCP port) each,
//! behind the one [`MediaPlane`] port the room actor talks to.
//!
//! A room is placed on the shard with the fewest open peers when its first peer opens, and
//! stays there while it has peers (its pin is released when its last peer closes); its
//! publishers, players, recordings and ingests all live on that shard, so no packet crosses
//! threads. A stream outside any room is placed by itself; its players follow it. Each
//! shard's SDP answers carry that shard's own ports. See docs/SHARDS.md.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use huddle_room::{MediaCommand, PeerId};
use huddle_sfu::{IngestFrame, MediaStats, PeerQuality};
use tokio::sync::oneshot;

use crate::media::{Busy, MediaPlane};

/// N media planes behind one port; commands are routed by room.
pub struct ShardedMedia {
    shards: Vec<Arc<dyn MediaPlane>>,
    routes: Mutex<Routes>,
}

/// Which shard each open peer and each room with open peers is on.
#[derive(Default, Debug)]
pub(crate) struct Routes {
    /// Open peers: their shard and the room they count for (`None`: outside any room).
    peers: HashMap<PeerId, (usize, Option<String>)>,
    /// Pinned rooms: their shard and how many of their peers are open.
    rooms: HashMap<String, (usize, usize)>,
    /// Open peers per shard (the load a new room is placed by).
    load: Vec<usize>,
}

/// Where one command goes and what it changes.
#[derive(Debug, PartialEq)]
pub(crate) struct Plan {
    peer: PeerId,
    pub shard: usize,
    /// `Some(room)`: the command opens `peer`, counting for `room`; `None`: it closes it.
    opens: Option<Option<String>>,
}

impl Routes {
    pub(crate) fn new(shards: usize) -> Routes {
        Routes {
            load: vec![0; shards.max(1)],
            ..Default::default()
        }
    }

    /// Where a command goes, or `None` for a close of a peer that is not open. Does not
    /// change the routes: [`Routes::apply`] does, once the shard took the command.
    pub(crate) fn plan(&self, command: &MediaCommand) -> Option<Plan> {
        let peer = command.peer();
        let (shard, opens) = match command {
            MediaCommand::Publish { room, .. } | MediaCommand::Ingest { room, .. } => {
                (self.place(room.as_deref()), Some(room.clone()))
            }
            // A player lives with its source (and counts for its room). An unknown source
            // goes anywhere: the shard answers "Stream not found".
            MediaCommand::Play { source, .. } => match self.peers.get(source) {
                Some((shard, room)) => (*shard, Some(room.clone())),
                None => (0, Some(None)),
            },
            MediaCommand::Close { peer } => (self.shard_of(*peer)?, None),
        };
        Some(Plan { peer, shard, opens })
    }

    /// The room's shard, or for a new room (or a stream outside rooms) the least-loaded one.
    fn place(&self, room: Option<&str>) -> usize {
        if let Some(shard) = room.and_then(|r| self.room_shard(r)) {
            return shard;
        }
        (0..self.load.len())
            .min_by_key(|&i| (self.load[i], i))
            .unwrap_or(0)
    }

    /// The planned command was queued on its shard.
    pub(crate) fn apply(&mut self, plan: Plan) {
        let Some(room) = plan.opens else {
            return self.closed(plan.peer);
        };
        if let Some(room) = &room {
            self.rooms.entry(room.clone()).or_insert((plan.shard, 0)).1 += 1;
        }
        self.load[plan.shard] += 1;
        self.peers.insert(plan.peer, (plan.shard, room));
    }

    /// `peer` was closed: its room's pin is released with its last peer.
    fn closed(&mut self, peer: PeerId) {
        let Some((shard, room)) = self.peers.remove(&peer) else {
            return;
        };
        self.load[shard] = self.load[shard].saturating_sub(1);
        if let Some(room) = room {
            if let Some(pin) = self.rooms.get_mut(&room) {
                pin.1 -= 1;
                if pin.1 == 0 {
                    self.rooms.remove(&room);
                }
            }
        }
    }

    fn shard_of(&self, peer: PeerId) -> Option<usize> {
        self.peers.get(&peer).map(|(shard, _)| *shard)
    }

    /// The shard a room is pinned to, if it has open peers.
    pub(crate) fn room_shard(&self, room: &str) -> Option<usize> {
        self.rooms.get(room).map(|(shard, _)| *shard)
    }
}

impl ShardedMedia {
    /// `shards` must not be empty.
    pub fn new(shards: Vec<Arc<dyn MediaPlane>>) -> ShardedMedia {
        assert!(!shards.is_empty(), "at least one media shard");
        ShardedMedia {
            routes: Mutex::new(Routes::new(shards.len())),
            shards,
        }
    }

    fn routes(&self) -> std::sync::MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Routes and queues one command; the routes change only if the shard took it.
    fn route(
        &self,
        command: MediaCommand,
        send: impl FnOnce(&dyn MediaPlane, MediaCommand) -> Result<(), Busy>,
    ) -> Result<(), Busy> {
        // The lock is held across the queueing (which never blocks) so that the routes
        // change in the order the commands are queued.
        let mut routes = self.routes();
        let Some(plan) = routes.plan(&command) else {
            tracing::debug!(peer = %command.peer(), "close of a peer no shard has; dropped");
            return Ok(());
        };
        send(self.shards[plan.shard].as_ref(), command)?;
        routes.apply(plan);
        Ok(())
    }
}

impl MediaPlane for ShardedMedia {
    fn send(&self, command: MediaCommand) {
        let _ = self.route(command, |shard, command| {
            shard.send(command);
            Ok(())
        });
    }

    fn try_send(&self, command: MediaCommand) -> Result<(), Busy> {
        self.route(command, |shard, command| shard.try_send(command))
    }

    /// The first shard's UDP address (every shard's: [`MediaPlane::shard_addrs`]).
    fn local_addr(&self) -> SocketAddr {
        self.shards[0].local_addr()
    }

    fn tcp_addr(&self) -> Option<SocketAddr> {
        self.shards[0].tcp_addr()
    }

    fn shard_addrs(&self) -> Vec<(SocketAddr, Option<SocketAddr>)> {
        self.shards
            .iter()
            .map(|s| (s.local_addr(), s.tcp_addr()))
            .collect()
    }

    fn peers(&self) -> u64 {
        self.shards.iter().map(|s| s.peers()).sum()
    }

    fn stats(&self) -> MediaStats {
        self.shard_stats()
            .iter()
            .fold(MediaStats::default(), |sum, s| sum.plus(s))
    }

    fn shard_stats(&self) -> Vec<MediaStats> {
        self.shards.iter().map(|s| s.stats()).collect()
    }

    fn ingest(&self, peer: PeerId, frame: IngestFrame) {
        let shard = self.routes().shard_of(peer);
        match shard {
            Some(shard) => self.shards[shard].ingest(peer, frame),
            // Not (or no longer) open: the first shard drops and counts it.
            None => self.shards[0].ingest(peer, frame),
        }
    }

    /// A tap goes to the shard of its source; an unknown source's sink is closed.
    fn tap(&self, source: PeerId, id: huddle_sfu::TapId, mut sink: Box<dyn huddle_sfu::FrameSink>) {
        let shard = self.routes().shard_of(source);
        match shard {
            Some(shard) => self.shards[shard].tap(source, id, sink),
            None => sink.close(),
        }
    }

    fn untap(&self, source: PeerId, id: huddle_sfu::TapId) {
        let shard = self.routes().shard_of(source);
        if let Some(shard) = shard {
            self.shards[shard].untap(source, id);
        }
    }

    fn peer_stats(&self) -> Vec<PeerQuality> {
        let mut all: Vec<PeerQuality> = self.shards.iter().flat_map(|s| s.peer_stats()).collect();
        all.sort_by_key(|q| q.peer);
        all
    }

    fn shutdown(&self) {
        for shard in &self.shards {
            shard.shutdown();
        }
    }

    /// Resolves once every shard has settled (each applied the commands sent before).
    fn settled(&self) -> oneshot::Receiver<()> {
        let (done, settled) = oneshot::channel();
        let waits: Vec<_> = self.shards.iter().map(|s| s.settled()).collect();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    for wait in waits {
                        let _ = wait.await;
                    }
                    let _ = done.send(());
                });
            }
            // Outside a runtime (not the server's case): wait on a thread of its own.
            Err(_) => {
                let spawned = std::thread::Builder::new()
                    .name("huddle-settle".into())
                    .spawn(move || {
                        for wait in waits {
                            let _ = wait.blocking_recv();
                        }
                        let _ = done.send(());
                    });
                if let Err(e) = spawned {
                    tracing::warn!("cannot wait for the media shards to settle: {e}");
                }
            }
        }
        settled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A shard that records the commands it takes, and can refuse new peers.
    #[derive(Default)]
    struct FakeShard {
        taken: Mutex<Vec<MediaCommand>>,
        frames: Mutex<Vec<PeerId>>,
        busy: AtomicBool,
    }

    impl MediaPlane for FakeShard {
        fn send(&self, command: MediaCommand) {
            self.taken.lock().unwrap().push(command);
        }
        fn try_send(&self, command: MediaCommand) -> Result<(), Busy> {
            if command.opens_peer() && self.busy.load(Ordering::Relaxed) {
                return Err(Busy);
            }
            self.send(command);
            Ok(())
        }
        fn local_addr(&self) -> SocketAddr {
            "127.0.0.1:1".parse().unwrap()
        }
        fn peers(&self) -> u64 {
            0
        }
        fn ingest(&self, peer: PeerId, _frame: IngestFrame) {
            self.frames.lock().unwrap().push(peer);
        }
        fn shutdown(&self) {}
    }

    fn sharded(n: usize) -> (ShardedMedia, Vec<Arc<FakeShard>>) {
        let fakes: Vec<Arc<FakeShard>> = (0..n).map(|_| Arc::new(FakeShard::default())).collect();
        let planes = fakes
            .iter()
            .map(|f| f.clone() as Arc<dyn MediaPlane>)
            .collect();
        (ShardedMedia::new(planes), fakes)
    }

    fn publish(peer: u64, room: Option<&str>) -> MediaCommand {
        MediaCommand::Publish {
            peer: PeerId(peer),
            room: room.map(str::to_string),
            offer: "offer".into(),
            transport: Default::default(),
            record: None,
        }
    }

    fn play(peer: u64, source: u64) -> MediaCommand {
        MediaCommand::Play {
            peer: PeerId(peer),
            source: PeerId(source),
            offer: "offer".into(),
            transport: Default::default(),
            constraints: Default::default(),
        }
    }

    fn close(peer: u64) -> MediaCommand {
        MediaCommand::Close { peer: PeerId(peer) }
    }

    fn peers_on(shard: &FakeShard) -> Vec<u64> {
        shard
            .taken
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.peer().0)
            .collect()
    }

    #[test]
    fn two_rooms_go_to_two_shards_and_a_room_stays_together() {
        let (media, shards) = sharded(2);
        media.try_send(publish(1, Some("A"))).unwrap();
        media.try_send(publish(2, Some("B"))).unwrap();
        media.try_send(play(3, 1)).unwrap();
        media.try_send(publish(4, Some("A"))).unwrap();
        media.try_send(play(5, 2)).unwrap();
        assert_eq!(
            peers_on(&shards[0]),
            vec![1, 3, 4],
            "room A with its players"
        );
        assert_eq!(
            peers_on(&shards[1]),
            vec![2, 5],
            "room B on the other shard"
        );
        // A third room goes to the least-loaded shard (B's: 2 peers against 3).
        media.try_send(publish(6, Some("C"))).unwrap();
        assert_eq!(peers_on(&shards[1]), vec![2, 5, 6]);
        // Closes go where the peer is.
        media.try_send(close(3)).unwrap();
        assert_eq!(peers_on(&shards[0]), vec![1, 3, 4, 3]);
    }

    #[test]
    fn a_room_is_unpinned_with_its_last_peer_and_placed_again() {
        let (media, shards) = sharded(2);
        media.try_send(publish(1, Some("A"))).unwrap();
        media.try_send(publish(2, Some("B"))).unwrap();
        media.try_send(publish(3, Some("B"))).unwrap();
        assert_eq!(media.routes().room_shard("A"), Some(0));
        media.try_send(close(1)).unwrap();
        assert_eq!(media.routes().room_shard("A"), None, "pin released");
        // Shard 0 is empty now, shard 1 has B's two peers: a new room D goes to shard 0.
        media.try_send(publish(4, Some("D"))).unwrap();
        assert_eq!(peers_on(&shards[0]), vec![1, 1, 4]);
        // Unknown closes are dropped, not sent anywhere.
        media.try_send(close(99)).unwrap();
        assert_eq!(peers_on(&shards[0]).len() + peers_on(&shards[1]).len(), 5);
    }

    #[test]
    fn a_refused_open_leaves_no_route_and_frames_follow_the_ingest() {
        let (media, shards) = sharded(2);
        shards[0].busy.store(true, Ordering::Relaxed);
        assert_eq!(media.try_send(publish(1, Some("A"))), Err(Busy));
        assert_eq!(media.routes().room_shard("A"), None);
        shards[0].busy.store(false, Ordering::Relaxed);
        media.try_send(publish(2, Some("X"))).unwrap();
        media
            .try_send(MediaCommand::Ingest {
                peer: PeerId(3),
                room: Some("Y".into()),
                codecs: huddle_room::IngestCodecs {
                    video: None,
                    audio: Some(huddle_room::IngestAudio::Opus { channels: 2 }),
                },
                record: None,
            })
            .unwrap();
        let frame = IngestFrame::Audio {
            opus: Arc::from(&[1u8][..]),
            rtp_time_48k: 0,
            received: std::time::Instant::now(),
        };
        media.ingest(PeerId(3), frame);
        assert_eq!(*shards[1].frames.lock().unwrap(), vec![PeerId(3)]);
        assert!(shards[0].frames.lock().unwrap().is_empty());
    }

    #[test]
    fn streams_outside_rooms_are_placed_alone_and_players_follow_them() {
        let (media, shards) = sharded(2);
        media.try_send(publish(1, None)).unwrap();
        media.try_send(publish(2, None)).unwrap();
        media.try_send(play(3, 2)).unwrap();
        // An unknown source: the first shard answers "Stream not found" (and gets the close).
        media.try_send(play(4, 42)).unwrap();
        media.try_send(close(4)).unwrap();
        assert_eq!(peers_on(&shards[0]), vec![1, 4, 4]);
        assert_eq!(peers_on(&shards[1]), vec![2, 3]);
    }
}
