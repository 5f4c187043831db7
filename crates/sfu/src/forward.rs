//! The forwarding graph (publisher -> players) and frame-mode forwarding.
//!
//! Frame mode: str0m hands us whole depacketized frames from the publisher (`MediaData`) and
//! re-packetizes them per player with the player's payload type. Kept in its own module so an
//! RTP-mode forwarder can replace it later.

use std::sync::Arc;
use std::time::{Duration, Instant};

use huddle_room::PeerId;
use str0m::media::{KeyframeRequestKind, MediaData, MediaKind, MediaTime, Mid, Rid};

use crate::peer::{Peer, Player, Role};

/// A player whose oldest unsent video packet waited this long in str0m's pacer queue is
/// "starved": its link carries less than the video needs right now. Its video frames are
/// dropped (audio never is) until the queue drains, then it restarts on a keyframe. Without
/// this the queue would grow without bound and everything behind it, for seconds.
pub const MAX_VIDEO_QUEUE_DELAY: Duration = Duration::from_millis(400);

/// Who receives whose media.
#[derive(Debug, Default)]
pub struct Graph {
    players_of: crate::IdMap<Vec<PeerId>>,
}

impl Graph {
    pub fn add_publisher(&mut self, publisher: PeerId) {
        self.players_of.entry(publisher).or_default();
    }

    /// Removes a publisher; its players stay (they will get nothing more).
    pub fn remove_publisher(&mut self, publisher: PeerId) {
        self.players_of.remove(&publisher);
    }

    pub fn add_player(&mut self, source: PeerId, player: PeerId) {
        let v = self.players_of.entry(source).or_default();
        if !v.contains(&player) {
            v.push(player);
        }
    }

    pub fn remove_player(&mut self, source: PeerId, player: PeerId) {
        if let Some(v) = self.players_of.get_mut(&source) {
            v.retain(|p| *p != player);
        }
    }

    pub fn players(&self, publisher: PeerId) -> &[PeerId] {
        self.players_of
            .get(&publisher)
            .map_or(&[], |v| v.as_slice())
    }

    pub fn player_count(&self, publisher: PeerId) -> usize {
        self.players(publisher).len()
    }
}

/// One whole media frame of a publisher, whatever it came from: a browser publisher's
/// depacketized str0m `MediaData`, or an ingest (RTMP) frame. Players and recorders take this.
#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: MediaKind,
    /// RTP media time on the codec clock (90 kHz video, 48 kHz Opus).
    pub time: MediaTime,
    /// When the frame arrived at the server (the wallclock paired with `time` in RTCP).
    pub network_time: Instant,
    pub keyframe: bool,
    pub data: Arc<[u8]>,
}

impl Frame {
    /// A browser publisher's frame.
    pub fn from_media_data(kind: MediaKind, data: &MediaData) -> Frame {
        Frame {
            kind,
            time: data.time,
            network_time: data.network_time,
            keyframe: data.is_keyframe(),
            data: data.data.clone(),
        }
    }
}

/// The wallclock to write a publisher's video frame with: its arrival time, but never before
/// the previous frame's. str0m queues a track's writes by this wallclock, not in the order they
/// are written; a one-packet frame repaired by a resend arrives (by its resend) after the
/// frames behind it, which str0m holds until the gap is filled and then hands over in one
/// burst. Written with their own times, the later frames went out first, with the lower
/// sequence numbers: every player decoded them out of order ("Rejecting corrupted VP8 frame"
/// in Chrome), waited 200 ms and asked for a keyframe: the simultaneous keyframe requests of
/// issue 11's 5 % loss run (9-10 per 30 s from A and B for C's lossy uplink).
pub fn in_order_wallclock(last: &mut Option<Instant>, arrived: Instant) -> Instant {
    let t = last.map_or(arrived, |l| l.max(arrived));
    *last = Some(t);
    t
}

/// What happened when a frame was offered to a player.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    Yes,
    /// Not connected yet, no such track, or waiting for a keyframe.
    Skipped,
    /// A video frame not sent because the player's video is paused or its queue backed up.
    Dropped,
    Failed(String),
}

/// The send-queue gate of both forwarding modes (frames here, packets in `rtp/write.rs`):
/// when the player's oldest unsent video (`queued_since`) waited longer than
/// [`MAX_VIDEO_QUEUE_DELAY`], its video is starved: the bandwidth logic hears of it and the
/// picture restarts at the next keyframe. True means drop this video.
pub(crate) fn video_backed_up(
    id: PeerId,
    state: &mut Player,
    queued_since: Option<Instant>,
    now: Instant,
) -> bool {
    let backed_up =
        queued_since.is_some_and(|t| now.saturating_duration_since(t) > MAX_VIDEO_QUEUE_DELAY);
    if backed_up {
        if !state.starved {
            tracing::info!("{id}: video send queue backed up, dropping video");
        }
        state.bandwidth.note_starved(now);
        state.waiting_keyframe = true;
    }
    state.starved = backed_up;
    backed_up
}

