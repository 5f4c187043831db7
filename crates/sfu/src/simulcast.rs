//! Simulcast: a publisher's layers, and how one subscriber follows one of them.
//!
//! A browser publishing with `sendEncodings` offers `a=rid:<id> send` lines and
//! `a=simulcast:send <ids>`; str0m's answer accepts them and its `MediaData` (frame mode) then
//! carries the layer's `rid`; in RTP mode the layer is the rid of the packet's receive stream
//! (rtp/source.rs), and the layer's frames are measured as their packets arrive.
//! [`SimulcastIn`] keeps, per layer, what is needed to rank and choose layers (the measured
//! rate, whether it is being sent at all) and which layers keyframe requests are waiting for
//! (str0m sends a PLI per layer: `request_keyframe(Some(rid), ..)`; in RTP mode
//! `StreamRx::request_keyframe` on the layer's receive stream).
//!
//! Each subscriber of a simulcast source (a player, or the source's recorder and taps, which
//! take the highest layer) has a [`Follow`]: the layer it receives now and the one it should
//! switch to (layers.rs chooses it for players). A switch happens on a keyframe of the target
//! layer; until then the current layer keeps flowing, so the picture never freezes for it.
//! Layers are separate RTP streams whose timestamps need not share a base, so at a switch the
//! subscriber's timestamps are re-based: the first frame of the new layer gets the last
//! timestamp sent plus the wall time that passed (numbering is the player's str0m writer's).
//! In RTP mode a player's `Rewriter` does that re-basing and continues its sequence numbers
//! and VP8 picture ids ([`Follow::enter`] says when; rtp/rewrite.rs `switch_source`).

use std::time::{Duration, Instant};

use str0m::media::{MediaTime, Rid};

use crate::bandwidth::RateMeter;
use crate::forward::Frame;
use crate::layers::LayerRate;

/// A layer with no frame for this long is not being sent (the encoder dropped it).
pub const LAYER_IDLE: Duration = Duration::from_millis(1000);
/// A layer is taken as dropped sooner when another layer of its publisher kept sending
/// frames for this long after its last one (Chrome drops its upper layers under CPU or
/// uplink limits and keeps the others): its followers move at once, before their picture
/// freezes for long (a browser counts a freeze from ~180 ms at 30 fps; the move costs a
/// keyframe request's round trip and the keyframe's encoding on top, ~50-100 ms; issue 15
/// wants a switch to freeze < 300 ms). 100 ms is three frame times at 30 fps: a layer whose
/// frames come regularly (a camera at 30 fps, gaps up to 50 ms) moves its followers 50 ms
/// sooner than with the 150 ms before session 28; in the loaded browser lab its own gaps
/// decide ([`QUIET_GAPS`]: 145-290 ms in session 28's runs). Never the lowest layer (the
/// smallest frames): its encoder skips frames for hundreds of ms after a keyframe to keep to
/// its few kbit/s, and its players are those no other layer fits (taking it away sent them a
/// layer their link could not carry). When every layer stops (the uplink, or the publisher),
/// none outlives another and [`LAYER_IDLE`] decides, as it does for the lowest.
pub const LAYER_QUIET: Duration = Duration::from_millis(100);
/// ... and for at least twice the longest time between two of its frames in the last
/// [`GAP_WINDOW`]s: a layer sent at a low frame rate, or by an encoder short of CPU (gaps of
/// 160-430 ms between frames at a mean of 50-100 ms in the browser lab at load 10), is not
/// taken as dropped between two of its frames. (1.5 times it, tried in session 28, took
/// layers for dropped about twice as often in the loaded lab, 8 times a run, for 30-60 ms
/// less freeze on a real drop: each such call costs its followers a keyframe and a few
/// seconds on a lower layer.)
const QUIET_GAPS: u32 = 2;
/// The quiet limit of a layer whose spacing is not known yet (fewer than two frames): a layer
/// at 7.5 fps must not be taken as dropped before its second frame.
const LAYER_QUIET_UNMEASURED: Duration = Duration::from_millis(150);
/// How long a layer's longest gap between frames is remembered (two windows: the current
/// one and the one before).
const GAP_WINDOW: Duration = Duration::from_secs(5);
/// Frame rate assumed for a layer's rate before a whole measuring window has passed.
const ASSUMED_FPS: f64 = 30.0;

