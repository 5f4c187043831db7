//! Per-peer quality from str0m's stats events: bit rates, loss, RTT, NACK and keyframe-request
//! totals. The media thread feeds events in and reads a [`PeerQuality`] row out.

use std::collections::HashMap;
use std::time::Instant;

use str0m::media::Mid;
use str0m::stats::{MediaEgressStats, MediaIngressStats, PeerStats};

use crate::stats::PeerQuality;

/// Totals of one m-line: (NACKs, PLI + FIR). str0m reports them cumulative per m-line.
type Totals = (u64, u64);

#[derive(Debug, Default)]
pub struct QualityMeter {
    /// The previous PeerStats: (when, bytes received, bytes sent).
    last: Option<(Instant, u64, u64)>,
    bitrate_in_bps: u64,
    bitrate_out_bps: u64,
    loss_in: Option<f32>,
    loss_out: Option<f32>,
    rtt_ms: Option<f64>,
    /// What we sent the peer about its media (ingress) / it sent us about ours (egress).
    ingress: HashMap<Mid, Totals>,
    egress: HashMap<Mid, Totals>,
}

impl QualityMeter {
    pub fn on_peer(&mut self, s: &PeerStats) {
        if let Some((t, rx, tx)) = self.last {
            let secs = s.timestamp.saturating_duration_since(t).as_secs_f64();
            if secs > 0.0 {
                let rate =
                    |now: u64, before: u64| (now.saturating_sub(before) as f64 * 8.0 / secs) as u64;
                self.bitrate_in_bps = rate(s.peer_bytes_rx, rx);
                self.bitrate_out_bps = rate(s.peer_bytes_tx, tx);
            }
        }
        self.last = Some((s.timestamp, s.peer_bytes_rx, s.peer_bytes_tx));
        if s.ingress_loss_fraction.is_some() {
            self.loss_in = s.ingress_loss_fraction;
        }
        if s.egress_loss_fraction.is_some() {
            self.loss_out = s.egress_loss_fraction;
        }
        if let Some(rtt) = s.rtt.or_else(|| {
            s.selected_candidate_pair
                .as_ref()
                .and_then(|p| p.current_round_trip_time)
        }) {
            self.rtt_ms = Some(rtt.as_secs_f64() * 1000.0);
        }
    }

    pub fn on_ingress(&mut self, s: &MediaIngressStats) {
        self.ingress.insert(s.mid, (s.nacks, s.plis + s.firs));
        if let Some(loss) = s.loss {
            self.loss_in = Some(loss);
        }
    }

    pub fn on_egress(&mut self, s: &MediaEgressStats) {
        self.egress.insert(s.mid, (s.nacks, s.plis + s.firs));
        if let Some(loss) = s.loss {
            self.loss_out = Some(loss);
        }
        if let Some(rtt) = s.rtt {
            self.rtt_ms = Some(rtt.as_secs_f64() * 1000.0);
        }
    }

    /// Fills the measured fields of `row`.
    pub fn fill(&self, row: &mut PeerQuality) {
        let sum =
            |m: &HashMap<Mid, Totals>| m.values().fold((0, 0), |(n, k), (n2, k2)| (n + n2, k + k2));
        let (nacks_in, requests_in) = sum(&self.egress);
        let (nacks_out, requests_out) = sum(&self.ingress);
        row.bitrate_in_bps = self.bitrate_in_bps;
        row.bitrate_out_bps = self.bitrate_out_bps;
        row.loss_in = self.loss_in;
        row.loss_out = self.loss_out;
        row.rtt_ms = self.rtt_ms;
        row.nacks_in = nacks_in;
        row.nacks_out = nacks_out;
        row.keyframe_requests_in = requests_in;
        row.keyframe_requests_out = requests_out;
    }
}
