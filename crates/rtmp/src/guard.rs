//! A shadow RTMP chunk-stream parser that bounds memory before bytes reach `rml_rtmp`.
//!
//! `rml_rtmp`'s chunk deserializer trusts the declared message length (24 bits: up to 16 MiB)
//! and reserves it up front, and it accepts a chunk size of 0. This guard walks the same chunk
//! headers (without buffering payloads) and rejects, before the session sees them, messages
//! longer than a limit and nonsensical chunk sizes. It tracks `SetChunkSize` messages so its
//! view of the chunk boundaries stays the same as the deserializer's.

use std::collections::HashMap;

/// Largest RTMP chunk stream count we track (the protocol allows 65599).
const MAX_CHUNK_STREAMS: usize = 1024;

#[derive(Clone, Copy, Debug, Default)]
struct ChunkStream {
    msg_len: u32,
    type_id: u8,
    ts_field: u32,
    /// Bytes of the current message not yet seen; 0 between messages.
    remaining: u32,
}

#[derive(Debug)]
pub(crate) struct ChunkGuard {
    max_message: u32,
    chunk_size: u32,
    streams: HashMap<u32, ChunkStream>,
    /// Header bytes of the chunk being parsed.
    header: Vec<u8>,
    /// Payload bytes of the current chunk still to pass.
    skip: u32,
    /// Chunk stream of the current chunk.
    csid: u32,
    /// Payload of a `SetChunkSize` message being received.
    set_chunk_size: Option<Vec<u8>>,
}

impl ChunkGuard {
    pub(crate) fn new(max_message: u32) -> ChunkGuard {
        ChunkGuard {
            max_message,
            chunk_size: 128,
            streams: HashMap::new(),
            header: Vec::with_capacity(18),
            skip: 0,
            csid: 0,
            set_chunk_size: None,
        }
    }

    /// Checks the next bytes of the chunk stream (everything after the handshake).
    pub(crate) fn feed(&mut self, mut data: &[u8]) -> Result<(), String> {
        while !data.is_empty() {
            if self.skip > 0 {
                let n = (self.skip as usize).min(data.len());
                if let Some(buf) = self.set_chunk_size.as_mut() {
                    buf.extend_from_slice(&data[..n]);
                }
                self.skip -= n as u32;
                data = &data[n..];
                if self.skip == 0 {
                    self.end_chunk()?;
                }
                continue;
            }
            self.header.push(data[0]);
            data = &data[1..];
            if let Some(payload) = self.parse_header()? {
                self.header.clear();
                self.skip = payload;
                if payload == 0 {
                    self.end_chunk()?;
                }
            }
        }
        Ok(())
    }

    /// Called when the current chunk's payload has fully passed.
    fn end_chunk(&mut self) -> Result<(), String> {
        let done = self
            .streams
            .get(&self.csid)
            .is_some_and(|s| s.remaining == 0);
        if !done {
            return Ok(());
        }
        if let Some(buf) = self.set_chunk_size.take() {
            let size = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
            if size == 0 || size > 0x7fff_ffff {
                return Err(format!("invalid chunk size {size}"));
            }
            self.chunk_size = size;
        }
        Ok(())
    }