/// Writes one publisher frame into a player.
pub fn write_frame(player: &mut Peer, frame: &Frame, now: Instant) -> Written {
    let kind = frame.kind;
    if player.failed || player.connected.is_none() {
        return Written::Skipped;
    }
    let Role::Player(state) = &mut player.role else {
        return Written::Skipped;
    };
    let Some((mid, pt)) = state.track(kind) else {
        return Written::Skipped;
    };
    if let Err(e) = player.advance(now) {
        return Written::Failed(format!("Failed by error: {e}"));
    }
    let Role::Player(state) = &mut player.role else {
        return Written::Skipped;
    };
    if kind == MediaKind::Video {
        if state.bandwidth.paused {
            state.video_frames_dropped += 1;
            return Written::Dropped;
        }
        let queued_since = player
            .rtc
            .direct_api()
            .stream_tx_by_mid(mid, None)
            .and_then(|s| s.queue_info().and_then(|q| q.first_unsent()));
        if video_backed_up(player.id, state, queued_since, now) {
            state.video_frames_dropped += 1;
            return Written::Dropped;
        }
        if state.waiting_keyframe {
            if !frame.keyframe {
                return Written::Skipped;
            }
            state.waiting_keyframe = false;
            tracing::debug!(target: "huddle_sfu::timeline", "{}: keyframe out, the picture (re)starts", player.id);
        }
    }
    let delay = match &mut player.role {
        Role::Player(state) if kind == MediaKind::Video => state.playout.delay_ext(now),
        _ => None,
    };
    let Some(mut writer) = player.rtc.writer(mid) else {
        return Written::Skipped;
    };
    if let Some((min, max)) = delay {
        writer = writer.playout_delay(min, max);
    }
    match writer.write(pt, frame.network_time, frame.time, frame.data.clone()) {
        Ok(()) => Written::Yes,
        Err(e) => Written::Failed(format!("Failed by error: {e}")),
    }
}

/// Sends the keyframe request its gate let through (keyframes.rs) on the publisher's video
/// track; of a simulcast publisher on each of `layers` (str0m has no stream without a rid
/// there). Returns true if a request was queued.
pub fn send_keyframe_request(
    publisher: &mut Peer,
    kind: KeyframeRequestKind,
    layers: &[Rid],
    now: Instant,
) -> bool {
    let Role::Publisher(state) = &publisher.role else {
        return false;
    };
    let Some(mid) = state.video_mid else {
        return false;
    };
    if publisher.connected.is_none() || publisher.failed {
        return false;
    }
    let _ = publisher.advance(now);
    if state_is_rtp_mode(publisher) {
        return crate::rtp::keyframe::request(publisher, mid, layers);
    }
    if layers.is_empty() {
        return request_on(publisher, mid, None, kind);
    }
    let mut sent = false;
    for &rid in layers {
        sent |= request_on(publisher, mid, Some(rid), kind);
    }
    sent
}

/// A publisher in RTP mode has no `Writer` (str0m panics on `Rtc::writer` then).
fn state_is_rtp_mode(publisher: &Peer) -> bool {
    matches!(&publisher.role, Role::Publisher(s) if s.rtp.is_some())
}

fn request_on(publisher: &mut Peer, mid: Mid, rid: Option<Rid>, kind: KeyframeRequestKind) -> bool {
    let Some(mut writer) = publisher.rtc.writer(mid) else {
        return false;
    };
    let kind = if writer.is_request_keyframe_possible(kind) {
        kind
    } else if writer.is_request_keyframe_possible(KeyframeRequestKind::Pli) {
        KeyframeRequestKind::Pli
    } else if writer.is_request_keyframe_possible(KeyframeRequestKind::Fir) {
        KeyframeRequestKind::Fir
    } else {
        return false;
    };
    match writer.request_keyframe(rid, kind) {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!("keyframe request to {} failed: {e}", publisher.id);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_frame_never_puts_the_next_ones_before_it() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut last = None;
        assert_eq!(in_order_wallclock(&mut last, ms(0)), ms(0));
        // Held for a resend: arrived at 150 ms; the two frames behind it at 50 and 100 ms.
        assert_eq!(in_order_wallclock(&mut last, ms(150)), ms(150));
        assert_eq!(in_order_wallclock(&mut last, ms(50)), ms(150));
        assert_eq!(in_order_wallclock(&mut last, ms(100)), ms(150));
        assert_eq!(in_order_wallclock(&mut last, ms(200)), ms(200));
    }

    #[test]
    fn graph_add_remove() {
        let (a, b, c) = (PeerId(1), PeerId(2), PeerId(3));
        let mut g = Graph::default();
        g.add_publisher(a);
        g.add_player(a, b);
        g.add_player(a, c);
        g.add_player(a, c);
        assert_eq!(g.players(a), &[b, c]);
        g.remove_player(a, b);
        assert_eq!(g.players(a), &[c]);
        g.remove_publisher(a);
        assert_eq!(g.player_count(a), 0);
        assert!(g.players(PeerId(9)).is_empty());
    }
}
