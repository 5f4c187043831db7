//! One WebRTC client: a str0m `Rtc` (full ICE) with its own UDP socket, driven by a sans-IO loop
//! inside a tokio task. A publisher sends synthetic VP8 + Opus; a subscriber measures what
//! arrives.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::RtpWrite;
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::watch;

use crate::media::{self, MediaShape};
use crate::stats::Stats;
use crate::vp8_rtp;

/// What a peer does once connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Publisher { audio: bool, video: bool },
    Subscriber,
}

/// Shared run context for all peers of a scenario.
#[derive(Clone)]
pub struct Ctx {
    pub stats: Arc<Stats>,
    /// The common clock: stamps are nanoseconds since this instant.
    pub base: Instant,
    pub shape: MediaShape,
    /// Flips to true when the scenario ends.
    pub stop: watch::Receiver<bool>,
    /// Give up if ICE+DTLS are not up by then.
    pub connect_timeout: Duration,
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub struct Peer {
    pub name: String,
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    pending: Option<SdpPendingOffer>,
    /// Media lines this peer added to its offer.
    mids: Vec<(Mid, MediaKind)>,
    /// str0m RTP mode: a publisher writes RTP packets itself (`vp8_rtp.rs` says why).
    rtp_mode: bool,
}

fn rtc_config(rtp_mode: bool) -> RtcConfig {
    // VP8 + Opus only, so every server picks the codec we generate.
    RtcConfig::new()
        .clear_codecs()
        .enable_opus(true, false)
        .enable_vp8(true)
        .set_stats_interval(None)
        .set_rtp_mode(rtp_mode)
}

impl Peer {
    /// Bind a UDP socket on `ip` (a loopback address) and make an Rtc with that host candidate.
    pub async fn bind(ip: IpAddr, name: impl Into<String>) -> Result<Peer, BoxError> {
        Self::bind_with(ip, name, false).await
    }

