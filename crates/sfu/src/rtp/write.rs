//! Writing one source packet into one player (RTP mode): the same gates as frame mode
//! (`forward::write_frame`: connected, paused, send queue backed up, waiting for a keyframe),
//! then the player's numbering ([`Rewriter`]) and `write_rtp` with the shared payload.

use std::time::Instant;

use str0m::media::{MediaKind, Pt};
use str0m::rtp::RtpWrite;

use super::packet::SourcePacket;
use super::rewrite::Rewriter;
use crate::forward::{video_backed_up, Written};
use crate::peer::{Peer, Role};

/// A player's rewriters, one per track.
#[derive(Debug)]
pub struct PlayerTracks {
    pub audio: Rewriter,
    pub video: Rewriter,
    /// Written to since the core last advanced and polled this player's Rtc (batch.rs).
    pending: Pending,
    /// The RED payload type wrapping the player's Opus, looked up at the first audio packet
    /// (`Some(None)`: the player did not negotiate RED, or its audio is not Opus).
    audio_red: Option<Option<Pt>>,
}

impl Default for PlayerTracks {
    fn default() -> Self {
        PlayerTracks {
            audio: Rewriter::new(false),
            video: Rewriter::new(true),
            pending: Pending::No,
            audio_red: None,
        }
    }
}

/// Writes one packet of the player's source into the player.
pub fn write_packet(player: &mut Peer, p: &SourcePacket, now: Instant) -> Written {
    if player.failed || player.connected.is_none() {
        return Written::Skipped;
    }
    let Role::Player(state) = &player.role else {
        return Written::Skipped;
    };
    let Some((mid, pt)) = state.track(p.kind) else {
        return Written::Skipped;
    };
    // No `advance` here (frame mode does one per frame): str0m timestamps written packets at
    // the next timeout, so the core advances and polls each written player once per
    // publisher frame (batch.rs), not once per packet and player.
    let Role::Player(state) = &mut player.role else {
        return Written::Skipped;
    };
    // RED as frame mode sends it (str0m wraps there): the Opus PT's negotiated RED PT.
    let rtc = &player.rtc;
    let red = match p.kind {
        MediaKind::Audio => *state.rtp.audio_red.get_or_insert_with(|| {
            let params = rtc.codec_config().params();
            params.iter().find(|c| c.pt() == pt).and_then(|c| c.red())
        }),
        MediaKind::Video => None,
    };
    let mut api = player.rtc.direct_api();
    let Some(stream) = api.stream_tx_by_mid(mid, None) else {
        return Written::Skipped;
    };
    if p.kind == MediaKind::Video {
        // A frame is dropped whole: the gates look at its first packet only. A frame
        // already started goes on to its end (a cut frame is worse than a late one).
        if state.bandwidth.paused {
            if state.rtp.video.started() {
                state.rtp.video.restart();
            }
            if p.marker {
                state.video_frames_dropped += 1;
            }
            return Written::Dropped;
        }
        let queued_since = stream.queue_info().and_then(|q| q.first_unsent());
        if video_backed_up(player.id, state, queued_since, now) {
            state.rtp.video.restart();
            if p.marker {
                state.video_frames_dropped += 1;
            }
            return Written::Dropped;
        }
        if state.waiting_keyframe {
            if !p.input.starts_keyframe {
                return Written::Skipped;
            }
            state.waiting_keyframe = false;
            state.rtp.video.restart();
        }
    }
    // The jitter-buffer floor of a lossy downlink (playout.rs), as frame mode writes it.
    let mut ext = p.ext.clone();
    if p.kind == MediaKind::Video {
        if let Some((min, max)) = state.playout.delay_ext(now) {
            ext.play_delay_min = Some(min);
            ext.play_delay_max = Some(max);
        }
    }
    let rewriter = match p.kind {
        MediaKind::Audio => &mut state.rtp.audio,
        MediaKind::Video => &mut state.rtp.video,
    };
    let Some(out) = rewriter.rewrite(&p.input, now) else {
        return Written::Skipped;
    };
    let (pt, payload) = match red {
        Some(red_pt) => (red_pt, p.red.wrap(pt, &p.payload)),
        None => (pt, p.payload.clone()),
    };
    let mut write = RtpWrite::new(pt, out.seq.into(), out.time, p.arrived, payload)
        .marker(p.marker)
        .ext_vals(ext)
        // Video answers the player's NACKs from str0m's resend cache (which holds this
        // same shared payload); audio is not resent (RED's job, not NACK's).
        .nackable(p.kind == MediaKind::Video);
    if out.picture_id.is_some() || out.tl0_pic_idx.is_some() {
        if let Some(d) = p.vp8 {
            let mut b = d.patch();
            if let Some(id) = out.picture_id {
                b = b.picture_id(id);
            }
            if let Some(t) = out.tl0_pic_idx {
                b = b.tl0_pic_idx(t);
            }
            match b.build() {
                Ok(patch) => write = write.vp8_patch(patch),
                Err(e) => tracing::debug!("{}: VP8 patch not applied: {e}", player.id),
            }
        }
    }
    stream.write_rtp(write);
    Written::Yes
}

/// What a player's Rtc holds that it has not sent yet (batch.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    No,
    /// Packets of a frame whose end has not been written yet.
    Held,
    /// A frame written up to its end.
    Ready,
}

/// Marks a player as written to; true the first time since its last flush (then list it
/// as held).
pub fn mark_pending(player: &mut Peer) -> bool {
    match &mut player.role {
        Role::Player(p) if p.rtp.pending == Pending::No => {
            p.rtp.pending = Pending::Held;
            true
        }
        _ => false,
    }
}

/// A frame's end was written to the player (`written`) or the player holds packets of it:
/// marks it ready; true the first time since its last flush (then list it as ready).
pub fn mark_ready(player: &mut Peer, written: bool) -> bool {
    match &mut player.role {
        Role::Player(p)
            if p.rtp.pending == Pending::Held || (written && p.rtp.pending == Pending::No) =>
        {
            p.rtp.pending = Pending::Ready;
            true
        }
        _ => false,
    }
}

/// Clears a held player's mark; true if it was held (its Rtc has packets to send). A ready
/// player stays ready: it goes with the ready list.
pub fn take_held(player: &mut Peer) -> bool {
    take_if(player, Pending::Held)
}

/// Clears a ready player's mark; true if it was ready.
pub fn take_ready(player: &mut Peer) -> bool {
    take_if(player, Pending::Ready)
}

fn take_if(player: &mut Peer, state: Pending) -> bool {
    match &mut player.role {
        Role::Player(p) if p.rtp.pending == state => {
            p.rtp.pending = Pending::No;
            true
        }
        _ => false,
    }
}
