//! One publisher RTP packet, parsed once for all its players.

use std::sync::Arc;
use std::time::Instant;

use str0m::format::{detect_h264_nalu, detect_vp8_keyframe, Codec};
use str0m::media::{MediaKind, Rid};
use str0m::rtp::{ExtensionValues, RtpPacket, Vp8Descriptor};

use super::red::Redundancy;
use super::rewrite::{InPacket, Vp8Ids};

const H264_IDR: u8 = 5;
const H264_SPS: u8 = 7;

/// What every player of the source gets from one packet.
#[derive(Debug, Clone)]
pub struct SourcePacket {
    pub kind: MediaKind,
    pub input: InPacket,
    pub marker: bool,
    /// The payload str0m decrypted, shared (never copied) by every player and resend cache.
    pub payload: Arc<[u8]>,
    /// When it arrived (the wallclock paired with its timestamp in the players' SRs).
    pub arrived: Instant,
    /// The header extensions worth passing on (audio level, video orientation, ...); str0m
    /// writes the transport ones (mid, transport-cc, abs-send-time) itself.
    pub ext: ExtensionValues,
    /// Where the VP8 descriptor fields are, for a patch on restart.
    pub vp8: Option<Vp8Descriptor>,
    /// Opus: the previous packet, for players that get RED (red.rs).
    pub red: Redundancy,
    /// The simulcast layer it belongs to (its receive stream's rid), if any.
    pub rid: Option<Rid>,
}

/// Per source: what packet parsing needs to remember.
#[derive(Debug, Default)]
pub struct ParseState {
    /// The H.264 publisher sends SPS in-band before its IDRs (browsers do): a keyframe then
    /// starts at the packet with the SPS, so a player never gets an IDR without it.
    h264_sps_seen: bool,
}

impl SourcePacket {
    /// `None` for an empty payload (padding): nothing to forward.
    pub fn parse(
        kind: MediaKind,
        codec: Codec,
        p: &RtpPacket,
        state: &mut ParseState,
    ) -> Option<SourcePacket> {
        let h = &p.header;
        let fields = Fields {
            seq: *p.seq_no,
            time: h.timestamp,
            marker: h.marker,
            arrived: p.timestamp,
        };
        let mut sp = SourcePacket::from_parts(kind, codec, fields, &p.payload, state)?;
        let e = &h.ext_vals;
        sp.ext = ExtensionValues {
            audio_level: e.audio_level,
            voice_activity: e.voice_activity,
            video_orientation: e.video_orientation,
            video_content_type: e.video_content_type,
            ..Default::default()
        };
        Some(sp)
    }

    /// The codec part of [`SourcePacket::parse`] (no header extensions), for any payload.
    pub fn from_parts(
        kind: MediaKind,
        codec: Codec,
        f: Fields,
        payload: &Arc<[u8]>,
        state: &mut ParseState,
    ) -> Option<SourcePacket> {
        if payload.is_empty() {
            return None;
        }
        let bytes = &payload[..];
        let mut vp8 = None;
        let starts_keyframe = match codec {
            Codec::Vp8 => {
                vp8 = Vp8Descriptor::parse(bytes).ok();
                vp8.is_some_and(|d| d.starts_keyframe(bytes)) || detect_vp8_keyframe(bytes)
            }
            Codec::H264 => {
                let sps = detect_h264_nalu(bytes, H264_SPS);
                state.h264_sps_seen |= sps;
                sps || (!state.h264_sps_seen && detect_h264_nalu(bytes, H264_IDR))
            }
            _ => false,
        };
        let ids = vp8.map(|d| Vp8Ids {
            picture_id: d.picture_id(),
            long_picture_id: bytes.len() > 2 && bytes[0] & 0x80 != 0 && bytes[2] & 0x80 != 0,
            tl0_pic_idx: d.tl0_pic_idx(),
        });
        Some(SourcePacket {
            kind,
            input: InPacket {
                seq: f.seq,
                time: f.time,
                starts_keyframe,
                vp8: ids,
            },
            marker: f.marker,
            payload: payload.clone(),
            arrived: f.arrived,
            ext: ExtensionValues::default(),
            vp8,
            red: Redundancy::default(),
            rid: None,
        })
    }

    /// The picture size of the VP8 keyframe this packet starts (its frame header follows the
    /// payload descriptor), for simulcast's `playStream` size caps; None for anything else.
    pub fn keyframe_size(&self) -> Option<(u32, u32)> {
        let vp8 = self.vp8.filter(|_| self.input.starts_keyframe)?;
        let header = self.payload.get(vp8.payload_offset()..)?;
        crate::simulcast::vp8_keyframe_size(header)
    }
}

/// The RTP header fields a packet is parsed with.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// Extended sequence number.
    pub seq: u64,
    pub time: u32,
    pub marker: bool,
    pub arrived: Instant,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vp8(payload: Vec<u8>) -> Option<SourcePacket> {
        let f = Fields {
            seq: 1,
            time: 0,
            marker: false,
            arrived: Instant::now(),
        };
        let payload: Arc<[u8]> = payload.into();
        let mut state = ParseState::default();
        SourcePacket::from_parts(MediaKind::Video, Codec::Vp8, f, &payload, &mut state)
    }

    #[test]
    fn a_vp8_keyframes_first_packet_tells_its_picture_size() {
        // 640x360 keyframe header (frame tag, start code, sizes), as in simulcast.rs's test.
        let header = [
            0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01, 0x00,
        ];
        // Chrome's descriptor: X, S; I with a 15-bit picture id; L (TL0PICIDX); T/K byte.
        let mut chrome = vec![0x90, 0xe0, 0x80 | 0x12, 0x34, 7, 0x20];
        chrome.extend_from_slice(&header);
        let p = vp8(chrome.clone()).unwrap();
        assert!(p.input.starts_keyframe);
        assert_eq!(p.keyframe_size(), Some((640, 360)));
        // The shortest descriptor (no extension byte).
        let mut short = vec![0x10];
        short.extend_from_slice(&header);
        assert_eq!(vp8(short).unwrap().keyframe_size(), Some((640, 360)));
        // An inter frame, or a keyframe's later packet (no S bit): no size.
        let mut inter = chrome.clone();
        inter[6] |= 1;
        assert_eq!(vp8(inter).unwrap().keyframe_size(), None);
        let mut later = chrome;
        later[0] = 0x80;
        assert_eq!(vp8(later).unwrap().keyframe_size(), None);
    }
}
