use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use crate::io::DATAGRAM_MAX_PACKET_SIZE;
use crate::packet::Vp8Patch;
use crate::rtp_::UserExtensionValues;
use crate::rtp_::{ExtensionValues, MediaTime, Pt, RtpHeader, SenderInfo, SeqNo, Ssrc};

use super::RtpPacket;
use super::rtx_cache_buf::EvictingBuffer;

const RTX_CACHE_SIZE_QUANTIZER: usize = 25;
const RTX_CACHE_QUANTIZE_SLOTS: usize = DATAGRAM_MAX_PACKET_SIZE / RTX_CACHE_SIZE_QUANTIZER;

#[derive(Debug)]
pub(crate) struct RtxCache {
    // Data, new additions here probably need to be cleared in [`clear`].
    packet_by_seq_no: EvictingBuffer<CachedPacket>,

    // Technically we want [Option<SeqNo>; X] to indicate the absence of
    // a SeqNo. However We can half the storage space by using the sentinel
    // values SeqNo::MAX to indicate None
    seq_no_by_quantized_size: [SeqNo; RTX_CACHE_QUANTIZE_SLOTS],

    /// Huddle patch (HUDDLE_PATCHES.md, 13): the extension values of the packet cached last,
    /// shared by the next ones that have the same.
    last_ext_vals: Option<Arc<ExtensionValues>>,
}

/// Huddle patch (HUDDLE_PATCHES.md, 13): a sent packet as the RTX cache keeps it, ~160 bytes
/// instead of a whole `RtpPacket` (~430: the header's 15 CSRC slots and ~200 bytes of
/// extension values). Every field of the packet is kept and [`CachedPacket::restore_into`]
/// rebuilds the same `RtpPacket`: the CSRC list only if one is set, the extension values
/// shared (`Arc`) with the packet cached before when they are equal (the packets of a stream
/// mostly carry the same ones). Values with user extensions are never shared: their equality
/// compares the types held, not the values.
#[derive(Debug)]
pub(crate) struct CachedPacket {
    pub seq_no: SeqNo,
    time: MediaTime,
    pub payload: Arc<[u8]>,
    vp8_patch: Option<Vp8Patch>,
    timestamp: Instant,
    last_sender_info: Option<Box<SenderInfo>>,
    ext_vals: Arc<ExtensionValues>,
    /// `None`: all 15 slots zero (a list with no CSRC).
    csrc: Option<Box<[u32; 15]>>,
    csrc_count: usize,
    header_len: usize,
    rtp_timestamp: u32,
    ssrc: Ssrc,
    sequence_number: u16,
    payload_type: Pt,
    version: u8,
    has_padding: bool,
    has_extension: bool,
    marker: bool,
    pub nackable: bool,
}

impl CachedPacket {
    fn new(packet: RtpPacket, last_ext_vals: &mut Option<Arc<ExtensionValues>>) -> Self {
        let RtpPacket {
            seq_no,
            time,
            header,
            payload,
            vp8_patch,
            timestamp,
            last_sender_info,
            nackable,
        } = packet;
        let RtpHeader {
            version,
            has_padding,
            has_extension,
            csrc_count,
            marker,
            payload_type,
            sequence_number,
            timestamp: rtp_timestamp,
            ssrc,
            csrc,
            ext_vals,
            header_len,
        } = header;
        let shareable = ext_vals.user_values == UserExtensionValues::default();
        let ext_vals = match last_ext_vals {
            Some(last) if shareable && **last == ext_vals => last.clone(),
            _ => {
                let ext_vals = Arc::new(ext_vals);
                *last_ext_vals = shareable.then(|| ext_vals.clone());
                ext_vals
            }
        };
        CachedPacket {
            seq_no,
            time,
            payload,
            vp8_patch,
            timestamp,
            last_sender_info: last_sender_info.map(Box::new),
            ext_vals,
            csrc: (csrc != [0; 15]).then(|| Box::new(csrc)),
            csrc_count,
            header_len,
            rtp_timestamp,
            ssrc,
            sequence_number,
            payload_type,
            version,
            has_padding,
            has_extension,
            marker,
            nackable,
        }
    }

    /// The cached packet, rebuilt into a resend's scratch packet (boxed on first use: most
    /// streams never resend).
    pub fn restore_into<'a>(&self, scratch: &'a mut Option<Box<RtpPacket>>) -> &'a mut RtpPacket {
        let out = scratch.get_or_insert_with(|| Box::new(RtpPacket::blank()));
        **out = RtpPacket {
            seq_no: self.seq_no,
            time: self.time,
            header: RtpHeader {
                version: self.version,
                has_padding: self.has_padding,
                has_extension: self.has_extension,
                csrc_count: self.csrc_count,
                marker: self.marker,
                payload_type: self.payload_type,
                sequence_number: self.sequence_number,
                timestamp: self.rtp_timestamp,
                ssrc: self.ssrc,
                csrc: self.csrc.as_deref().copied().unwrap_or([0; 15]),
                ext_vals: (*self.ext_vals).clone(),
                header_len: self.header_len,
            },
            payload: self.payload.clone(),
            vp8_patch: self.vp8_patch,
            timestamp: self.timestamp,
            last_sender_info: self.last_sender_info.as_deref().copied(),
            nackable: self.nackable,
        };
        out
    }
}