/// One layer of a simulcast publisher.
#[derive(Debug)]
struct LayerIn {
    rid: Rid,
    rate: RateMeter,
    /// Mean frame size (exponential, bytes): ranks and rates layers before the meter has a
    /// whole window.
    frame_bytes: f64,
    last_frame: Option<Instant>,
    /// The longest time between two of its frames in the current [`GAP_WINDOW`] and in the
    /// one before, and when the current one began (for [`QUIET_GAPS`]).
    gaps: [Duration; 2],
    gaps_since: Option<Instant>,
    /// Taken as dropped and said so ([`SimulcastIn::take_dropped`]); cleared by its next frame.
    dropped: bool,
    /// Picture size from the layer's last VP8 keyframe (for `playStream` width/height caps).
    size: Option<(u32, u32)>,
    /// RTP mode: the bytes of the frame whose packets are arriving (a frame is measured
    /// whole, as frame mode measures it, when its last packet arrives).
    partial: usize,
}

impl LayerIn {
    /// A whole frame of `bytes` arrived: the layer's rate and mean frame size.
    fn measure_frame(&mut self, bytes: usize, now: Instant) {
        self.rate.add(bytes, now);
        // A gap of LAYER_IDLE or more was a stop, not spacing between frames.
        if let Some(gap) = self.last_frame.map(|t| now.saturating_duration_since(t)) {
            if gap < LAYER_IDLE {
                if self
                    .gaps_since
                    .is_none_or(|t| now.saturating_duration_since(t) >= GAP_WINDOW)
                {
                    self.gaps = [Duration::ZERO, self.gaps[0]];
                    self.gaps_since = Some(now);
                }
                self.gaps[0] = self.gaps[0].max(gap);
            }
        }
        self.dropped = false;
        self.frame_bytes = if self.last_frame.is_none() {
            bytes as f64
        } else {
            self.frame_bytes * 0.9 + bytes as f64 * 0.1
        };
        self.last_frame = Some(now);
    }

    /// A frame within [`LAYER_IDLE`] of `now`.
    fn live(&self, now: Instant) -> bool {
        self.last_frame
            .is_some_and(|t| now.saturating_duration_since(t) < LAYER_IDLE)
    }

    /// How long the layer may go without a frame while another layer sends.
    fn quiet_limit(&self) -> Duration {
        let longest = self.gaps[0].max(self.gaps[1]);
        if longest.is_zero() {
            return LAYER_QUIET_UNMEASURED;
        }
        LAYER_QUIET.max(longest * QUIET_GAPS)
    }
}

/// The simulcast layers of one publisher's video.
#[derive(Debug)]
pub struct SimulcastIn {
    layers: Vec<LayerIn>,
    /// Layers keyframe requests are waiting for (empty: the next request goes to all).
    wanted: Vec<Rid>,
    /// The layer the recorder and taps take: the highest one being sent.
    pub record: Follow,
    /// A layer taken as dropped since [`SimulcastIn::take_dropped`] last said so, and how
    /// long it had been without a frame then.
    dropped_seen: Option<(Rid, Duration)>,
}

impl SimulcastIn {
    /// The layers the SDP negotiated, in SDP order (their order says nothing here: layers
    /// are ranked by what they carry).
    pub fn new(rids: &[Rid]) -> SimulcastIn {
        SimulcastIn {
            layers: rids
                .iter()
                .map(|&rid| LayerIn {
                    rid,
                    rate: RateMeter::default(),
                    frame_bytes: 0.0,
                    last_frame: None,
                    gaps: [Duration::ZERO; 2],
                    gaps_since: None,
                    dropped: false,
                    size: None,
                    partial: 0,
                })
                .collect(),
            wanted: Vec::new(),
            record: Follow::default(),
            dropped_seen: None,
        }
    }

    /// A frame of layer `rid` arrived, with the picture size when it is a keyframe that
    /// tells it ([`vp8_keyframe_size`]); false for a rid the SDP did not negotiate.
    pub fn on_frame(
        &mut self,
        rid: Rid,
        bytes: usize,
        size: Option<(u32, u32)>,
        now: Instant,
    ) -> bool {
        let Some(l) = self.layer_seen(rid, size) else {
            return false;
        };
        l.measure_frame(bytes, now);
        self.note_dropped(now);
        true
    }