    /// Parses `self.header`; `Ok(None)` while it is incomplete, else the chunk payload length.
    fn parse_header(&mut self) -> Result<Option<u32>, String> {
        let h = &self.header;
        let fmt = h[0] >> 6;
        let (csid, mut pos) = match h[0] & 0x3f {
            0 => match h.get(1) {
                None => return Ok(None),
                Some(b) => (64 + u32::from(*b), 2),
            },
            1 => match h.get(1..3) {
                None => return Ok(None),
                Some(b) => (64 + u32::from(b[0]) + 256 * u32::from(b[1]), 3),
            },
            c => (u32::from(c), 1),
        };
        let fields = [11, 7, 3, 0][usize::from(fmt)];
        let Some(mh) = h.get(pos..pos + fields) else {
            return Ok(None);
        };
        let u24 = |b: &[u8]| u32::from_be_bytes([0, b[0], b[1], b[2]]);
        let prev = self.streams.get(&csid).copied();
        if fmt != 0 && prev.is_none() {
            return Err(format!(
                "chunk of type {fmt} on chunk stream {csid} before a type 0 chunk"
            ));
        }
        let mut st = prev.unwrap_or_default();
        if fmt <= 2 {
            st.ts_field = u24(&mh[0..3]);
        }
        if fmt <= 1 {
            st.msg_len = u24(&mh[3..6]);
            st.type_id = mh[6];
        }
        pos += fields;
        if st.ts_field == 0xff_ffff {
            if h.len() < pos + 4 {
                return Ok(None);
            }
            pos += 4;
        }
        debug_assert_eq!(pos, h.len());
        if st.remaining == 0 {
            // A new message starts on this chunk stream.
            if st.msg_len > self.max_message {
                return Err(format!(
                    "message of {} bytes (type {}) exceeds the {} byte limit",
                    st.msg_len, st.type_id, self.max_message
                ));
            }
            if st.type_id == 1 && st.msg_len != 4 {
                return Err(format!("SetChunkSize message of {} bytes", st.msg_len));
            }
            st.remaining = st.msg_len;
            self.set_chunk_size = (st.type_id == 1).then(|| Vec::with_capacity(4));
        } else if fmt <= 1 {
            return Err(format!(
                "new message header on chunk stream {csid} in the middle of a message"
            ));
        } else if st.type_id == 1 {
            self.set_chunk_size.get_or_insert_with(Vec::new);
        }
        let payload = st.remaining.min(self.chunk_size);
        st.remaining -= payload;
        if prev.is_none() && self.streams.len() >= MAX_CHUNK_STREAMS {
            return Err(format!("more than {MAX_CHUNK_STREAMS} chunk streams"));
        }
        self.streams.insert(csid, st);
        self.csid = csid;
        Ok(Some(payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rml_rtmp::chunk_io::ChunkSerializer;
    use rml_rtmp::messages::MessagePayload;
    use rml_rtmp::time::RtmpTimestamp;

    fn payload(type_id: u8, len: usize, ts: u32) -> MessagePayload {
        MessagePayload {
            timestamp: RtmpTimestamp::new(ts),
            type_id,
            message_stream_id: 1,
            data: vec![0x55; len].into(),
        }
    }

    #[test]
    fn follows_real_chunk_streams() {
        let mut ser = ChunkSerializer::new();
        let mut bytes = Vec::new();
        bytes.extend(
            ser.serialize(&payload(9, 1000, 0), false, false)
                .unwrap()
                .bytes,
        );
        bytes.extend(
            ser.set_max_chunk_size(4096, RtmpTimestamp::new(0))
                .unwrap()
                .bytes,
        );
        for i in 0..20u32 {
            let ts = if i > 15 { 0x0100_0000 + i } else { i * 33 };
            bytes.extend(
                ser.serialize(&payload(9, 5000 + 7 * i as usize, ts), false, false)
                    .unwrap()
                    .bytes,
            );
            bytes.extend(
                ser.serialize(&payload(8, 300, ts), false, false)
                    .unwrap()
                    .bytes,
            );
        }
        bytes.extend(
            ser.set_max_chunk_size(70_000, RtmpTimestamp::new(0))
                .unwrap()
                .bytes,
        );
        bytes.extend(
            ser.serialize(&payload(9, 200_000, 5), false, false)
                .unwrap()
                .bytes,
        );
        bytes.extend(
            ser.serialize(&payload(9, 0, 6), false, false)
                .unwrap()
                .bytes,
        );
        // Fed whole and byte by byte.
        let mut g = ChunkGuard::new(1 << 20);
        g.feed(&bytes).unwrap();
        assert_eq!(g.chunk_size, 70_000);
        assert_eq!(g.skip, 0);
        let mut g = ChunkGuard::new(1 << 20);
        for b in bytes.chunks(7) {
            g.feed(b).unwrap();
        }
        assert_eq!(g.skip, 0);
        assert!(g.header.is_empty());
    }

    #[test]
    fn rejects_oversized_messages_and_bad_chunk_sizes() {
        let mut ser = ChunkSerializer::new();
        let big = ser
            .serialize(&payload(9, 300_000, 0), false, false)
            .unwrap()
            .bytes;
        let mut g = ChunkGuard::new(200_000);
        let err = g.feed(&big[..20]).unwrap_err();
        assert!(err.contains("exceeds"), "{err}");

        let mut g = ChunkGuard::new(1 << 20);
        let err = g
            .feed(&[0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0])
            .unwrap_err();
        assert!(err.contains("chunk size 0"), "{err}");

        let mut g = ChunkGuard::new(1 << 20);
        assert!(g.feed(&[0xc5, 1, 2, 3]).is_err());
        let mut g = ChunkGuard::new(1 << 20);
        assert!(g.feed(&[0x02, 0, 0, 0, 0, 0, 9, 1, 0, 0, 0, 0]).is_err());
    }
}