impl RtxCache {
    pub fn new(max_packet_count: usize, max_packet_age: Duration) -> Self {
        Self {
            packet_by_seq_no: EvictingBuffer::new(10, max_packet_age, max_packet_count),
            seq_no_by_quantized_size: [SeqNo::MAX; RTX_CACHE_QUANTIZE_SLOTS],
            last_ext_vals: None,
        }
    }

    pub fn cache_sent_packet(&mut self, packet: RtpPacket, now: Instant) {
        assert!(packet.nackable);
        let seq_no = packet.seq_no;
        let quantized_size = packet.payload.len() / RTX_CACHE_SIZE_QUANTIZER;
        let packet = CachedPacket::new(packet, &mut self.last_ext_vals);
        self.packet_by_seq_no.push(*seq_no, now, packet);
        self.seq_no_by_quantized_size[quantized_size] = seq_no;
        self.remove_old_packets(now);
    }

    pub fn last_cached_seq_no(&self) -> Option<SeqNo> {
        Some(self.packet_by_seq_no.last_position()?.into())
    }

    pub fn get_cached_packet_by_seq_no(&self, seq_no: SeqNo) -> Option<&CachedPacket> {
        self.packet_by_seq_no.get(*seq_no)
    }

    pub fn get_cached_packet_smaller_than(&self, max_size: usize) -> Option<&CachedPacket> {
        let quantized_size = max_size / RTX_CACHE_SIZE_QUANTIZER;

        let seq_no = self.seq_no_by_quantized_size[..quantized_size]
            .iter()
            .rev()
            .filter(|seq_no| !seq_no.is_max())
            .find(|seq_no| self.packet_by_seq_no.contains(***seq_no))?;

        self.get_cached_packet_by_seq_no(*seq_no)
    }

    fn remove_old_packets(&mut self, now: Instant) {
        self.packet_by_seq_no.maybe_evict(now);
    }

    pub(crate) fn last_packet(&self) -> Option<&[u8]> {
        let packet = self.packet_by_seq_no.last()?;
        Some(packet.payload.as_ref())
    }

    pub(crate) fn clear(&mut self) {
        self.packet_by_seq_no.clear();
        self.seq_no_by_quantized_size = [SeqNo::MAX; RTX_CACHE_QUANTIZE_SLOTS];
        self.last_ext_vals = None;
    }
}

#[cfg(test)]
mod test {
    use crate::rtp_::MediaTime;
    use crate::rtp_::RtpHeader;

    use super::*;

    fn restored(packet: Option<&CachedPacket>) -> Option<RtpPacket> {
        let mut out = None;
        packet?.restore_into(&mut out);
        out.map(|p| *p)
    }

    fn after(now: Instant, millis: u64) -> Instant {
        now + Duration::from_millis(millis)
    }

    fn packet(now: Instant, seq_no: u64, millis: u64) -> RtpPacket {
        RtpPacket {
            header: RtpHeader::default(),
            seq_no: seq_no.into(),
            time: MediaTime::from_90khz(0),
            payload: millis.to_be_bytes().into(),
            vp8_patch: None,
            timestamp: after(now, millis),
            last_sender_info: None,
            nackable: true,
        }
    }

    #[test]
    fn a_cached_packet_is_restored_whole_and_equal_extension_values_are_shared() {
        let now = Instant::now();
        let mut rtx_cache = RtxCache::new(10, Duration::from_secs(3));
        let mut first = packet(now, 1, 10);
        first.header.marker = true;
        first.header.payload_type = 96.into();
        first.header.sequence_number = 1;
        first.header.timestamp = 3000;
        first.header.ssrc = 1234.into();
        first.header.csrc_count = 2;
        first.header.csrc[0] = 7;
        first.header.csrc[1] = 8;
        first.header.header_len = 20;
        first.header.ext_vals.video_orientation = Some(crate::rtp_::VideoOrientation::Deg90);
        first.header.ext_vals.mid = Some("1".into());
        first.time = MediaTime::from_90khz(3000);
        let mut second = packet(now, 2, 20);
        second.header.ext_vals = first.header.ext_vals.clone();
        let mut third = packet(now, 3, 30);
        third.header.ext_vals.user_values.set(42u8);
        let mut fourth = packet(now, 4, 40);
        fourth.header.ext_vals.user_values.set(43u8);
        let copies: Vec<RtpPacket> = [&first, &second, &third, &fourth]
            .iter()
            .map(|p| RtpPacket {
                header: p.header.clone(),
                payload: p.payload.clone(),
                last_sender_info: p.last_sender_info,
                ..**p
            })
            .collect();
        for (i, p) in [first, second, third, fourth].into_iter().enumerate() {
            rtx_cache.cache_sent_packet(p, after(now, 10 * (i as u64 + 1)));
        }
        for (i, copy) in copies.iter().enumerate() {
            let seq_no = (i as u64 + 1).into();
            let got = restored(rtx_cache.get_cached_packet_by_seq_no(seq_no)).unwrap();
            assert!(got == *copy, "packet {seq_no} restored as it was cached");
        }
        let ext = |n: u64| {
            rtx_cache
                .get_cached_packet_by_seq_no(n.into())
                .unwrap()
                .ext_vals
                .clone()
        };
        assert!(Arc::ptr_eq(&ext(1), &ext(2)), "equal values are shared");
        assert!(!Arc::ptr_eq(&ext(2), &ext(3)));
        // User values compare by type only: never shared, each keeps its own value.
        assert!(!Arc::ptr_eq(&ext(3), &ext(4)));
        assert_eq!(ext(4).user_values.get::<u8>(), Some(&43));
        assert!(
            rtx_cache
                .get_cached_packet_by_seq_no(1.into())
                .unwrap()
                .csrc
                .is_some()
        );
        assert!(
            rtx_cache
                .get_cached_packet_by_seq_no(2.into())
                .unwrap()
                .csrc
                .is_none()
        );
    }