    /// RTP mode: a packet of layer `rid` with `bytes` of payload arrived; `frame_end` (its
    /// marker bit) completes the frame, which is then measured by [`SimulcastIn::on_frame`];
    /// `size`: of a keyframe's first packet. False for a rid the SDP did not negotiate.
    pub fn on_packet(
        &mut self,
        rid: Rid,
        bytes: usize,
        frame_end: bool,
        size: Option<(u32, u32)>,
        now: Instant,
    ) -> bool {
        let Some(l) = self.layer_seen(rid, size) else {
            return false;
        };
        l.partial += bytes;
        if frame_end {
            let frame = std::mem::take(&mut l.partial);
            l.measure_frame(frame, now);
            self.note_dropped(now);
        }
        true
    }

    /// Whether layer `i` is being sent at `now`: a frame within [`LAYER_IDLE`], and unless
    /// it is the lowest layer, no other layer sending on for its quiet limit past that frame.
    fn sending(&self, i: usize, now: Instant) -> bool {
        let l = &self.layers[i];
        let Some(last) = l.last_frame.filter(|_| l.live(now)) else {
            return false;
        };
        // The lowest of the live layers (one idle for LAYER_IDLE no longer counts).
        let lowest = self
            .layers
            .iter()
            .filter(|m| m.live(now))
            .all(|m| m.frame_bytes >= l.frame_bytes);
        let limit = l.quiet_limit();
        lowest
            || !self.layers.iter().any(|m| {
                m.last_frame
                    .is_some_and(|t| t.saturating_duration_since(last) >= limit)
            })
    }

    /// After a frame: marks the layers another one has now outlived (see [`LAYER_QUIET`]).
    fn note_dropped(&mut self, now: Instant) {
        for i in 0..self.layers.len() {
            let Some(last) = self.layers[i].last_frame else {
                continue;
            };
            if !self.layers[i].dropped && !self.sending(i, now) {
                self.layers[i].dropped = true;
                let quiet = now.saturating_duration_since(last);
                let rid = self.layers[i].rid;
                self.dropped_seen = Some((rid, quiet));
                // Its keyframe will not come: a request waiting for it would be sent again
                // every interval, and the publisher's gate never see its requests answered.
                self.wanted.retain(|r| *r != rid);
            }
        }
    }

    /// A layer taken as dropped while others go on (once; with how long it had been
    /// without a frame): its followers (players, the recorder and taps) should choose again
    /// now, not at the next housekeeping.
    pub fn take_dropped(&mut self) -> Option<(Rid, Duration)> {
        self.dropped_seen.take()
    }

    /// Layer `rid` (None for a rid the SDP did not negotiate), with the picture size of a
    /// keyframe that tells it recorded.
    fn layer_seen(&mut self, rid: Rid, size: Option<(u32, u32)>) -> Option<&mut LayerIn> {
        let l = self.layers.iter_mut().find(|l| l.rid == rid)?;
        if size.is_some() {
            l.size = size;
        }
        Some(l)
    }

    /// What the recorder and taps get of a frame of layer `rid` (frame mode's, or one RTP mode
    /// assembled from the layer's packets): the frame on their continuous clock, or None when
    /// it is not of the layer they take. Also returns the layer they move to, when that
    /// changed (only looked at on keyframes and before the first choice): the caller asks it
    /// for a keyframe.
    pub fn record_frame(
        &mut self,
        rid: Rid,
        frame: &Frame,
        now: Instant,
    ) -> (Option<Frame>, Option<Rid>) {
        let switch = if self.record.target.is_none() || frame.keyframe {
            self.choose_record_layer(now)
        } else {
            None
        };
        let time = self
            .record
            .admit(rid, frame.keyframe, frame.time, frame.network_time);
        let frame = time.map(|time| Frame {
            time,
            ..frame.clone()
        });
        (frame, switch)
    }

