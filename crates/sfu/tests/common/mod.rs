//! A browser stand-in: a str0m client `Rtc` (full ICE, controlling, offerer) that publishes
//! synthetic frames or plays. Transport-agnostic: datagrams go in and out through `outbox`.
#![allow(dead_code)]

pub mod compare;
pub mod fanout;
pub mod lab;
pub mod world;

/// Each scenario `fn <scenario>(Forwarding)` of a test file as two tests,
/// `<scenario>::frame` and `<scenario>::rtp` (the file imports `huddle_sfu::Forwarding`).
#[macro_export]
macro_rules! in_both_modes {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            use super::Forwarding;

            #[test]
            fn frame() {
                super::$scenario(Forwarding::Frame)
            }

            #[test]
            fn rtp() {
                super::$scenario(Forwarding::Rtp)
            }
        }
    )*};
}

/// Whether a datagram is RTP: version 2 and not an RTCP packet type (192..=223). SRTP leaves
/// the header readable.
pub fn is_rtp(d: &[u8]) -> bool {
    d.len() >= 12 && d[0] >> 6 == 2 && !(192..=223).contains(&d[1])
}

/// The SSRC of an RTP datagram; None for RTCP and others.
pub fn rtp_ssrc(d: &[u8]) -> Option<u32> {
    is_rtp(d).then(|| u32::from_be_bytes([d[8], d[9], d[10], d[11]]))
}

use std::net::SocketAddr;
use std::time::Instant;

use rand::Rng;
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{
    Direction, Frequency, KeyframeRequestKind, MediaKind, MediaTime, Mid, Pt, Rid, Simulcast,
    SimulcastLayer,
};
use str0m::net::{DatagramRecv, Protocol, Receive};
use str0m::rtp::RtpWrite;
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};

pub struct Client {
    pub rtc: Rtc,
    pub addr: SocketAddr,
    pending: Option<SdpPendingOffer>,
    pub audio: Option<Mid>,
    pub video: Option<Mid>,
    pub connected: bool,
    pub next_timeout: Instant,
    pub outbox: Vec<(SocketAddr, Vec<u8>)>,
    /// Received frames: (kind, payload, keyframe).
    pub received: Vec<(MediaKind, Vec<u8>, bool)>,
    /// When each of `received` arrived.
    pub received_at: Vec<Instant>,
    pub keyframe_requests: Vec<(Instant, KeyframeRequestKind)>,
    /// The simulcast layer each of `keyframe_requests` was for (None: not simulcast).
    pub keyframe_request_layers: Vec<Option<Rid>>,
    /// The RTP media time (its numerator) of each of `received`.
    pub received_time: Vec<u64>,
    /// The playout-delay minimum (ms) each of `received` carried, where negotiated.
    pub received_playout_min: Vec<Option<u64>>,
    /// With `enable_raw_packets`: each RTP packet received, its SSRC and whether it carried
    /// the MID header extension.
    pub rtp_mid: Vec<(u32, bool)>,
    pub closed: bool,
    created: Instant,
}

impl Client {
    fn new(addr: SocketAddr, config: RtcConfig, now: Instant) -> Client {
        let mut rtc = config.build(now);
        rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
        Client {
            rtc,
            addr,
            pending: None,
            audio: None,
            video: None,
            connected: false,
            next_timeout: now,
            outbox: Vec::new(),
            received: Vec::new(),
            received_at: Vec::new(),
            keyframe_requests: Vec::new(),
            keyframe_request_layers: Vec::new(),
            received_time: Vec::new(),
            received_playout_min: Vec::new(),
            rtp_mid: Vec::new(),
            closed: false,
            created: now,
        }
    }

    /// A publisher offering `kinds` sendonly, with only `codecs` enabled. Returns the offer.
    pub fn publisher(
        addr: SocketAddr,
        codecs: &[Codec],
        kinds: &[MediaKind],
        now: Instant,
    ) -> (Client, String) {
        let mut cfg = Rtc::builder().clear_codecs();
        for c in codecs {
            cfg = match c {
                Codec::Opus => cfg.enable_opus(true, false),
                Codec::PCMU => cfg.enable_pcmu(true, false),
                Codec::PCMA => cfg.enable_pcma(true, false),
                Codec::Vp8 => cfg.enable_vp8(true),
                Codec::H264 => cfg.enable_h264(true),
                Codec::Vp9 => cfg.enable_vp9(true),
                other => panic!("unsupported in test: {other:?}"),
            };
        }
        Client::publisher_from(addr, cfg, kinds, now)
    }

