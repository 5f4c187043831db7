//! A WebRTC publisher in RTP mode: which track a packet belongs to, its parse, and the
//! frames its recorder / taps need.

use str0m::format::Codec;
use str0m::media::{MediaKind, Mid};
use str0m::rtp::{RtpPacket, Ssrc};
use str0m::Rtc;

use super::depacketize::Depacketizer;
use super::packet::{ParseState, SourcePacket};
use super::red::RedHistory;
use crate::codecs::SourceCodecs;
use crate::forward::Frame;

/// Per publisher (kept in its `Publisher` state).
#[derive(Default)]
pub struct SourceRtp {
    /// SSRC -> track, learned from str0m's receive streams (a handful of entries).
    tracks: Vec<(Ssrc, MediaKind)>,
    parse: ParseState,
    /// Opus: the last packet, carried as redundancy by the next (red.rs).
    red: RedHistory,
    audio: Option<Depacketizer>,
    video: Option<Depacketizer>,
    /// Packets not forwarded: unknown stream, unexpected payload type, padding.
    pub ignored: u64,
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
        let kind = match self.tracks.iter().find(|(s, _)| *s == ssrc) {
            Some((_, k)) => Some(*k),
            None => {
                let mid = rtc.direct_api().stream_rx(&ssrc).map(|s| s.mid());
                let kind = match mid {
                    Some(m) if Some(m) == mids.0 => Some(MediaKind::Audio),
                    Some(m) if Some(m) == mids.1 => Some(MediaKind::Video),
                    _ => None,
                };
                if let Some(k) = kind {
                    if self.tracks.len() < 16 {
                        self.tracks.push((ssrc, k));
                    }
                }
                kind
            }
        };
        let parsed = kind.and_then(|kind| {
            let params = codecs.get(kind)?;
            // One codec per track was negotiated: anything else is not ours to forward.
            (params.pt() == p.header.payload_type).then_some(())?;
            let codec = params.spec().codec;
            let mut sp = SourcePacket::parse(kind, codec, p, &mut self.parse)?;
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

    /// Assembles frames for the recorder and taps (only called when someone wants them).
    pub fn frames(
        &mut self,
        codecs: &SourceCodecs,
        p: &SourcePacket,
        rtp: &RtpPacket,
        out: impl FnMut(Frame),
    ) {
        let slot = match p.kind {
            MediaKind::Audio => &mut self.audio,
            MediaKind::Video => &mut self.video,
        };
        let Some(params) = codecs.get(p.kind) else {
            return;
        };
        let d = slot.get_or_insert_with(|| Depacketizer::new(p.kind, params.spec().codec));
        d.push(p, rtp.time, out);
    }
}