    /// Like [`Peer::bind`]; `rtp_mode` makes a publisher packetize VP8 itself, with the picture
    /// ID browsers send (mediasoup needs it; see `vp8_rtp.rs`).
    pub async fn bind_with(
        ip: IpAddr,
        name: impl Into<String>,
        rtp_mode: bool,
    ) -> Result<Peer, BoxError> {
        if !ip.is_loopback() {
            return Err(format!("refusing to bind non-loopback address {ip}").into());
        }
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
        let local = socket.local_addr()?;
        let mut rtc = rtc_config(rtp_mode).build(Instant::now());
        let cand = Candidate::host(local, "udp")?;
        rtc.add_local_candidate(cand);
        Ok(Peer {
            name: name.into(),
            rtc,
            socket,
            local,
            pending: None,
            mids: Vec::new(),
            rtp_mode,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Make the SDP offer for this role: publisher = sendonly audio/video, subscriber = recvonly
    /// audio + video (the order the Flashphoner SDK uses: audio first).
    pub fn create_offer(&mut self, role: Role) -> Result<String, BoxError> {
        let mut api = self.rtc.sdp_api();
        match role {
            Role::Publisher { audio, video } => {
                if audio {
                    let m = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
                    self.mids.push((m, MediaKind::Audio));
                }
                if video {
                    let m = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
                    self.mids.push((m, MediaKind::Video));
                }
            }
            Role::Subscriber => {
                api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
                api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
            }
        }
        let (offer, pending) = api.apply().ok_or("no SDP changes")?;
        self.pending = Some(pending);
        Ok(offer.to_sdp_string())
    }

    pub fn accept_answer(&mut self, sdp: &str) -> Result<(), BoxError> {
        let answer = SdpAnswer::from_sdp_string(sdp)?;
        let pending = self.pending.take().ok_or("no pending offer")?;
        self.rtc.sdp_api().accept_answer(pending, answer)?;
        // str0m schedules its first ICE check only when it is next driven by time. When it is
        // the DTLS client, accepting the answer queues a ClientHello and the loop polls at once;
        // as DTLS server (an answer saying `a=setup:active`, Huddle's dtls_client setting) it
        // would report no timeout at all and never send a check: drive it now.
        self.rtc.handle_input(Input::Timeout(Instant::now()))?;
        Ok(())
    }

    /// Answer a remote offer (Janus subscribers: the server offers).
    pub fn accept_offer(&mut self, sdp: &str) -> Result<String, BoxError> {
        let offer = SdpOffer::from_sdp_string(sdp)?;
        let answer = self.rtc.sdp_api().accept_offer(offer)?;
        Ok(answer.to_sdp_string())
    }

    /// Drive the peer until the scenario stops or the connection dies.
    /// Returns Ok(true) if it connected.
    pub async fn run(
        mut self,
        role: Role,
        mut ctx: Ctx,
        mut on_connected: Option<tokio::sync::oneshot::Sender<()>>,
    ) -> Result<bool, BoxError> {
        let stats = ctx.stats.clone();
        let started = Instant::now();
        let mut buf = vec![0u8; 2048];
        let mut connected = false;
        let mut st = SendState::new(&ctx.shape, self.rtp_mode);
        let mut rx: HashMap<Mid, RxState> = HashMap::new();
        let mut got_media = false;
        let mut result = Ok(false);
        'outer: loop {
            // Drain outputs until str0m wants input or time.
            let timeout = loop {
                match self.rtc.poll_output() {
                    Ok(Output::Timeout(t)) => break t,
                    Ok(Output::Transmit(t)) => {
                        if !t.destination.ip().is_loopback() {
                            Stats::inc(&stats.refused_non_loopback);
                            continue;
                        }
                        Stats::inc(&stats.tx_datagrams);
                        if let Err(e) = self.socket.try_send_to(&t.contents, t.destination) {
                            if e.kind() == io::ErrorKind::WouldBlock {
                                let _ = self.socket.send_to(&t.contents, t.destination).await;
                            }
                        }
                    }
                    Ok(Output::Event(ev)) => match ev {
                        Event::Connected => {
                            connected = true;
                            Stats::inc(&stats.peers_connected);
                            result = Ok(true);
                            if let Some(tx) = on_connected.take() {
                                let _ = tx.send(());
                            }
                            if let Role::Publisher { .. } = role {
                                st.start(&mut self.rtc, &self.mids);
                            }
                        }
                        Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                            tracing::debug!(peer = %self.name, "ICE disconnected");
                            break 'outer;
                        }
                        Event::KeyframeRequest(_) => st.key_requested = true,
                        Event::MediaData(d) => {
                            let video =
                                self.rtc.media(d.mid).map(|m| m.kind()) == Some(MediaKind::Video);
                            if !got_media {
                                got_media = true;
                                Stats::inc(&stats.subscribers_receiving);
                            }
                            on_media(&stats, ctx.base, &mut rx, video, &d);
                        }
                        _ => {}
                    },
                    Err(e) => {
                        tracing::warn!(peer = %self.name, "rtc error: {e}");
                        Stats::inc(&stats.peers_failed);
                        return Err(e.into());
                    }
                }
            };
            if !self.rtc.is_alive() {
                break;
            }
            if *ctx.stop.borrow() {
                break;
            }
            if !connected && started.elapsed() > ctx.connect_timeout {
                Stats::inc(&stats.peers_failed);
                return Err(format!(
                    "{}: not connected after {:?}",
                    self.name, ctx.connect_timeout
                )
                .into());
            }
            let mut wake = timeout;
            if connected && st.active {
                wake = wake.min(st.next_due());
            }
            tokio::select! {
                biased;
                _ = ctx.stop.changed() => break,
                r = self.socket.recv_from(&mut buf) => {
                    let (n, source) = r?;
                    self.input(&buf[..n], source);
                    // Batch whatever else is already queued.
                    for _ in 0..64 {
                        match self.socket.try_recv_from(&mut buf) {
                            Ok((n, source)) => self.input(&buf[..n], source),
                            Err(_) => break,
                        }
                    }
                }
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
            let now = Instant::now();
            if connected && st.active {
                st.send_due(&mut self.rtc, &stats, ctx.base, now);
            }
            if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
                tracing::warn!(peer = %self.name, "rtc timeout error: {e}");
                break;
            }
        }
        self.rtc.disconnect();
        result
    }

    fn input(&mut self, data: &[u8], source: SocketAddr) {
        let Ok(contents) = data.try_into() else {
            return;
        };
        let input = Input::Receive(
            Instant::now(),
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.local,
                contents,
            },
        );
        if let Err(e) = self.rtc.handle_input(input) {
            tracing::debug!(peer = %self.name, "input error: {e}");
        }
    }
}

#[derive(Default)]
struct RxState {
    last_seq: Option<u32>,
}

fn on_media(
    stats: &Stats,
    base: Instant,
    rx: &mut HashMap<Mid, RxState>,
    video: bool,
    d: &str0m::media::MediaData,
) {
    let now_ns = base.elapsed().as_nanos() as u64;
    let parsed = if video {
        media::parse_vp8(&d.data)
    } else {
        media::parse_opus(&d.data)
    };
    let Some(stamp) = parsed else {
        Stats::inc(&stats.bad_payloads);
        return;
    };
    let pkts = **d.seq_range.end() - **d.seq_range.start() + 1;
    stats.rx_packets.fetch_add(pkts, Relaxed);
    stats.rx_bytes.fetch_add(d.data.len() as u64, Relaxed);
    if video {
        Stats::inc(&stats.rx_video_frames);
    } else {
        Stats::inc(&stats.rx_audio_frames);
    }
    if !d.contiguous {
        Stats::inc(&stats.discontinuities);
    }
    let s = rx.entry(d.mid).or_default();
    if let Some(last) = s.last_seq {
        if stamp.seq > last.wrapping_add(1) && stamp.seq > last {
            let n = u64::from(stamp.seq - last - 1);
            stats.lost_frames.fetch_add(n, Relaxed);
            if !video {
                stats.lost_audio_frames.fetch_add(n, Relaxed);
            }
        }
    }
    if s.last_seq.is_none_or(|l| stamp.seq > l) {
        s.last_seq = Some(stamp.seq);
    }
    let lat_us = now_ns.saturating_sub(stamp.sent_ns) / 1000;
    stats.record_latency(video, lat_us.min(u32::MAX as u64) as u32);
}

/// Publisher timing and payload state.
struct SendState {
    active: bool,
    video: Option<(Mid, Pt)>,
    audio: Option<(Mid, Pt)>,
    next_video: Instant,
    next_audio: Instant,
    video_period: Duration,
    audio_period: Duration,
    vseq: u32,
    aseq: u32,
    frame_idx: u64,
    key_requested: bool,
    last_forced_key: Option<Instant>,
    sizes: (usize, usize),
    shape: MediaShape,
    /// Write RTP packets (`vp8_rtp.rs`) instead of frames; next sequence numbers (video, audio).
    rtp_mode: bool,
    rtp_seq: (u64, u64),
}

impl SendState {
    fn new(shape: &MediaShape, rtp_mode: bool) -> Self {
        let now = Instant::now();
        SendState {
            active: false,
            video: None,
            audio: None,
            next_video: now,
            next_audio: now,
            video_period: Duration::from_secs(1) / shape.fps,
            audio_period: Duration::from_millis(u64::from(shape.audio_ptime_ms)),
            vseq: 0,
            aseq: 0,
            frame_idx: 0,
            key_requested: false,
            last_forced_key: None,
            sizes: shape.frame_sizes(),
            shape: *shape,
            rtp_mode,
            // Any start below 65 536 (no rollover counter to signal); apart, to tell them apart.
            rtp_seq: (1000, 30_000),
        }
    }

