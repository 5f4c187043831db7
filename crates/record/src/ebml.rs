//! Minimal EBML encoding (writer side) and a tiny reader used to look up
//! header values (DateUTC) in recorded files.

use std::io::{self, Read};

/// Element IDs used by the writer and reader (Matroska v4 spec names).
pub mod id {
    pub const EBML: u32 = 0x1A45_DFA3;
    pub const EBML_VERSION: u32 = 0x4286;
    pub const EBML_READ_VERSION: u32 = 0x42F7;
    pub const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
    pub const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
    pub const DOC_TYPE: u32 = 0x4282;
    pub const DOC_TYPE_VERSION: u32 = 0x4287;
    pub const DOC_TYPE_READ_VERSION: u32 = 0x4285;
    pub const VOID: u32 = 0xEC;

    pub const SEGMENT: u32 = 0x1853_8067;
    pub const SEEK_HEAD: u32 = 0x114D_9B74;
    pub const SEEK: u32 = 0x4DBB;
    pub const SEEK_ID: u32 = 0x53AB;
    pub const SEEK_POSITION: u32 = 0x53AC;

    pub const INFO: u32 = 0x1549_A966;
    pub const TIMECODE_SCALE: u32 = 0x2A_D7B1;
    pub const DURATION: u32 = 0x4489;
    pub const DATE_UTC: u32 = 0x4461;
    pub const MUXING_APP: u32 = 0x4D80;
    pub const WRITING_APP: u32 = 0x5741;

    pub const TRACKS: u32 = 0x1654_AE6B;
    pub const TRACK_ENTRY: u32 = 0xAE;
    pub const TRACK_NUMBER: u32 = 0xD7;
    pub const TRACK_UID: u32 = 0x73C5;
    pub const TRACK_TYPE: u32 = 0x83;
    pub const FLAG_LACING: u32 = 0x9C;
    pub const CODEC_ID: u32 = 0x86;
    pub const CODEC_PRIVATE: u32 = 0x63A2;
    pub const CODEC_DELAY: u32 = 0x56AA;
    pub const SEEK_PRE_ROLL: u32 = 0x56BB;
    pub const VIDEO: u32 = 0xE0;
    pub const PIXEL_WIDTH: u32 = 0xB0;
    pub const PIXEL_HEIGHT: u32 = 0xBA;
    pub const AUDIO: u32 = 0xE1;
    pub const SAMPLING_FREQUENCY: u32 = 0xB5;
    pub const CHANNELS: u32 = 0x9F;
    pub const BIT_DEPTH: u32 = 0x6264;

    pub const CLUSTER: u32 = 0x1F43_B675;
    pub const TIMECODE: u32 = 0xE7;
    pub const SIMPLE_BLOCK: u32 = 0xA3;

    pub const CUES: u32 = 0x1C53_BB6B;
    pub const CUE_POINT: u32 = 0xBB;
    pub const CUE_TIME: u32 = 0xB3;
    pub const CUE_TRACK_POSITIONS: u32 = 0xB7;
    pub const CUE_TRACK: u32 = 0xF7;
    pub const CUE_CLUSTER_POSITION: u32 = 0xF1;
}

/// The 8-byte "unknown size" marker (all value bits set).
pub const UNKNOWN_SIZE: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

/// Appends an element ID (IDs already carry their length marker).
pub fn put_id(out: &mut Vec<u8>, id: u32) {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(3);
    out.extend_from_slice(&bytes[skip..]);
}

/// Appends a data size as the shortest EBML variable-length integer.
pub fn put_size(out: &mut Vec<u8>, size: u64) {
    // A length of n bytes holds 7n value bits; the all-ones value is reserved.
    let mut len = 1;
    while len < 8 && size >= (1u64 << (7 * len)) - 1 {
        len += 1;
    }
    put_size_fixed(out, size, len);
}

/// Appends a data size as an EBML vint of exactly `len` bytes (1..=8).
pub fn put_size_fixed(out: &mut Vec<u8>, size: u64, len: usize) {
    debug_assert!((1..=8).contains(&len));
    let marked = size | (1u64 << (7 * len));
    out.extend_from_slice(&marked.to_be_bytes()[8 - len..]);
}

pub fn put_master(out: &mut Vec<u8>, id: u32, body: &[u8]) {
    put_bytes(out, id, body);
}

pub fn put_bytes(out: &mut Vec<u8>, id: u32, body: &[u8]) {
    put_id(out, id);
    put_size(out, body.len() as u64);
    out.extend_from_slice(body);
}

pub fn put_uint(out: &mut Vec<u8>, id: u32, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    put_bytes(out, id, &bytes[skip..]);
}

pub fn put_int(out: &mut Vec<u8>, id: u32, v: i64) {
    // Always 8 bytes: simple and valid.
    put_bytes(out, id, &v.to_be_bytes());
}

pub fn put_float(out: &mut Vec<u8>, id: u32, v: f64) {
    put_bytes(out, id, &v.to_be_bytes());
}

pub fn put_str(out: &mut Vec<u8>, id: u32, v: &str) {
    put_bytes(out, id, v.as_bytes());
}

/// Appends a Void element occupying exactly `total` bytes (`total >= 2`).
pub fn put_void(out: &mut Vec<u8>, total: usize) {
    assert!(total >= 2, "a Void element needs at least 2 bytes");
    put_id(out, id::VOID);
    // Use a 1-byte size when it fits, else an 8-byte one.
    if total - 2 < 127 {
        put_size_fixed(out, (total - 2) as u64, 1);
        out.resize(out.len() + total - 2, 0);
    } else {
        assert!(total >= 9);
        put_size_fixed(out, (total - 9) as u64, 8);
        out.resize(out.len() + total - 9, 0);
    }
}

