//! Keyframe requests toward one publisher: coalesced and rate-limited.
//!
//! Every player of a publisher may ask for a keyframe (its PLI/FIR, its join, its decoder
//! waiting for a clean start, our own loss on the publisher's uplink). A keyframe costs the
//! publisher's encoder several times a normal frame and every other player pays for it in
//! bandwidth, so N players asking within a moment must produce one keyframe, not N (a
//! "keyframe storm"; mediasoup and LiveKit throttle the same way). The gate keeps at most one
//! request in flight per [`KEYFRAME_INTERVAL`]; what arrives in between is remembered and sent
//! once when the interval is over, unless a keyframe arrived meanwhile and answered it.
//!
//! One exception, for a player that has had no keyframe at all yet (it just connected or
//! resumed): if the request in flight was already answered by a keyframe that came too early
//! for this player, its request goes out after [`FRESH_GAP`] instead of waiting out the whole
//! interval. Without it, a second player connecting just after the first one's keyframe waited
//! up to a second more for its first picture (the netlab high-RTT run: 200 ms RTT to the
//! publisher, first frames 1.9-2.7 s). It cannot make a storm: it needs a keyframe between two
//! requests, and each player asks at most once per interval and only while it has no picture.
//!
//! Another, for subscribers whose picture stopped because the publisher's encoder dropped the
//! simulcast layer they followed (simulcast.rs `LAYER_QUIET`): their request goes out
//! [`FRESH_GAP`] after the previous one, answered or not ([`KeyframeGate::hurry`]). Waiting out
//! the interval froze them for up to a second more when anyone had asked just before (a player
//! joining, another switching layers). It cannot make a storm either: a layer is taken as
//! dropped once per stop, so this is at most one request per layer that stops sending.

use std::time::{Duration, Instant};

use str0m::media::KeyframeRequestKind;

/// At most one keyframe request is sent to a publisher per this interval.
pub const KEYFRAME_INTERVAL: Duration = Duration::from_millis(1000);
/// The shortest gap between two requests when the first one was answered and the second is a
/// fresh player's. Chrome ignores a request within 300 ms of the previous one *as it receives
/// them*: sent exactly 300 ms apart, jitter on the way decides (netlab loss run, session 11: a
/// FIR sent 299 ms after the previous one gave no keyframe, and the player waited a whole
/// [`KEYFRAME_INTERVAL`] more), so 100 ms of margin.
pub const FRESH_GAP: Duration = Duration::from_millis(400);

/// The keyframe-request state of one publisher.
#[derive(Debug, Default)]
pub struct KeyframeGate {
    /// When the last request was sent to the publisher.
    last_sent: Option<Instant>,
    /// A request that is waiting for the interval to pass (FIR wins over PLI).
    pending: Option<KeyframeRequestKind>,
    /// The pending request includes one of a player that has had no keyframe yet.
    pending_fresh: bool,
    /// The pending request includes one of subscribers whose layer was dropped ([`KeyframeGate::hurry`]).
    pending_urgent: bool,
    /// A keyframe arrived after the last request was sent (that request is answered).
    answered: bool,
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

    /// Like [`KeyframeGate::ask`], for a player that has had no keyframe yet (see the module
    /// comment: it may go out before the interval is over).
    pub fn ask_fresh(&mut self, kind: KeyframeRequestKind) {
        self.ask(kind);
        self.pending_fresh = true;
    }

    /// The pending request is for subscribers whose picture stopped (their simulcast layer was
    /// dropped): it may go out [`FRESH_GAP`] after the previous one, answered or not (see the
    /// module comment). No effect without a pending request.
    pub fn hurry(&mut self) {
        self.pending_urgent = self.pending.is_some();
    }

    /// The pending request is no longer wanted (it was only for a simulcast layer that has
    /// stopped, whose keyframe will not come): nothing is sent for it. What was sent before
    /// stays unanswered.
    pub fn withdraw(&mut self) {
        self.pending = None;
        self.pending_fresh = false;
        self.pending_urgent = false;
    }

    /// A keyframe arrived from the publisher: it answers every request made before it.
    pub fn keyframe_arrived(&mut self) {
        self.withdraw();
        self.answered = self.last_sent.is_some();
    }

