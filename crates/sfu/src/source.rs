//! A source: a publisher of any kind (WebRTC or ingest) with what it owns beside its Rtc.
//!
//! The Rtc of a WebRTC publisher lives with the other peers (the demux looks peers up by
//! address) and its players in the forwarding graph; everything else a publisher has is
//! here, so that closing a source is one step whatever its kind.

use huddle_room::PeerId;

use crate::ingest::Ingest;
use crate::sfu::FrameSink;

pub(crate) struct Source {
    /// Its recording, if it asked for one and the file could be opened.
    pub recorder: Option<Box<dyn FrameSink>>,
    /// Set for a publisher whose frames come from the RTMP edge (no Rtc).
    pub ingest: Option<Ingest>,
}

impl Source {
    /// Finishes the recording and, for an ingest, logs what it carried.
    pub fn close(self, id: PeerId) {
        if let Some(mut rec) = self.recorder {
            rec.close();
        }
        if let Some(ing) = self.ingest {
            let l = &ing.latency;
            tracing::info!(
                "closed ingest {id}: frames_in={} player_writes={} added_latency_ms mean={:.2} p50={} p95={} max={:.2}",
                ing.frames_in,
                l.writes,
                l.mean().as_secs_f64() * 1000.0,
                l.quantile_ms(0.5),
                l.quantile_ms(0.95),
                l.max.as_secs_f64() * 1000.0,
            );
        }
    }
}
