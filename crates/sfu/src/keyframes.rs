//! Keyframe requests toward one publisher: coalesced and rate-limited.
//!
//! Every player of a publisher may ask for a keyframe (its PLI/FIR, its join, its decoder
//! waiting for a clean start, our own loss on the publisher's uplink). A keyframe costs the
//! publisher's encoder several times a normal frame and every other player pays for it in
//! bandwidth, so N players asking within a moment must produce one keyframe, not N (a
//! "keyframe storm"; mediasoup and LiveKit throttle the same way). The gate keeps at most one
//! request in flight per [`KEYFRAME_INTERVAL`]; what arrives in between is remembered and sent
//! once when the interval is over, unless a keyframe arrived meanwhile and answered it.
//! No bypass: a late joiner's request waits like any other (at most one interval).

use std::time::{Duration, Instant};

use str0m::media::KeyframeRequestKind;

/// At most one keyframe request is sent to a publisher per this interval.
pub const KEYFRAME_INTERVAL: Duration = Duration::from_millis(1000);

/// The keyframe-request state of one publisher.
#[derive(Debug, Default)]
pub struct KeyframeGate {
    /// When the last request was sent to the publisher.
    last_sent: Option<Instant>,
    /// A request that is waiting for the interval to pass (FIR wins over PLI).
    pending: Option<KeyframeRequestKind>,
    /// Requests asked of the gate / sent to the publisher (for the stats).
    pub asked: u64,
    pub sent: u64,
}

impl KeyframeGate {
    /// Someone needs a keyframe from this publisher.
    pub fn ask(&mut self, kind: KeyframeRequestKind) {
        self.asked += 1;
        self.pending = Some(match (self.pending, kind) {
            (Some(KeyframeRequestKind::Fir), _) | (_, KeyframeRequestKind::Fir) => {
                KeyframeRequestKind::Fir
            }
            _ => KeyframeRequestKind::Pli,
        });
    }

    /// A keyframe arrived from the publisher: it answers every request made before it.
    pub fn keyframe_arrived(&mut self) {
        self.pending = None;
    }

    /// The request to send now, if one is pending and the interval allows it. The caller
    /// sends it; the gate counts it as sent.
    pub fn due(&mut self, now: Instant) -> Option<KeyframeRequestKind> {
        self.pending?;
        if let Some(last) = self.last_sent {
            if now.saturating_duration_since(last) < KEYFRAME_INTERVAL {
                return None;
            }
        }
        self.last_sent = Some(now);
        self.sent += 1;
        self.pending.take()
    }

    /// When a pending request can go out (for the caller's timer). A request with nothing
    /// sent before is due at once; callers run [`KeyframeGate::due`] right after asking, so
    /// what stays pending always has a `last_sent`.
    pub fn next_due(&self) -> Option<Instant> {
        self.pending?;
        self.last_sent.map(|t| t + KEYFRAME_INTERVAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_requests_within_the_interval_make_one_more() {
        let t0 = Instant::now();
        let mut g = KeyframeGate::default();
        g.ask(KeyframeRequestKind::Pli);
        assert_eq!(g.due(t0), Some(KeyframeRequestKind::Pli));
        for i in 1..10 {
            g.ask(KeyframeRequestKind::Pli);
            assert_eq!(g.due(t0 + Duration::from_millis(i * 50)), None);
        }
        g.ask(KeyframeRequestKind::Fir);
        assert_eq!(g.next_due(), Some(t0 + KEYFRAME_INTERVAL));
        assert_eq!(
            g.due(t0 + KEYFRAME_INTERVAL),
            Some(KeyframeRequestKind::Fir)
        );
        assert_eq!(g.due(t0 + KEYFRAME_INTERVAL * 3), None, "nothing pending");
        assert_eq!((g.asked, g.sent), (11, 2));
    }

    #[test]
    fn a_keyframe_answers_pending_requests() {
        let t0 = Instant::now();
        let mut g = KeyframeGate::default();
        g.ask(KeyframeRequestKind::Pli);
        assert!(g.due(t0).is_some());
        g.ask(KeyframeRequestKind::Pli);
        g.keyframe_arrived();
        assert_eq!(g.next_due(), None);
        assert_eq!(g.due(t0 + KEYFRAME_INTERVAL), None);
    }
}
