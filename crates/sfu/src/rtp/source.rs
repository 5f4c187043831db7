//! A WebRTC publisher in RTP mode: which track a packet belongs to, its parse, and the
//! frames its recorder / taps need.

use str0m::format::Codec;
use str0m::media::{MediaKind, MediaTime, Mid, Rid};
use str0m::rtp::{RtpPacket, Ssrc};
use str0m::Rtc;

use super::depacketize::Depacketizer;
use super::packet::{ParseState, SourcePacket};
use super::red::RedHistory;
use super::uplink_loss::LossWatch;
use crate::codecs::SourceCodecs;
use crate::forward::Frame;
use crate::keyframe_hold::KeyframeHold;

/// Per publisher (kept in its `Publisher` state).
#[derive(Default)]
pub struct SourceRtp {
    /// SSRC -> track and simulcast layer (rid), learned from str0m's receive streams (a
    /// handful of entries; str0m hands over a layer's retransmissions under its main SSRC).
    tracks: Vec<(Ssrc, MediaKind, Option<Rid>)>,
    parse: ParseState,
    /// Opus: the last packet, carried as redundancy by the next (red.rs).
    red: RedHistory,
    audio: Option<Depacketizer>,
    /// One per simulcast layer (numbered apart), or the one video stream (rid None).
    video: Vec<(Option<Rid>, Depacketizer)>,
    /// Packets not forwarded: unknown stream, unexpected payload type, padding.
    pub ignored: u64,
    /// The latest keyframe's packets and those after it, for a player that connects just
    /// after it went by (keyframe_hold.rs; not of simulcast publishers).
    pub hold: KeyframeHold<SourcePacket>,
    /// Holes in the video's numbering, per layer (uplink_loss.rs).
    video_loss: Vec<(Option<Rid>, LossWatch)>,
}

impl SourceRtp {
    /// Parses one packet of the publisher whose audio / video tracks are `mids` and codecs
    /// `codecs`. `None`: nothing to forward.
    pub fn parse(
        &mut self,
        rtc: &mut Rtc,
        mids: (Option<Mid>, Option<Mid>),
        codecs: &SourceCodecs,
        p: &RtpPacket,
    ) -> Option<SourcePacket> {
        let ssrc = p.header.ssrc;
        let track = match self.tracks.iter().find(|(s, _, _)| *s == ssrc) {
            Some((_, k, rid)) => Some((*k, *rid)),
            None => {
                let stream = rtc
                    .direct_api()
                    .stream_rx(&ssrc)
                    .map(|s| (s.mid(), s.rid()));
                let track = match stream {
                    Some((m, rid)) if Some(m) == mids.0 => Some((MediaKind::Audio, rid)),
                    Some((m, rid)) if Some(m) == mids.1 => Some((MediaKind::Video, rid)),
                    _ => None,
                };
                if let Some((k, rid)) = track {
                    if self.tracks.len() < 16 {
                        self.tracks.push((ssrc, k, rid));
                    }
                }
                track
            }
        };
        let parsed = track.and_then(|(kind, rid)| {
            let params = codecs.get(kind)?;
            // One codec per track was negotiated: anything else is not ours to forward.
            (params.pt() == p.header.payload_type).then_some(())?;
            let codec = params.spec().codec;
            let mut sp = SourcePacket::parse(kind, codec, p, &mut self.parse)?;
            sp.rid = rid;
            if codec == Codec::Opus {
                sp.red = self.red.next(sp.input.seq, sp.input.time, &sp.payload);
            }
            Some(sp)
        });
        if parsed.is_none() {
            self.ignored += 1;
        }
        parsed
    }

    /// A video packet of `layer` (None: not simulcast) arrived: true when a packet before it
    /// is lost for good (uplink_loss.rs), and the layer needs a keyframe.
    pub fn video_lost(
        &mut self,
        layer: Option<Rid>,
        p: &SourcePacket,
        now: std::time::Instant,
    ) -> bool {
        of_layer(&mut self.video_loss, layer, LossWatch::default).on_packet(
            p.input.seq,
            p.input.starts_keyframe,
            now,
        )
    }

    /// Assembles frames for the recorder and taps (only called when someone wants them), a
    /// simulcast publisher's per layer; `time`: the packet's media time (str0m's extended).
    pub fn frames(
        &mut self,
        codecs: &SourceCodecs,
        p: &SourcePacket,
        time: MediaTime,
        out: impl FnMut(Frame),
    ) {
        let Some(params) = codecs.get(p.kind) else {
            return;
        };
        let new = || Depacketizer::new(p.kind, params.spec().codec);
        let d = match p.kind {
            MediaKind::Audio => self.audio.get_or_insert_with(new),
            MediaKind::Video => of_layer(&mut self.video, p.rid, new),
        };
        d.push(p, time, out);
    }
}

/// The entry of `layer` (None: not simulcast) in a per-layer list, made by `new` on first use.
/// Only negotiated layers get here (sfu.rs drops the rest): a handful, so a list is enough.
fn of_layer<T>(
    list: &mut Vec<(Option<Rid>, T)>,
    layer: Option<Rid>,
    new: impl FnOnce() -> T,
) -> &mut T {
    let i = match list.iter().position(|(rid, _)| *rid == layer) {
        Some(i) => i,
        None => {
            list.push((layer, new()));
            list.len() - 1
        }
    };
    &mut list[i].1
}