    /// The layers being sent now, lowest rate first (a layer's rate is measured over the last
    /// second, or guessed from its frame sizes before that).
    pub fn ranked(&mut self, now: Instant) -> Vec<LayerRate> {
        let sending: Vec<bool> = (0..self.layers.len())
            .map(|i| self.sending(i, now))
            .collect();
        let mut out: Vec<LayerRate> = self
            .layers
            .iter_mut()
            .zip(sending)
            .filter(|(_, sending)| *sending)
            .map(|(l, _)| {
                let measured = l.rate.bps(now);
                let bps = if measured > 0 {
                    measured
                } else {
                    (l.frame_bytes * 8.0 * ASSUMED_FPS) as u64
                };
                LayerRate {
                    rid: l.rid,
                    bps,
                    size: l.size,
                }
            })
            .collect();
        out.sort_by_key(|l| l.bps);
        out
    }

    /// Re-chooses the recorder's layer (the highest being sent). Returns it when it changed:
    /// the caller asks that layer for a keyframe (the switch waits for one).
    pub fn choose_record_layer(&mut self, now: Instant) -> Option<Rid> {
        let top = self.ranked(now).last()?.rid;
        if self.record.target == Some(top) {
            return None;
        }
        self.record.target = Some(top);
        Some(top)
    }

    /// Someone needs a keyframe of layer `rid` (None: of every layer).
    pub fn want_keyframe(&mut self, rid: Option<Rid>) {
        match rid {
            Some(rid) if self.layers.iter().any(|l| l.rid == rid) => {
                if !self.wanted.contains(&rid) {
                    self.wanted.push(rid);
                }
            }
            _ => {
                self.wanted = self.layers.iter().map(|l| l.rid).collect();
            }
        }
    }

    /// The layers a request sent now goes to: those asked for, or all when none was named.
    /// They stay wanted until their keyframe arrives.
    pub fn request_targets(&self) -> Vec<Rid> {
        if self.wanted.is_empty() {
            self.layers.iter().map(|l| l.rid).collect()
        } else {
            self.wanted.clone()
        }
    }

    /// Whether a layer waits for a keyframe asked of it.
    pub fn waits_for_keyframe(&self) -> bool {
        !self.wanted.is_empty()
    }

    /// A keyframe of `rid` arrived. True when no layer waits for one any more (the
    /// publisher's keyframe gate may then count every request as answered).
    pub fn keyframe_arrived(&mut self, rid: Rid) -> bool {
        self.wanted.retain(|r| *r != rid);
        self.wanted.is_empty()
    }
}

/// The picture size (width, height) a VP8 keyframe carries in its frame header (RFC 6386
/// 9.1: 3-byte frame tag, start code 9d 01 2a, then 14-bit width and height, little endian);
/// None for an inter frame or anything that does not look like a VP8 keyframe.
pub fn vp8_keyframe_size(frame: &[u8]) -> Option<(u32, u32)> {
    if frame.len() < 10 || frame[0] & 1 != 0 || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let width = u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff;
    let height = u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff;
    (width > 0 && height > 0).then_some((width as u32, height as u32))
}

/// How one subscriber follows a simulcast source: the layer it gets, the one it should get,
/// and the offset that keeps its timestamps continuous across switches.
#[derive(Debug, Default)]
pub struct Follow {
    current: Option<Rid>,
    pub target: Option<Rid>,
    /// Added to the layer's media time (90 kHz units) for this subscriber.
    offset: i64,
    /// The last media time given out and the arrival time of its frame.
    last_out: Option<(i64, Instant)>,
    /// Layer switches done (keyframe of the target reached).
    pub switches: u64,
}

impl Follow {
    /// The layer a keyframe request for this subscriber is for: the one it waits to switch
    /// to, else the one it receives.
    pub fn keyframe_layer(&self) -> Option<Rid> {
        self.target.or(self.current)
    }

    /// The layer received now.
    pub fn current(&self) -> Option<Rid> {
        self.current
    }

    /// Whether a frame (or, in RTP mode, a packet) of layer `rid` goes to this subscriber:
    /// `Some(true)` when it is the target layer's keyframe that switches to it (the first
    /// layer included), `Some(false)` for the layer received now, None for any other layer.
    pub fn enter(&mut self, rid: Rid, keyframe: bool) -> Option<bool> {
        let switched = self.target == Some(rid) && self.current != Some(rid) && keyframe;
        if switched {
            if self.current.is_some() {
                self.switches += 1;
            }
            self.current = Some(rid);
        }
        (self.current == Some(rid)).then_some(switched)
    }

