//! Counters shared between the media thread (writer) and the service (reader). Relaxed atomics.

use std::sync::atomic::{AtomicU64, Ordering};

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
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Datagrams that no peer accepted or that could not be parsed or sent.
    pub dropped: u64,
    /// Media frames written to players.
    pub frames_forwarded: u64,
    /// Ingest frames for a stream name that is not (or no longer) registered.
    pub ingest_dropped: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub publishers: AtomicU64,
    pub players: AtomicU64,
    pub packets_in: AtomicU64,
    pub packets_out: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub dropped: AtomicU64,
    pub frames_forwarded: AtomicU64,
    pub ingest_dropped: AtomicU64,
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
            bytes_in: get(&self.bytes_in),
            bytes_out: get(&self.bytes_out),
            dropped: get(&self.dropped),
            frames_forwarded: get(&self.frames_forwarded),
            ingest_dropped: get(&self.ingest_dropped),
        }
    }
}