    /// The request to send now, if one is pending and the interval allows it. The caller
    /// sends it; the gate counts it as sent.
    pub fn due(&mut self, now: Instant) -> Option<KeyframeRequestKind> {
        self.pending?;
        if let Some(due) = self.next_due() {
            if now < due {
                return None;
            }
        }
        let kind = self.pending;
        self.withdraw();
        self.last_sent = Some(now);
        self.sent += 1;
        self.answered = false;
        kind
    }

    /// When a pending request can go out (for the caller's timer). A request with nothing
    /// sent before is due at once; callers run [`KeyframeGate::due`] right after asking, so
    /// what stays pending always has a `last_sent`.
    pub fn next_due(&self) -> Option<Instant> {
        self.pending?;
        let gap = if self.pending_urgent || (self.pending_fresh && self.answered) {
            FRESH_GAP
        } else {
            KEYFRAME_INTERVAL
        };
        self.last_sent.map(|t| t + gap)
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

    #[test]
    fn a_fresh_player_missing_an_answered_keyframe_waits_only_the_fresh_gap() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut g = KeyframeGate::default();
        g.ask_fresh(KeyframeRequestKind::Fir);
        assert!(
            g.due(t0).is_some(),
            "the first player's request goes at once"
        );
        g.keyframe_arrived();
        // A second player connects after that keyframe went by.
        g.ask_fresh(KeyframeRequestKind::Fir);
        assert_eq!(g.next_due(), Some(t0 + FRESH_GAP));
        assert_eq!(g.due(ms(399)), None);
        assert_eq!(g.due(ms(400)), Some(KeyframeRequestKind::Fir));
        // Not answered yet: a third fresh player waits the whole interval.
        g.ask_fresh(KeyframeRequestKind::Fir);
        assert_eq!(g.due(ms(800)), None);
        assert_eq!(g.next_due(), Some(ms(400) + KEYFRAME_INTERVAL));
    }

    #[test]
    fn an_ordinary_request_after_an_answer_still_waits_the_interval() {
        let t0 = Instant::now();
        let mut g = KeyframeGate::default();
        g.ask(KeyframeRequestKind::Pli);
        assert!(g.due(t0).is_some());
        g.keyframe_arrived();
        g.ask(KeyframeRequestKind::Pli);
        assert_eq!(g.due(t0 + FRESH_GAP), None, "a decoder's PLI is not fresh");
        assert_eq!(g.next_due(), Some(t0 + KEYFRAME_INTERVAL));
    }

    #[test]
    fn a_fresh_request_without_an_answer_waits_the_interval() {
        let t0 = Instant::now();
        let mut g = KeyframeGate::default();
        g.ask(KeyframeRequestKind::Pli);
        assert!(g.due(t0).is_some());
        g.ask_fresh(KeyframeRequestKind::Fir);
        assert_eq!(
            g.due(t0 + FRESH_GAP),
            None,
            "the request in flight answers it"
        );
        assert_eq!(
            g.due(t0 + KEYFRAME_INTERVAL),
            Some(KeyframeRequestKind::Fir)
        );
    }

    #[test]
    fn a_request_for_a_dropped_layer_waits_only_the_fresh_gap_answered_or_not() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut g = KeyframeGate::default();
        g.hurry();
        assert_eq!(g.next_due(), None, "nothing pending: nothing to hurry");
        g.ask(KeyframeRequestKind::Pli);
        assert!(g.due(t0).is_some(), "someone asked just before");
        // Not answered yet, and a layer is dropped: its subscribers' request is hurried.
        g.ask(KeyframeRequestKind::Pli);
        g.hurry();
        assert_eq!(g.next_due(), Some(t0 + FRESH_GAP));
        assert_eq!(g.due(ms(399)), None);
        assert_eq!(g.due(ms(400)), Some(KeyframeRequestKind::Pli));
        // The next ordinary request waits the whole interval again.
        g.ask(KeyframeRequestKind::Pli);
        assert_eq!(g.next_due(), Some(ms(400) + KEYFRAME_INTERVAL));
    }

    #[test]
    fn a_withdrawn_request_is_not_sent() {
        let t0 = Instant::now();
        let mut g = KeyframeGate::default();
        g.ask(KeyframeRequestKind::Pli);
        assert!(g.due(t0).is_some());
        g.ask(KeyframeRequestKind::Pli);
        g.withdraw();
        assert_eq!(g.next_due(), None);
        assert_eq!(g.due(t0 + KEYFRAME_INTERVAL), None);
        assert_eq!((g.asked, g.sent), (2, 1));
    }
}