// ---------------------------------------------------------------- reader

/// Reads one EBML vint; returns (value with marker removed, length, all-ones flag).
fn read_vint<R: Read>(r: &mut R, keep_marker: bool) -> io::Result<(u64, usize, bool)> {
    let mut first = [0u8; 1];
    r.read_exact(&mut first)?;
    let lead = first[0].leading_zeros() as usize;
    if lead >= 8 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "bad EBML vint"));
    }
    let len = lead + 1;
    let mut value = u64::from(first[0]);
    if !keep_marker {
        value &= (1u64 << (8 - len)) - 1;
    }
    let mut rest = [0u8; 7];
    r.read_exact(&mut rest[..len - 1])?;
    let mut all_ones = value == (1u64 << (8 - len)) - 1;
    for b in &rest[..len - 1] {
        value = (value << 8) | u64::from(*b);
        all_ones &= *b == 0xFF;
    }
    Ok((value, len, all_ones && !keep_marker))
}

/// Element header: ID, data size (None = unknown), header length.
pub fn read_header<R: Read>(r: &mut R) -> io::Result<(u32, Option<u64>, usize)> {
    let (id, id_len, _) = read_vint(r, true)?;
    if id_len > 4 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "EBML ID too long",
        ));
    }
    let (size, size_len, unknown) = read_vint(r, false)?;
    Ok((id as u32, (!unknown).then_some(size), id_len + size_len))
}

fn skip<R: Read>(r: &mut R, n: u64) -> io::Result<()> {
    let copied = io::copy(&mut r.take(n), &mut io::sink())?;
    if copied != n {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// Finds `Segment/Info/DateUTC` (ns since 2001-01-01) in a Matroska stream.
/// Stops at the first Cluster. Returns `Ok(None)` if there is no DateUTC.
pub fn find_date_utc<R: Read>(r: &mut R) -> io::Result<Option<i64>> {
    let (hid, hsize, _) = read_header(r)?;
    if hid != id::EBML {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not an EBML file",
        ));
    }
    skip(r, hsize.unwrap_or(0))?;
    let (sid, _, _) = read_header(r)?;
    if sid != id::SEGMENT {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "no Segment"));
    }
    // Bounded walk over top-level Segment children.
    for _ in 0..64 {
        let (eid, esize, _) = match read_header(r) {
            Ok(h) => h,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(esize) = esize else { return Ok(None) };
        match eid {
            id::INFO => {
                let mut info = Vec::new();
                r.take(esize.min(1 << 20)).read_to_end(&mut info)?;
                let mut cur = io::Cursor::new(&info);
                while (cur.position() as usize) < info.len() {
                    let (cid, csize, _) = read_header(&mut cur)?;
                    let csize = csize.unwrap_or(0);
                    if cid == id::DATE_UTC && csize <= 8 {
                        let mut buf = [0u8; 8];
                        cur.read_exact(&mut buf[8 - csize as usize..])?;
                        // Sign-extend shorter encodings.
                        let shift = 64 - 8 * csize as u32;
                        let v = if csize == 0 {
                            0
                        } else {
                            (i64::from_be_bytes(buf) << shift) >> shift
                        };
                        return Ok(Some(v));
                    }
                    skip(&mut cur, csize)?;
                }
                return Ok(None);
            }
            id::CLUSTER => return Ok(None),
            _ => skip(r, esize)?,
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ids() {
        let mut v = Vec::new();
        put_size(&mut v, 0);
        put_size(&mut v, 126);
        put_size(&mut v, 127); // 127 = reserved all-ones in 1 byte -> 2 bytes
        put_size(&mut v, 300);
        assert_eq!(v, [0x80, 0xFE, 0x40, 0x7F, 0x41, 0x2C]);
        let mut v = Vec::new();
        put_id(&mut v, id::SEGMENT);
        put_id(&mut v, id::SIMPLE_BLOCK);
        put_id(&mut v, id::DATE_UTC);
        assert_eq!(v, [0x18, 0x53, 0x80, 0x67, 0xA3, 0x44, 0x61]);
        for total in [2usize, 11, 128, 129, 130, 500] {
            let mut v = Vec::new();
            put_void(&mut v, total);
            assert_eq!(v.len(), total);
            let (id, size, hl) = read_header(&mut io::Cursor::new(&v)).unwrap();
            assert_eq!(id, id::VOID);
            assert_eq!(size.unwrap() as usize + hl, total);
        }
    }

    #[test]
    fn uint_roundtrip_header() {
        let mut v = Vec::new();
        put_uint(&mut v, id::TIMECODE_SCALE, 1_000_000);
        assert_eq!(v, [0x2A, 0xD7, 0xB1, 0x83, 0x0F, 0x42, 0x40]);
        let (id, size, hl) = read_header(&mut io::Cursor::new(&v)).unwrap();
        assert_eq!((id, size, hl), (id::TIMECODE_SCALE, Some(3), 4));
        let mut u = Vec::new();
        u.extend_from_slice(&[0x18, 0x53, 0x80, 0x67]);
        u.extend_from_slice(&UNKNOWN_SIZE);
        let (id, size, _) = read_header(&mut io::Cursor::new(&u)).unwrap();
        assert_eq!((id, size), (id::SEGMENT, None));
    }
}