    /// A publisher offering `kinds` sendonly with the given config (e.g. Opus with RED, as
    /// Chrome offers it, or RTP mode to write packets as they are). Returns the offer.
    pub fn publisher_from(
        addr: SocketAddr,
        cfg: RtcConfig,
        kinds: &[MediaKind],
        now: Instant,
    ) -> (Client, String) {
        let mut c = Client::new(addr, cfg, now);
        let mut api = c.rtc.sdp_api();
        let mut audio = None;
        let mut video = None;
        for k in kinds {
            let mid = api.add_media(
                *k,
                Direction::SendOnly,
                Some("pubstream".into()),
                None,
                None,
            );
            match k {
                MediaKind::Audio => audio = Some(mid),
                MediaKind::Video => video = Some(mid),
            }
        }
        let (offer, pending) = api.apply().unwrap();
        c.audio = audio;
        c.video = video;
        c.pending = Some(pending);
        (c, offer.to_sdp_string())
    }

    /// A VP8 + Opus publisher whose video offers the simulcast layers `rids` (as a browser
    /// publishing with `sendEncodings`). Returns the offer.
    pub fn simulcast_publisher(addr: SocketAddr, rids: &[&str], now: Instant) -> (Client, String) {
        let cfg = Rtc::builder()
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true);
        let mut c = Client::new(addr, cfg, now);
        let mut simulcast = Simulcast::new();
        for rid in rids {
            simulcast.add_send_layer(SimulcastLayer::new(rid));
        }
        let mut api = c.rtc.sdp_api();
        let stream = Some("pubstream".into());
        let a = api.add_media(
            MediaKind::Audio,
            Direction::SendOnly,
            stream.clone(),
            None,
            None,
        );
        let v = api.add_media(
            MediaKind::Video,
            Direction::SendOnly,
            stream,
            None,
            Some(simulcast),
        );
        let (offer, pending) = api.apply().unwrap();
        c.audio = Some(a);
        c.video = Some(v);
        c.pending = Some(pending);
        (c, offer.to_sdp_string())
    }

    /// Writes one video frame on simulcast layer `rid` (see [`Client::simulcast_publisher`]).
    pub fn write_layer(&mut self, rid: &str, now: Instant, rtp_time: u64, data: &[u8]) {
        let mid = self.video.expect("video track");
        let w = self.rtc.writer(mid).unwrap();
        let pt = w.payload_params().next().unwrap().pt();
        w.rid(rid.into())
            .write(
                pt,
                now,
                MediaTime::new(rtp_time, Frequency::NINETY_KHZ),
                data.to_vec(),
            )
            .expect("write layer frame");
        self.poll(now);
    }

    /// A player offering recvonly audio then video, with a browser-like codec set.
    pub fn player(addr: SocketAddr, now: Instant) -> (Client, String) {
        let cfg = Rtc::builder()
            .enable_pcmu(true, false)
            .enable_pcma(true, false);
        Client::player_from(addr, cfg, now)
    }

    /// A player offering recvonly audio then video with the given config.
    pub fn player_from(addr: SocketAddr, cfg: RtcConfig, now: Instant) -> (Client, String) {
        let mut c = Client::new(addr, cfg, now);
        let mut api = c.rtc.sdp_api();
        let a = api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
        let v = api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        let (offer, pending) = api.apply().unwrap();
        c.audio = Some(a);
        c.video = Some(v);
        c.pending = Some(pending);
        (c, offer.to_sdp_string())
    }

    pub fn accept_answer(&mut self, sdp: &str) {
        let answer = SdpAnswer::from_sdp_string(sdp).expect("answer parses");
        let pending = self.pending.take().expect("pending offer");
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .expect("answer accepted");
        // ICE checks start now: make the next turn poll this client.
        self.next_timeout = self.created;
    }

    /// Waiting for the answer. Such a client must not be polled: str0m would arm its ICE timer
    /// for 3 s and accepting the answer does not re-arm it (the browser has no such delay).
    pub fn negotiating(&self) -> bool {
        self.pending.is_some()
    }

    pub fn receive(&mut self, now: Instant, source: SocketAddr, data: &[u8]) {
        let Ok(contents) = DatagramRecv::try_from(data) else {
            return;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.addr,
                contents,
            },
        );
        if self.rtc.accepts(&input) {
            self.rtc.handle_input(input).expect("client input");
        }
        self.poll(now);
    }

    pub fn timeout(&mut self, now: Instant) {
        self.rtc
            .handle_input(Input::Timeout(now))
            .expect("client timeout");
        self.poll(now);
    }

    pub fn poll(&mut self, now: Instant) {
        for _ in 0..100_000 {
            if !self.rtc.is_alive() {
                self.closed = true;
                return;
            }
            match self.rtc.poll_output().expect("client poll") {
                Output::Timeout(t) => {
                    self.next_timeout = t;
                    return;
                }
                Output::Transmit(t) => self.outbox.push((t.destination, t.contents.into())),
                Output::Event(e) => match e {
                    Event::Connected => self.connected = true,
                    Event::MediaData(d) => {
                        let kind = self.rtc.media(d.mid).unwrap().kind();
                        let key = d.is_keyframe();
                        self.received.push((kind, d.data.to_vec(), key));
                        self.received_at.push(now);
                        self.received_time.push(d.time.numer());
                        let min = d.ext_vals.play_delay_min;
                        let ms = min.map(|t| (t.as_seconds() * 1000.0).round() as u64);
                        self.received_playout_min.push(ms);
                    }
                    Event::KeyframeRequest(r) => {
                        self.keyframe_requests.push((now, r.kind));
                        self.keyframe_request_layers.push(r.rid);
                    }
                    Event::Closed => self.closed = true,
                    Event::RawPacket(p) => {
                        if let str0m::rtp::RawPacket::RtpRx(h, _) = *p {
                            self.rtp_mid.push((*h.ssrc, h.ext_vals.mid.is_some()));
                        }
                    }
                    _ => {}
                },
            }
        }
        panic!("client poll did not settle");
    }

    /// Writes one frame on the track of `kind` with the first negotiated codec.
    pub fn write(&mut self, kind: MediaKind, now: Instant, rtp_time: u64, data: &[u8]) {
        let mid = match kind {
            MediaKind::Audio => self.audio,
            MediaKind::Video => self.video,
        }
        .expect("track of that kind");
        let freq = match kind {
            MediaKind::Audio => {
                let w = self.rtc.writer(mid).unwrap();
                let p = w.payload_params().next().expect("negotiated audio codec");
                if p.spec().codec == Codec::Opus {
                    Frequency::FORTY_EIGHT_KHZ
                } else {
                    Frequency::EIGHT_KHZ
                }
            }
            MediaKind::Video => Frequency::NINETY_KHZ,
        };
        let w = self.rtc.writer(mid).unwrap();
        let pt = w.payload_params().next().unwrap().pt();
        w.write(pt, now, MediaTime::new(rtp_time, freq), data.to_vec())
            .expect("write frame");
        self.poll(now);
    }

    /// Writes one RTP packet as it is given (`seq`, `time`, payload) on the track of `kind`,
    /// through the direct API of a client in RTP mode ([`RtcConfig::set_rtp_mode`]).
    #[allow(clippy::too_many_arguments)]
    pub fn write_rtp(
        &mut self,
        kind: MediaKind,
        now: Instant,
        pt: Pt,
        seq: u64,
        time: u32,
        payload: &[u8],
    ) {
        let mid = match kind {
            MediaKind::Audio => self.audio,
            MediaKind::Video => self.video,
        }
        .expect("track of that kind");
        let mut api = self.rtc.direct_api();
        let stream = api.stream_tx_by_mid(mid, None).expect("send stream");
        stream.write_rtp(RtpWrite::new(pt, seq.into(), time, now, payload.to_vec()));
        self.poll(now);
    }

    /// The negotiated Opus payload type and the RED payload type wrapping it (if negotiated).
    pub fn opus_pts(&self) -> (Pt, Option<Pt>) {
        let p = self
            .rtc
            .codec_config()
            .params()
            .iter()
            .find(|p| p.spec().codec == Codec::Opus)
            .expect("Opus configured");
        (p.pt(), p.red())
    }

    pub fn negotiated(&mut self, kind: MediaKind) -> Option<Codec> {
        let mid = match kind {
            MediaKind::Audio => self.audio,
            MediaKind::Video => self.video,
        }?;
        let w = self.rtc.writer(mid)?;
        let p = w.payload_params().next()?;
        Some(p.spec().codec)
    }

    pub fn request_keyframe(&mut self, now: Instant) {
        let mid = self.video.unwrap();
        let mut w = self.rtc.writer(mid).unwrap();
        w.request_keyframe(None, KeyframeRequestKind::Pli)
            .expect("keyframe request");
        self.poll(now);
    }

    pub fn frames(&self, kind: MediaKind) -> Vec<&[u8]> {
        self.received
            .iter()
            .filter(|(k, _, _)| *k == kind)
            .map(|(_, d, _)| d.as_slice())
            .collect()
    }
}

