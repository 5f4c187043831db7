//! VP8 RTP packetization with a picture ID, for publishers in str0m's RTP mode.
//!
//! Why our own: str0m's frame-mode VP8 packetizer writes the 1-byte payload descriptor only
//! (X = 0, no picture ID) and offers no switch to turn the picture ID on. Browsers always send
//! the extended descriptor, and mediasoup 3.8's VP8 parser rejects a descriptor without it, so
//! it never sees a keyframe and never forwards video. Publishers of the mediasoup runs
//! therefore write RTP themselves with the descriptor a browser sends (RFC 7741 §4.2):
//! `X=1 S=1/0 PID=0 | I=1 | M=1 picture ID (15 bit)`.

/// Payload bytes per packet after the descriptor (str0m's frame mode splits at about this
/// size too, so the packet count per frame stays the same as in the other runs).
pub const MAX_CHUNK: usize = 1100;

const DESCRIPTOR_LEN: usize = 4;

/// The RTP payloads of one VP8 frame: every packet starts with the 4-byte extended descriptor
/// carrying `picture_id` (15 bits); the first has S=1. The caller sets the marker on the last.
pub fn packetize(frame: &[u8], picture_id: u16) -> Vec<Vec<u8>> {
    let pid = picture_id & 0x7fff;
    frame
        .chunks(MAX_CHUNK)
        .enumerate()
        .map(|(i, chunk)| {
            let mut p = Vec::with_capacity(DESCRIPTOR_LEN + chunk.len());
            let start = if i == 0 { 0x10 } else { 0 };
            p.extend_from_slice(&[0x80 | start, 0x80, 0x80 | (pid >> 8) as u8, pid as u8]);
            p.extend_from_slice(chunk);
            p
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::vp8_frame;

    #[test]
    fn descriptor_and_reassembly() {
        let frame = vp8_frame(true, 3000, 1, 2);
        let pkts = packetize(&frame, 0x1234);
        assert_eq!(pkts.len(), 3000usize.div_ceil(MAX_CHUNK));
        // First packet: X=1, S=1, I=1, M=1 + 15-bit picture id; the keyframe bit (bit 0 of the
        // first VP8 byte, right after the descriptor) is clear — what mediasoup checks.
        assert_eq!(&pkts[0][..4], &[0x90, 0x80, 0x92, 0x34]);
        assert_eq!(pkts[0][4] & 1, 0);
        assert!(pkts[1..].iter().all(|p| p[0] == 0x80));
        let joined: Vec<u8> = pkts.iter().flat_map(|p| p[4..].to_vec()).collect();
        assert_eq!(joined, frame);
        // The picture id wraps at 15 bits.
        assert_eq!(&packetize(&frame, 0x8001)[0][2..4], &[0x80, 0x01]);
    }
}
