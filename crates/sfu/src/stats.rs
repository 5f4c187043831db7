//! Counters shared between the media thread (writer) and the service (reader). Relaxed atomics,
//! plus the per-peer quality table the media thread republishes every housekeeping tick.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use huddle_room::PeerId;
use serde::{Serialize, Serializer};

use crate::fanout_time::{FanoutClock, FanoutTimes};

/// A snapshot of the media plane's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaStats {
    /// Live peers (publishers + players) not yet closed.
    pub peers: u64,
    pub publishers: u64,
    pub players: u64,
    /// UDP datagrams received / sent.
    pub packets_in: u64,
    pub packets_out: u64,
    /// Of `packets_out`: RTP-mode packets that left through str0m's send lane (vendored
    /// patch 35) rather than the pacer's path (rtp/batch.rs).
    pub packets_out_lane: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Datagrams that no peer accepted or that could not be parsed or sent.
    pub dropped: u64,
    /// Media frames written to players.
    pub frames_forwarded: u64,
    /// Ingest frames for a stream name that is not (or no longer) registered.
    pub ingest_dropped: u64,
    /// Keyframe requests asked of publishers (players' PLI/FIR, joins, our own loss) and
    /// the ones actually sent after coalescing (see keyframes.rs).
    pub keyframe_requests_asked: u64,
    pub keyframe_requests_sent: u64,
    /// Player video frames not sent: paused for bandwidth, or the send queue was backed up.
    pub video_frames_dropped: u64,
    /// Players whose video is paused for bandwidth now (as of the last housekeeping tick).
    pub players_video_paused: u64,
    /// Frames of recorded publishers not recorded because the recorder thread fell behind
    /// the disk by more than its queue bound (see record.rs).
    pub recording_dropped_frames: u64,
    /// How long frames took to fan out to their players (RTP mode; fanout_time.rs).
    pub fanout: FanoutTimes,
}

impl MediaStats {
    /// The sum of two planes' counters (media shards report their total this way).
    pub fn plus(&self, o: &MediaStats) -> MediaStats {
        MediaStats {
            peers: self.peers + o.peers,
            publishers: self.publishers + o.publishers,
            players: self.players + o.players,
            packets_in: self.packets_in + o.packets_in,
            packets_out: self.packets_out + o.packets_out,
            packets_out_lane: self.packets_out_lane + o.packets_out_lane,
            bytes_in: self.bytes_in + o.bytes_in,
            bytes_out: self.bytes_out + o.bytes_out,
            dropped: self.dropped + o.dropped,
            frames_forwarded: self.frames_forwarded + o.frames_forwarded,
            ingest_dropped: self.ingest_dropped + o.ingest_dropped,
            keyframe_requests_asked: self.keyframe_requests_asked + o.keyframe_requests_asked,
            keyframe_requests_sent: self.keyframe_requests_sent + o.keyframe_requests_sent,
            video_frames_dropped: self.video_frames_dropped + o.video_frames_dropped,
            players_video_paused: self.players_video_paused + o.players_video_paused,
            recording_dropped_frames: self.recording_dropped_frames + o.recording_dropped_frames,
            fanout: self.fanout.plus(&o.fanout),
        }
    }
}

/// How one WebRTC peer is doing, from str0m's stats events (about once a second). Serializes
/// to a flat JSON object (peer ids as numbers).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerQuality {
    #[serde(serialize_with = "peer_id")]
    pub peer: PeerId,
    /// "publisher" or "player".
    pub role: &'static str,
    /// A player's publisher.
    #[serde(serialize_with = "opt_peer_id")]
    pub source: Option<PeerId>,
    /// Bit/s received from / sent to the peer (all datagrams) over the last stats interval.
    pub bitrate_in_bps: u64,
    pub bitrate_out_bps: u64,
    /// A player's bandwidth estimate (bit/s), when one arrived.
    pub estimate_bps: Option<u64>,
    /// Fraction of packets lost on the way to us (publisher's uplink), 0..1.
    pub loss_in: Option<f32>,
    /// Fraction of our packets the peer reports lost (player's downlink), 0..1.
    pub loss_out: Option<f32>,
    pub rtt_ms: Option<f64>,
    /// NACKs the peer sent us / we sent the peer (totals).
    pub nacks_in: u64,
    pub nacks_out: u64,
    /// PLI + FIR the peer sent us / we sent the peer (totals).
    pub keyframe_requests_in: u64,
    pub keyframe_requests_out: u64,
    /// A player's video is paused for bandwidth now; how often it was.
    pub video_paused: bool,
    pub video_pauses: u64,
    /// A player's estimator restarts on a lossy but uncongested link (headroom.rs).
    pub estimator_restarts: u64,
    /// A player's video frames not sent (paused or send queue backed up).
    pub video_frames_dropped: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub publishers: AtomicU64,
    pub players: AtomicU64,
    pub packets_in: AtomicU64,
    pub packets_out: AtomicU64,
    pub packets_out_lane: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub dropped: AtomicU64,
    pub frames_forwarded: AtomicU64,
    pub ingest_dropped: AtomicU64,
    pub keyframe_requests_asked: AtomicU64,
    pub keyframe_requests_sent: AtomicU64,
    pub video_frames_dropped: AtomicU64,
    pub players_video_paused: AtomicU64,
    pub recording_dropped_frames: AtomicU64,
    pub fanout: FanoutClock,
    quality: Mutex<Vec<PeerQuality>>,
}

fn peer_id<S: Serializer>(id: &PeerId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(id.0)
}

fn opt_peer_id<S: Serializer>(id: &Option<PeerId>, s: S) -> Result<S::Ok, S::Error> {
    id.map(|p| p.0).serialize(s)
}

impl Counters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub fn sub(c: &AtomicU64, n: u64) {
        c.fetch_sub(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> MediaStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let publishers = get(&self.publishers);
        let players = get(&self.players);
        MediaStats {
            peers: publishers + players,
            publishers,
            players,
            packets_in: get(&self.packets_in),
            packets_out: get(&self.packets_out),
            packets_out_lane: get(&self.packets_out_lane),
            bytes_in: get(&self.bytes_in),
            bytes_out: get(&self.bytes_out),
            dropped: get(&self.dropped),
            frames_forwarded: get(&self.frames_forwarded),
            ingest_dropped: get(&self.ingest_dropped),
            keyframe_requests_asked: get(&self.keyframe_requests_asked),
            keyframe_requests_sent: get(&self.keyframe_requests_sent),
            video_frames_dropped: get(&self.video_frames_dropped),
            players_video_paused: get(&self.players_video_paused),
            recording_dropped_frames: get(&self.recording_dropped_frames),
            fanout: self.fanout.snapshot(),
        }
    }

    pub fn publish_quality(&self, table: Vec<PeerQuality>) {
        let paused = table.iter().filter(|q| q.video_paused).count() as u64;
        self.players_video_paused.store(paused, Ordering::Relaxed);
        *self.quality.lock().unwrap_or_else(|e| e.into_inner()) = table;
    }

    pub fn quality(&self) -> Vec<PeerQuality> {
        self.quality
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