/// Synthetic video frames that the depacketizers recognise (keyframe flag included).
pub fn video_frame(codec: Codec, index: u32, keyframe: bool) -> Vec<u8> {
    let body = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|i| ((i as u32 * 7 + index * 13) % 250 + 2) as u8)
            .collect()
    };
    match codec {
        Codec::Vp8 => {
            let size = if keyframe { 3000 } else { 1400 };
            let mut v = Vec::with_capacity(size);
            // Frame tag: bit0 = 0 for a keyframe, show_frame bit set.
            v.push(if keyframe { 0x10 } else { 0x11 });
            v.extend_from_slice(&[0x02, 0x00]);
            if keyframe {
                v.extend_from_slice(&[0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]);
            }
            v.extend_from_slice(&index.to_be_bytes());
            v.extend(body(size - v.len()));
            v
        }
        Codec::H264 => {
            let mut v = Vec::new();
            if keyframe {
                v.extend_from_slice(&[0, 0, 0, 1, 0x67, 0x42, 0xe0, 0x1f, 0x8c, 0x8d, 0x40]);
                v.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80]);
                v.extend_from_slice(&[0, 0, 0, 1, 0x65]);
                v.extend_from_slice(&index.to_be_bytes().map(|b| b | 0x80));
                v.extend(body(3000));
            } else {
                v.extend_from_slice(&[0, 0, 0, 1, 0x41]);
                v.extend_from_slice(&index.to_be_bytes().map(|b| b | 0x80));
                v.extend(body(1200));
            }
            v
        }
        other => panic!("no synthetic frames for {other:?}"),
    }
}

