//! RFC 4571 framing of ICE-TCP: every STUN, DTLS, RTP or RTCP packet on a TCP connection is
//! preceded by its length as a 16-bit big-endian number.
//!
//! Written here rather than taken from a crate: it is twenty lines, and the driver needs
//! control over how much it buffers per connection (a slow or hostile peer must not make it
//! hold more than [`MAX_FRAME`] unread bytes).

/// The largest frame a 16-bit length can announce.
pub const MAX_FRAME: usize = u16::MAX as usize;

/// Reassembles frames from the bytes of one TCP connection.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
    /// Where the next unread frame starts in `buf`.
    start: usize,
}

impl FrameReader {
    /// Appends bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, if one has arrived. A zero-length frame is returned as an
    /// empty slice (the caller drops it like any packet it cannot use).
    pub fn next_frame(&mut self) -> Option<&[u8]> {
        let rest = &self.buf[self.start..];
        if rest.len() < 2 {
            self.compact();
            return None;
        }
        let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        if rest.len() < 2 + len {
            self.compact();
            return None;
        }
        let from = self.start + 2;
        self.start = from + len;
        Some(&self.buf[from..from + len])
    }

    /// Bytes held that do not form a complete frame yet (at most 2 + [`MAX_FRAME`] once
    /// every complete frame has been taken).
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Moves an incomplete tail to the front so the buffer does not grow with the stream.
    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}

/// Appends one framed packet to `out`. Packets longer than [`MAX_FRAME`] cannot be framed
/// and are refused (`false`); str0m never produces one (its datagrams fit an MTU).
pub fn write_frame(out: &mut Vec<u8>, packet: &[u8]) -> bool {
    if packet.len() > MAX_FRAME {
        return false;
    }
    let len = packet.len() as u16;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(packet);
    true
}

/// Whether `frame` is a STUN message (RFC 7983: first byte 0..=3; RFC 5389 magic cookie). The first
/// frame of an ICE-TCP connection must be a STUN binding request; anything else is not ICE.
pub fn is_stun(frame: &[u8]) -> bool {
    frame.len() >= 20 && frame[0] < 4 && frame[4..8] == [0x21, 0x12, 0xa4, 0x42]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_anywhere_come_out_whole_and_in_order() {
        let packets: Vec<Vec<u8>> = (0..50u8)
            .map(|i| vec![i; (i as usize * 37) % 1500])
            .collect();
        let mut stream = Vec::new();
        for p in &packets {
            assert!(write_frame(&mut stream, p));
        }
        // Feed the stream in awkward pieces (1, 2, 3, ... bytes).
        let mut reader = FrameReader::default();
        let mut got: Vec<Vec<u8>> = Vec::new();
        let mut pos = 0;
        let mut step = 1;
        while pos < stream.len() {
            let end = (pos + step).min(stream.len());
            reader.push(&stream[pos..end]);
            while let Some(f) = reader.next_frame() {
                got.push(f.to_vec());
            }
            pos = end;
            step = step % 7 + 1;
        }
        assert_eq!(got, packets);
        assert_eq!(reader.pending(), 0);
    }

    #[test]
    fn an_incomplete_frame_waits_and_is_compacted() {
        let mut reader = FrameReader::default();
        let mut stream = Vec::new();
        write_frame(&mut stream, &[1, 2, 3]);
        write_frame(&mut stream, &[9; 100]);
        reader.push(&stream[..10]);
        assert_eq!(reader.next_frame(), Some(&[1u8, 2, 3][..]));
        assert_eq!(reader.next_frame(), None);
        // Only the unfinished second frame's bytes are kept.
        assert_eq!(reader.pending(), 5);
        reader.push(&stream[10..]);
        assert_eq!(reader.next_frame().map(|f| f.len()), Some(100));
        assert_eq!(reader.next_frame(), None);
    }

    #[test]
    fn oversized_packets_are_refused() {
        let mut out = Vec::new();
        assert!(!write_frame(&mut out, &vec![0; MAX_FRAME + 1]));
        assert!(out.is_empty());
        assert!(write_frame(&mut out, &vec![0; MAX_FRAME]));
        assert_eq!(out.len(), MAX_FRAME + 2);
    }

    #[test]
    fn stun_is_recognised() {
        let mut req = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
        req.extend_from_slice(&[7; 12]);
        assert!(is_stun(&req));
        assert!(!is_stun(&req[..19]));
        assert!(!is_stun(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        let mut dtls = req.clone();
        dtls[0] = 0x16;
        assert!(!is_stun(&dtls));
    }
}
