//! A source: a publisher of any kind (WebRTC or ingest) with what it owns beside its Rtc.
//!
//! The Rtc of a WebRTC publisher lives with the other peers (the demux looks peers up by
//! address) and its players in the forwarding graph; everything else a publisher has is
//! here, so that closing a source is one step whatever its kind.

use huddle_room::PeerId;

use crate::forward::Frame;
use crate::ingest::Ingest;
use crate::sfu::FrameSink;
use crate::tap::Taps;

pub(crate) struct Source {
    /// Its recording, if it asked for one and the file could be opened.
    pub recorder: Option<Box<dyn FrameSink>>,
    /// Set for a publisher whose frames come from the RTMP edge (no Rtc).
    pub ingest: Option<Ingest>,
    /// Frame subscribers beside the recorder (RTMP players, restreams).
    pub taps: Taps,
}

impl Source {
    pub fn new(recorder: Option<Box<dyn FrameSink>>, ingest: Option<Ingest>) -> Source {
        Source {
            recorder,
            ingest,
            taps: Taps::default(),
        }
    }

    /// Every frame the source publishes leaves through here, whatever produced it (WebRTC
    /// frame mode, an ingest, an RTP-mode depacketizer): its recorder and its taps get it.
    /// Forwarding to WebRTC players is separate (the graph).
    pub fn frame_out(&mut self, frame: &Frame) {
        if let Some(rec) = self.recorder.as_mut() {
            rec.frame(frame);
        }
        self.taps.frame(frame);
    }

    /// Whether its recorder or a tap needs a keyframe to go on: the core then asks the
    /// publisher through its keyframe gate, so a request that was lost or ignored is repeated
    /// once per gate interval for as long as the wish lasts.
    pub fn wants_keyframe(&self) -> bool {
        self.recorder.as_ref().is_some_and(|r| r.wants_keyframe()) || self.taps.wants_keyframe()
    }

    /// Finishes the recording, closes the taps and, for an ingest, logs what it carried.
    pub fn close(mut self, id: PeerId) {
        if let Some(mut rec) = self.recorder.take() {
            rec.close();
        }
        self.taps.close_all();
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