pub fn audio_frame(codec: Codec, index: u32) -> Vec<u8> {
    let n = if codec == Codec::Opus { 80 } else { 160 };
    let mut v = index.to_be_bytes().to_vec();
    v.extend((0..n - 4).map(|i| ((i as u32 + index) % 256) as u8));
    v
}

/// `got` must be a non-empty run of consecutive elements of `sent` (byte-equal, in order).
pub fn assert_window(sent: &[Vec<u8>], got: &[&[u8]], what: &str) {
    assert!(!got.is_empty(), "{what}: nothing received");
    let start = position(sent, got[0], 0, what);
    for (i, g) in got.iter().enumerate() {
        let s = sent
            .get(start + i)
            .unwrap_or_else(|| panic!("{what}: extra frame {i}"));
        assert!(
            s.as_slice() == *g,
            "{what}: received frame {i} is not sent frame {} ({} vs {} bytes, head {:?} vs {:?})",
            start + i,
            g.len(),
            s.len(),
            &g[..g.len().min(8)],
            &s[..s.len().min(8)]
        );
    }
}

/// Every element of `got` is byte-equal to an element of `sent`, in increasing order (frames
/// may be missing, as on a real network).
pub fn assert_subsequence(sent: &[Vec<u8>], got: &[&[u8]], what: &str) {
    assert!(!got.is_empty(), "{what}: nothing received");
    let mut from = 0;
    for g in got {
        from = position(sent, g, from, what) + 1;
    }
}

fn position(sent: &[Vec<u8>], frame: &[u8], from: usize, what: &str) -> usize {
    sent[from..]
        .iter()
        .position(|s| s.as_slice() == frame)
        .map(|p| p + from)
        .unwrap_or_else(|| {
            panic!(
                "{what}: received frame ({} bytes, head {:?}) was never sent (after #{from})",
                frame.len(),
                &frame[..frame.len().min(8)]
            )
        })
}

/// Random junk, truncated STUN, bogus RTP/RTCP and DTLS-looking records.
pub fn garbage(rng: &mut impl Rng, i: usize) -> Vec<u8> {
    match i % 5 {
        0 => {
            let mut v = vec![0u8; rng.random_range(1..1400)];
            rng.fill(&mut v[..]);
            v
        }
        1 => {
            // STUN binding request header, cut short or lying about its length.
            let mut v = vec![0x00, 0x01, 0x00, 0x50, 0x21, 0x12, 0xa4, 0x42];
            v.extend((0..12).map(|_| rng.random::<u8>()));
            v.truncate(rng.random_range(2..v.len() + 1));
            v
        }
        2 => {
            // RTP-looking: version 2, PT 96, random ssrc and payload.
            let mut v = vec![0x80, 96];
            v.extend((0..10).map(|_| rng.random::<u8>()));
            let mut tail = vec![0u8; rng.random_range(0..1200)];
            rng.fill(&mut tail[..]);
            v.extend(tail);
            v
        }
        3 => {
            // RTCP-looking (PT 200..=206 range) with nonsense.
            let mut v = vec![0x81, 201, 0x00, 0x07];
            v.extend((0..rng.random_range(0..60)).map(|_| rng.random::<u8>()));
            v
        }
        _ => {
            // DTLS handshake record header with junk.
            let mut v = vec![0x16, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00];
            v.extend((0..rng.random_range(0..300)).map(|_| rng.random::<u8>()));
            v
        }
    }
}

/// A recording request for the tests' one publisher (the recorder factory they set decides
/// where its frames go; `file_name` only names it).
pub fn record_request(file_name: &str) -> huddle_room::RecordRequest {
    huddle_room::RecordRequest {
        file_name: file_name.into(),
        room: None,
        login: "publisher".into(),
        stream: "s".into(),
        started_unix_ms: 0,
    }
}