    #[test]
    fn rtx_cache_0_sized() {
        let now = Instant::now();
        let mut rtx_cache = RtxCache::new(0, Duration::from_secs(3));
        rtx_cache.cache_sent_packet(packet(now, 1, 10), after(now, 10));
        assert_eq!(
            Some(packet(now, 1, 10)),
            restored(rtx_cache.get_cached_packet_by_seq_no(1.into()))
        );
        assert_eq!(
            Some(packet(now, 1, 10)),
            restored(rtx_cache.get_cached_packet_smaller_than(1000))
        );
    }

    #[test]
    fn rtx_cache_0_duration() {
        let now = Instant::now();
        let mut rtx_cache = RtxCache::new(10, Duration::from_secs(0));
        rtx_cache.cache_sent_packet(packet(now, 1, 10), after(now, 10));
        assert_eq!(
            None,
            restored(rtx_cache.get_cached_packet_by_seq_no(1.into()))
        );
        assert_eq!(
            None,
            restored(rtx_cache.get_cached_packet_smaller_than(1000))
        );
    }

    #[test]
    fn rtx_cache_1_sized() {
        let now = Instant::now();
        let mut rtx_cache = RtxCache::new(1, Duration::from_secs(3));
        rtx_cache.cache_sent_packet(packet(now, 1, 10), after(now, 10));
        assert_eq!(
            Some(packet(now, 1, 10)),
            restored(rtx_cache.get_cached_packet_by_seq_no(1.into()))
        );
        assert_eq!(
            Some(packet(now, 1, 10)),
            restored(rtx_cache.get_cached_packet_smaller_than(1000))
        );
        assert_eq!(
            Some(packet(now, 1, 10)),
            restored(rtx_cache.get_cached_packet_smaller_than(25))
        );
        assert_eq!(None, restored(rtx_cache.get_cached_packet_smaller_than(24)));
        rtx_cache.cache_sent_packet(packet(now, 2, 20), after(now, 20));
        assert_eq!(
            Some(packet(now, 2, 20)),
            restored(rtx_cache.get_cached_packet_by_seq_no(2.into()))
        );
    }

    #[test]
    fn rtx_cache_100_sized_backwards() {
        let now = Instant::now();
        let mut rtx_cache = RtxCache::new(100, Duration::from_secs(3));

        for i in 1..=200 {
            let seq_no = 201 - i;
            let pkt = packet(now, seq_no, (201 - i) * 10);
            let now = after(now, i * 10);
            rtx_cache.cache_sent_packet(pkt, now);
        }

        assert_eq!(
            Some(packet(now, 200, 2000)),
            restored(rtx_cache.get_cached_packet_by_seq_no(200.into()))
        );
        assert_eq!(
            None,
            restored(rtx_cache.get_cached_packet_by_seq_no(100.into()))
        );
        assert_eq!(
            None,
            restored(rtx_cache.get_cached_packet_by_seq_no(101.into()))
        );
    }

    #[test]
    fn rtx_cache_eviction() {
        let now = Instant::now();
        // Cache can take all entries
        let mut rtx_cache = RtxCache::new(400, Duration::from_secs(1));
        for i in 1..=200 {
            let seq_no = i;
            let pkt = packet(now, seq_no, i * 10);
            let now = after(now, i * 10);
            rtx_cache.cache_sent_packet(pkt, now);
        }

        assert_eq!(
            None,
            restored(rtx_cache.get_cached_packet_by_seq_no(99.into()))
        );

        assert_eq!(
            Some(packet(now, 100, 1000)),
            restored(rtx_cache.get_cached_packet_by_seq_no(100.into()))
        );
        assert_eq!(
            Some(packet(now, 200, 2000)),
            restored(rtx_cache.get_cached_packet_by_seq_no(200.into()))
        );
    }
}