    fn start(&mut self, rtc: &mut Rtc, mids: &[(Mid, MediaKind)]) {
        for &(mid, kind) in mids {
            let want = if kind == MediaKind::Video {
                Codec::Vp8
            } else {
                Codec::Opus
            };
            let pt = if self.rtp_mode {
                // Our answerers keep the offered payload types: the configured ones.
                rtc.codec_config()
                    .find(|p| p.spec().codec == want)
                    .map(|p| p.pt())
            } else {
                rtc.writer(mid).and_then(|w| {
                    w.payload_params()
                        .find(|p| p.spec().codec == want)
                        .map(|p| p.pt())
                })
            };
            if let Some(pt) = pt {
                if kind == MediaKind::Video {
                    self.video = Some((mid, pt));
                } else {
                    self.audio = Some((mid, pt));
                }
            }
        }
        let now = Instant::now();
        self.next_video = now;
        self.next_audio = now;
        self.active = self.video.is_some() || self.audio.is_some();
    }

    fn next_due(&self) -> Instant {
        match (self.video, self.audio) {
            (Some(_), Some(_)) => self.next_video.min(self.next_audio),
            (Some(_), None) => self.next_video,
            _ => self.next_audio,
        }
    }

    fn send_due(&mut self, rtc: &mut Rtc, stats: &Stats, base: Instant, now: Instant) {
        if let Some((mid, pt)) = self.video {
            let mut n = 0;
            while self.next_video <= now && n < 3 {
                n += 1;
                let scheduled_key = self
                    .frame_idx
                    .is_multiple_of(u64::from(self.shape.keyframe_interval_frames));
                let forced = self.key_requested
                    && self
                        .last_forced_key
                        .is_none_or(|t| now - t > Duration::from_millis(500));
                let key = scheduled_key || forced;
                if forced {
                    self.last_forced_key = Some(now);
                }
                if key {
                    self.key_requested = false;
                }
                let size = if key { self.sizes.0 } else { self.sizes.1 };
                let stamp = base.elapsed().as_nanos() as u64;
                let data = media::vp8_frame(key, size, stamp, self.vseq);
                let rtp = MediaTime::new(
                    self.frame_idx * 90_000 / u64::from(self.shape.fps),
                    Frequency::NINETY_KHZ,
                );
                if self.rtp_mode {
                    let time = rtp.numer() as u32;
                    if self.write_vp8_rtp(rtc, mid, pt, now, time, &data) {
                        Stats::inc(&stats.tx_video_frames);
                    }
                } else if let Some(w) = rtc.writer(mid) {
                    if w.write(pt, now, rtp, data).is_ok() {
                        Stats::inc(&stats.tx_video_frames);
                    }
                }
                self.vseq += 1;
                self.frame_idx += 1;
                self.next_video += self.video_period;
            }
            if self.next_video <= now {
                // Fell behind (overloaded): skip ahead rather than burst.
                self.next_video = now + self.video_period;
            }
        }
        if let Some((mid, pt)) = self.audio {
            let mut n = 0;
            while self.next_audio <= now && n < 3 {
                n += 1;
                let stamp = base.elapsed().as_nanos() as u64;
                let data = media::opus_frame(self.shape.audio_bytes, stamp, self.aseq);
                let rtp = MediaTime::new(u64::from(self.aseq) * 960, Frequency::FORTY_EIGHT_KHZ);
                if self.rtp_mode {
                    let time = rtp.numer() as u32;
                    let mut api = rtc.direct_api();
                    if let Some(tx) = api.stream_tx_by_mid(mid, None) {
                        let seq = self.rtp_seq.1;
                        self.rtp_seq.1 += 1;
                        tx.write_rtp(
                            RtpWrite::new(pt, seq.into(), time, now, data)
                                .marker(true)
                                .nackable(true),
                        );
                        Stats::inc(&stats.tx_audio_frames);
                    }
                } else if let Some(w) = rtc.writer(mid) {
                    if w.write(pt, now, rtp, data).is_ok() {
                        Stats::inc(&stats.tx_audio_frames);
                    }
                }
                self.aseq += 1;
                self.next_audio += self.audio_period;
            }
            if self.next_audio <= now {
                self.next_audio = now + self.audio_period;
            }
        }
    }

    /// One VP8 frame as RTP packets with picture IDs (RTP mode); false if the stream is gone.
    fn write_vp8_rtp(
        &mut self,
        rtc: &mut Rtc,
        mid: Mid,
        pt: Pt,
        now: Instant,
        time: u32,
        frame: &[u8],
    ) -> bool {
        let mut api = rtc.direct_api();
        let Some(tx) = api.stream_tx_by_mid(mid, None) else {
            return false;
        };
        let pkts = vp8_rtp::packetize(frame, self.vseq as u16);
        let last = pkts.len().saturating_sub(1);
        for (i, payload) in pkts.into_iter().enumerate() {
            let seq = self.rtp_seq.0;
            self.rtp_seq.0 += 1;
            tx.write_rtp(
                RtpWrite::new(pt, seq.into(), time, now, payload)
                    .marker(i == last)
                    .nackable(true),
            );
        }
        true
    }
}