    /// Whether a frame of layer `rid` goes to this subscriber ([`Follow::enter`]), and with
    /// which media time (frame mode; RTP mode's players re-base in their `Rewriter`).
    pub fn admit(
        &mut self,
        rid: Rid,
        keyframe: bool,
        time: MediaTime,
        network_time: Instant,
    ) -> Option<MediaTime> {
        let switched = self.enter(rid, keyframe)?;
        if switched {
            if let Some((last, at)) = self.last_out {
                let passed = network_time.saturating_duration_since(at);
                let ticks = (passed.as_secs_f64() * time.frequency().get() as f64) as i64;
                self.offset = last + ticks.max(1) - time.numer() as i64;
            }
        }
        let out = (time.numer() as i64 + self.offset).max(0);
        self.last_out = Some((out, network_time));
        Some(MediaTime::new(out as u64, time.frequency()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use str0m::media::Frequency;

    const MS: Duration = Duration::from_millis(1);

    fn t(n: u64) -> MediaTime {
        MediaTime::new(n, Frequency::NINETY_KHZ)
    }

    #[test]
    fn layers_are_ranked_by_what_they_carry_and_idle_ones_left_out() {
        let t0 = Instant::now();
        let rids = [Rid::from("f"), Rid::from("q"), Rid::from("h")];
        let mut s = SimulcastIn::new(&rids);
        assert!(s.ranked(t0).is_empty(), "nothing sent yet");
        for i in 0..40u32 {
            let now = t0 + 33 * MS * i;
            let size = |w: u32| (i == 0).then_some((w, w / 2));
            s.on_frame(Rid::from("f"), 6000, size(960), now);
            s.on_frame(Rid::from("h"), 2000, size(480), now);
            if i < 5 {
                s.on_frame(Rid::from("q"), 600, size(240), now);
            }
        }
        assert!(!s.on_frame(Rid::from("x"), 10, None, t0), "an unknown rid");
        let now = t0 + 33 * MS * 39;
        let ranked = s.ranked(now);
        let order: Vec<Rid> = ranked.iter().map(|l| l.rid).collect();
        assert_eq!(
            order,
            [Rid::from("h"), Rid::from("f")],
            "q stopped 1.1 s ago"
        );
        // 2000 bytes per 33 ms frame: about 485 kbit/s measured over a whole window.
        assert!((400_000..600_000).contains(&ranked[0].bps), "{ranked:?}");
        assert_eq!(ranked[0].size, Some((480, 240)), "kept from its keyframe");
        assert_eq!(s.choose_record_layer(now), Some(Rid::from("f")));
        assert_eq!(s.choose_record_layer(now), None, "unchanged");
    }

    /// A layer the others outlive by LAYER_QUIET is dropped at once (and said once); a layer
    /// at a low frame rate is not dropped between its frames, nor the lowest layer while its
    /// encoder skips frames; when every layer stops, none is dropped before LAYER_IDLE.
    #[test]
    fn a_layer_outlived_by_the_others_is_dropped_soon_but_not_the_lowest() {
        let t0 = Instant::now();
        let (q, h, f) = (Rid::from("q"), Rid::from("h"), Rid::from("f"));
        let mut s = SimulcastIn::new(&[q, h, f]);
        let mut now = t0;
        // h at 7.5 fps, q and f at 30 fps, for 2 s.
        for i in 0..60u32 {
            now = t0 + 33 * MS * i;
            s.on_frame(q, 300, None, now);
            if i % 4 == 0 {
                s.on_frame(h, 2000, None, now);
            }
            s.on_frame(f, 6000, None, now);
        }
        assert!(
            s.take_dropped().is_none(),
            "h's 133 ms between frames is its rate, not a drop"
        );
        assert_eq!(s.ranked(now).len(), 3);
        // q skips 400 ms of frames (its encoder after a keyframe): still sent.
        let skip = now;
        for i in 1..13u32 {
            now = skip + 33 * MS * i;
            // h keeps its 7.5 fps (frame 59 was the last above).
            if (59 + i) % 4 == 0 {
                s.on_frame(h, 2000, None, now);
            }
            s.on_frame(f, 6000, None, now);
        }
        assert!(
            s.take_dropped().is_none(),
            "the lowest layer is not dropped while it skips frames"
        );
        assert_eq!(s.ranked(now).len(), 3);
        // f's encoder, short of CPU, leaves 200 ms between two frames: the first such gap
        // reads as a drop (its gaps were 33 ms), the next ones, up to twice it, do not.
        for (pause, drop) in [(200, true), (350, false), (390, false)] {
            let from = now;
            for i in 1..=(pause / 33) {
                now = from + 33 * MS * i;
                s.on_frame(q, 300, None, now);
            }
            now = from + pause * MS;
            s.on_frame(q, 300, None, now);
            assert_eq!(s.take_dropped().is_some(), drop, "a gap of {pause} ms");
            s.on_frame(f, 6000, None, now);
            for _ in 0..30u32 {
                now += 33 * MS;
                s.on_frame(q, 300, None, now);
                s.on_frame(h, 2000, None, now);
                s.on_frame(f, 6000, None, now);
            }
            assert_eq!(s.ranked(now).len(), 3);
        }
        // 10 s of regular frames: the long gaps are forgotten.
        for _ in 0..300u32 {
            now += 33 * MS;
            s.on_frame(q, 300, None, now);
            s.on_frame(h, 2000, None, now);
            s.on_frame(f, 6000, None, now);
        }
        assert!(s.take_dropped().is_none());
        // f stops; q and h go on.
        let stop = now;
        let mut dropped_at = None;
        for i in 1..30u32 {
            now = stop + 33 * MS * i;
            s.on_frame(q, 300, None, now);
            if i % 4 == 0 {
                s.on_frame(h, 2000, None, now);
            }
            if s.take_dropped().is_some() && dropped_at.is_none() {
                dropped_at = Some(now - stop);
            }
        }
        let after = dropped_at.expect("f taken as dropped");
        assert!(
            after >= LAYER_QUIET && after < LAYER_QUIET + 40 * MS,
            "{after:?}"
        );
        let order: Vec<Rid> = s.ranked(now).iter().map(|l| l.rid).collect();
        assert_eq!(order, [q, h]);
        assert_eq!(s.choose_record_layer(now), Some(h));
        // f comes back: sent again at its first frame.
        now += 33 * MS;
        for (rid, bytes) in [(q, 300), (h, 2000), (f, 6000)] {
            s.on_frame(rid, bytes, None, now);
        }
        assert!(s.take_dropped().is_none());
        assert_eq!(s.ranked(now).len(), 3);
        // Every layer stops (the uplink): nothing is dropped before LAYER_IDLE.
        assert_eq!(s.ranked(now + LAYER_IDLE - MS).len(), 3);
        assert!(s.ranked(now + LAYER_IDLE).is_empty());
        assert!(s.take_dropped().is_none());
    }

    #[test]
    fn rtp_mode_measures_a_layer_by_its_whole_frames() {
        let t0 = Instant::now();
        let q = Rid::from("q");
        let mut s = SimulcastIn::new(&[q]);
        // A keyframe of 3 packets (its size told by the first), then nothing: not a frame yet.
        assert!(s.on_packet(q, 500, false, Some((320, 180)), t0));
        assert!(s.on_packet(q, 500, false, None, t0));
        assert!(s.ranked(t0).is_empty(), "no whole frame yet");
        assert!(s.on_packet(q, 200, true, None, t0));
        let ranked = s.ranked(t0);
        // One 1200-byte frame, before a whole window: its size x 30 fps.
        assert_eq!(ranked[0].bps, 1200 * 8 * 30);
        assert_eq!(ranked[0].size, Some((320, 180)));
        assert!(
            !s.on_packet(Rid::from("x"), 10, true, None, t0),
            "an unknown rid"
        );
    }

    #[test]
    fn keyframe_requests_name_their_layers_until_answered() {
        let rids = [Rid::from("q"), Rid::from("h"), Rid::from("f")];
        let mut s = SimulcastIn::new(&rids);
        assert_eq!(s.request_targets(), rids, "nobody named a layer: all");
        s.want_keyframe(Some(Rid::from("h")));
        s.want_keyframe(Some(Rid::from("h")));
        assert_eq!(s.request_targets(), [Rid::from("h")]);
        s.want_keyframe(Some(Rid::from("q")));
        assert!(!s.keyframe_arrived(Rid::from("h")));
        assert_eq!(s.request_targets(), [Rid::from("q")]);
        assert!(s.keyframe_arrived(Rid::from("q")));
        s.want_keyframe(None);
        assert_eq!(s.request_targets(), rids);
    }

    /// A layer taken as dropped is no longer waited for: its keyframe will not come.
    #[test]
    fn a_dropped_layer_waits_for_no_keyframe() {
        let t0 = Instant::now();
        let (q, h, f) = (Rid::from("q"), Rid::from("h"), Rid::from("f"));
        let mut s = SimulcastIn::new(&[q, h, f]);
        let mut now = t0;
        for i in 0..30u32 {
            now = t0 + 33 * MS * i;
            for (rid, bytes) in [(q, 300), (h, 2000), (f, 6000)] {
                s.on_frame(rid, bytes, None, now);
            }
        }
        s.want_keyframe(Some(f));
        assert!(s.waits_for_keyframe());
        // f stops; q and h go on until f is taken as dropped.
        let stop = now;
        while s.take_dropped().is_none() {
            now += 33 * MS;
            assert!(now - stop < LAYER_IDLE, "f never taken as dropped");
            s.on_frame(q, 300, None, now);
            s.on_frame(h, 2000, None, now);
        }
        assert!(!s.waits_for_keyframe(), "{:?}", s.request_targets());
        s.want_keyframe(Some(h));
        assert_eq!(s.request_targets(), [h]);
    }

    #[test]
    fn a_switch_waits_for_the_targets_keyframe_and_keeps_time_continuous() {
        let t0 = Instant::now();
        let (q, h) = (Rid::from("q"), Rid::from("h"));
        let mut f = Follow {
            target: Some(h),
            ..Default::default()
        };
        // Not the target, or the target without a keyframe: nothing.
        assert_eq!(f.admit(q, true, t(1000), t0), None);
        assert_eq!(f.admit(h, false, t(5000), t0), None);
        assert_eq!(
            f.admit(h, true, t(5000), t0),
            Some(t(5000)),
            "first layer as is"
        );
        assert_eq!(f.admit(h, false, t(8000), t0 + 33 * MS), Some(t(8000)));
        // Down to q, whose clock has another base: h flows until q's keyframe.
        f.target = Some(q);
        assert_eq!(f.keyframe_layer(), Some(q));
        assert_eq!(f.admit(q, false, t(700_000), t0 + 66 * MS), None);
        assert_eq!(f.admit(h, false, t(11_000), t0 + 66 * MS), Some(t(11_000)));
        let got = f.admit(q, true, t(703_000), t0 + 99 * MS).unwrap();
        // 33 ms after the last frame sent: 2970 ticks later on the player's clock.
        assert_eq!(got, t(11_000 + 2970));
        assert_eq!(f.current(), Some(q));
        assert_eq!(f.switches, 1);
        assert_eq!(f.admit(h, true, t(14_000), t0 + 99 * MS), None, "h is over");
        assert_eq!(
            f.admit(q, false, t(706_000), t0 + 132 * MS),
            Some(t(11_000 + 2970 + 3000))
        );
    }

    #[test]
    fn vp8_keyframes_tell_their_size() {
        // A 640x360 keyframe header (as Chrome's h layer of a 1280x720 camera).
        let key = [
            0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01, 0x00,
        ];
        assert_eq!(vp8_keyframe_size(&key), Some((640, 360)));
        // The 2 scaling bits above the 14 size bits are not part of the size.
        let mut scaled = key;
        scaled[7] |= 0xc0;
        assert_eq!(vp8_keyframe_size(&scaled), Some((640, 360)));
        let mut inter = key;
        inter[0] |= 1;
        assert_eq!(vp8_keyframe_size(&inter), None, "an inter frame");
        assert_eq!(vp8_keyframe_size(&key[..9]), None, "too short");
        assert_eq!(vp8_keyframe_size(&[0u8; 12]), None, "no start code");
    }
}
