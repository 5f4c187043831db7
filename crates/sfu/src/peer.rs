//! One WebRTC peer: its str0m `Rtc`, its role, and its liveness timers.

use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use huddle_room::{PeerId, Transport};
use str0m::bwe::Bitrate;
use str0m::change::SdpOffer;
use str0m::config::DtlsCert;
use str0m::format::CodecConfig;
use str0m::media::{MediaKind, Mid, Pt};
use str0m::net::TcpType;
use str0m::rtp::ExtensionMap;
use str0m::{Candidate, Rtc};

use crate::bandwidth::{RateMeter, VideoGate, CURRENT_ESTIMATE_EVERY, INITIAL_ESTIMATE_BPS};
use crate::codecs::SourceCodecs;
use crate::keyframes::KeyframeGate;
use crate::quality::QualityMeter;

/// Not connected this long after the answer: ICE (or DTLS) never came up. Long enough for a
/// browser that falls back to ICE-TCP or a TURN relay (a few seconds), short enough that the
/// SDK shows the failure while the user still waits (was 20 s).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Connected, but no datagram at all from the peer for this long. Browsers send consent
/// checks every 2.5 s at most and RTCP at least every second per video stream (5 s audio),
/// so 6 s of silence is two missed consent checks in a row: the path is gone (was 12 s).
pub const SILENCE_TIMEOUT: Duration = Duration::from_secs(6);
/// Connected publisher, but no media frame for this long.
pub const MEDIA_TIMEOUT: Duration = Duration::from_secs(8);
/// The browser closed DTLS; if the core has not closed us by then, report it.
pub const REMOTE_CLOSE_GRACE: Duration = Duration::from_secs(2);

pub struct Publisher {
    /// Mid and negotiated params of the first audio / video m-line.
    pub audio_mid: Option<Mid>,
    pub video_mid: Option<Mid>,
    pub codecs: SourceCodecs,
    pub last_media: Option<Instant>,
    /// The latest wallclock a video frame of this publisher was written with (forward.rs
    /// `in_order_wallclock`): kept from going back, str0m sends by it.
    pub video_wallclock: Option<Instant>,
    /// Keyframe requests to this publisher, coalesced and rate-limited.
    pub keyframes: KeyframeGate,
    /// The latest keyframe and the video frames after it, for a player that connects just
    /// after it went by (keyframe_hold.rs).
    pub hold: crate::keyframe_hold::KeyframeHold,
    /// What the publisher sends, per kind: what each of its players' video needs.
    pub audio_rate: RateMeter,
    pub video_rate: RateMeter,
    /// Our NACKs for the publisher's video so far (not kept for a simulcast publisher, whose
    /// layers count apart): a new one is a repair its players get late (playout.rs).
    pub video_nacks_out: crate::playout::NackCount,
    /// RTP mode (`forwarding = "rtp"`): packet parsing and frame assembly (rtp/source.rs).
    pub rtp: Option<Box<crate::rtp::source::SourceRtp>>,
    /// The video's simulcast layers, when the publisher sends several (simulcast.rs).
    pub simulcast: Option<Box<crate::simulcast::SimulcastIn>>,
}

impl Publisher {
    pub fn kind_of(&self, mid: Mid) -> Option<MediaKind> {
        if Some(mid) == self.audio_mid {
            Some(MediaKind::Audio)
        } else if Some(mid) == self.video_mid {
            Some(MediaKind::Video)
        } else {
            None
        }
    }
}

pub struct Player {
    pub source: PeerId,
    /// Per kind: the player's mid and the player's payload type for the source's codec.
    pub audio: Option<(Mid, Pt)>,
    pub video: Option<(Mid, Pt)>,
    /// Video is held back until the next keyframe, so the decoder starts clean.
    pub waiting_keyframe: bool,
    /// The player's bandwidth estimate and whether its video is paused for it.
    pub bandwidth: VideoGate,
    /// The video send queue was backed up at the last frame: video frames are dropped (and
    /// the player asks for no keyframe) until it drains.
    pub starved: bool,
    /// When this player last asked its publisher for a keyframe (one per PLAYER_KEYFRAME_GAP).
    pub last_keyframe_ask: Option<Instant>,
    pub video_frames_dropped: u64,
    /// Restarts the estimator when the pacer, not the link, holds video back (headroom.rs).
    pub headroom: crate::headroom::Headroom,
    /// A jitter-buffer floor for the player's video while loss delays it (playout.rs).
    pub playout: crate::playout::Playout,
    /// RTP mode: the player's sequence numbers, timestamps and VP8 ids (rtp/rewrite.rs).
    pub rtp: Box<crate::rtp::write::PlayerTracks>,
    /// Of a simulcast source: the layer chosen for this player (layers.rs) and the layer it
    /// receives, switched on keyframes (simulcast.rs).
    pub layer_choice: crate::layers::LayerChooser,
    pub layer: crate::simulcast::Follow,
}

impl Player {
    pub fn track(&self, kind: MediaKind) -> Option<(Mid, Pt)> {
        match kind {
            MediaKind::Audio => self.audio,
            MediaKind::Video => self.video,
        }
    }
}

pub enum Role {
    Publisher(Box<Publisher>),
    Player(Box<Player>),
}

pub struct Peer {
    pub id: PeerId,
    pub rtc: Rtc,
    pub role: Role,
    pub created: Instant,
    pub connected: Option<Instant>,
    pub last_rx: Instant,
    /// When str0m wants its next `Input::Timeout`. Mirrored in the Sfu's deadline table:
    /// set it with `sfu::set_next_timeout`, which keeps both.
    pub next_timeout: Instant,
    /// The last time fed into the Rtc.
    pub now: Instant,
    /// A Failed event was already reported for this peer.
    pub failed: bool,
    pub remote_closed: Option<Instant>,
    /// ICE came up (for the connect-timeout reason: ICE vs DTLS).
    pub ice_connected: bool,
    pub quality: QualityMeter,
    /// str0m panicked on this peer: its Rtc is not touched again (the peer is failed).
    pub panicked: bool,
    /// Our ICE password in this peer's answer (the key of the checks it sends us).
    pub local_ice_pwd: String,
}

impl Peer {
    pub fn new(id: PeerId, mut rtc: Rtc, role: Role, now: Instant) -> Peer {
        let local_ice_pwd = rtc.direct_api().local_ice_credentials().pass;
        Peer {
            id,
            rtc,
            role,
            created: now,
            connected: None,
            last_rx: now,
            next_timeout: now,
            now,
            failed: false,
            remote_closed: None,
            ice_connected: false,
            quality: QualityMeter::default(),
            panicked: false,
            local_ice_pwd,
        }
    }

    /// Why this peer should be reported as failed at `now`, if it should.
    pub fn check_liveness(&self, now: Instant) -> Option<&'static str> {
        if self.failed {
            return None;
        }
        if let Some(t) = self.remote_closed {
            if now.saturating_duration_since(t) >= REMOTE_CLOSE_GRACE {
                return Some("Peer connection closed by remote");
            }
            return None;
        }
        if !self.rtc.is_alive() {
            return Some("Failed by error");
        }
        let Some(connected) = self.connected else {
            if now.saturating_duration_since(self.created) >= CONNECT_TIMEOUT {
                return Some(if self.ice_connected {
                    "Failed by DTLS timeout"
                } else {
                    "Failed by ICE timeout"
                });
            }
            return None;
        };
        if now.saturating_duration_since(self.last_rx) >= SILENCE_TIMEOUT {
            return Some("Failed by ICE timeout: no packets");
        }
        if let Role::Publisher(p) = &self.role {
            let last = p.last_media.unwrap_or(connected);
            if now.saturating_duration_since(last) >= MEDIA_TIMEOUT {
                return Some("Media timeout: publisher stopped sending");
            }
        }
        None
    }

    /// The server did not read the network for `stalled` until `now` (see
    /// `Sfu::note_stall`): silence in that window is not the peer's, so every liveness clock
    /// moves forward by it (never past `now`).
    pub fn excuse_stall(&mut self, now: Instant, stalled: Duration) {
        let excuse = |t: Instant| (t + stalled).min(now).max(t);
        self.last_rx = excuse(self.last_rx);
        self.created = excuse(self.created);
        match &mut self.role {
            Role::Publisher(p) => p.last_media = p.last_media.map(excuse),
            // Nor is the backlog and estimate drop it leaves a player's congestion.
            Role::Player(p) => p.bandwidth.excuse_stall(now, stalled),
        }
        if self.connected.is_some() {
            self.connected = self.connected.map(excuse);
        }
    }

    /// Brings the Rtc's clock up to `now` (needed before writing media into it).
    pub fn advance(&mut self, now: Instant) -> Result<(), str0m::RtcError> {
        if now > self.now {
            self.now = now;
            self.input(str0m::Input::Timeout(now))?;
        }
        Ok(())
    }

    /// RTP mode: one packet written into the Rtc, sent through str0m's send lane (vendored
    /// patch 35) while nothing else in the Rtc is due before its last timeout: most frames
    /// leave without walking the whole Rtc (`Input::Timeout` and a `poll_output` round per
    /// packet, a quarter of the forwarding CPU). `Declined` (also for a panic, which the next
    /// input reports): [`Peer::advance`] and poll the usual way.
    pub fn lane(&mut self, now: Instant) -> str0m::Lane<str0m::net::Transmit> {
        if now >= self.next_timeout {
            return str0m::Lane::Declined;
        }
        let rtc = &mut self.rtc;
        match contain(&mut self.panicked, || Ok(rtc.poll_lane(now))) {
            Ok(lane) => lane,
            Err(_) => str0m::Lane::Declined,
        }
    }

    /// Feeds one input to the Rtc. A panic inside str0m for this peer's input is contained:
    /// it is reported as an error of this peer (which the caller fails), never unwinds into
    /// the media thread, so other peers go on.
    pub fn input(&mut self, input: str0m::Input) -> Result<(), str0m::RtcError> {
        let rtc = &mut self.rtc;
        contain(&mut self.panicked, || rtc.handle_input(input))
    }

    /// One output of the Rtc, with the same panic containment as [`Peer::input`].
    pub fn output(&mut self) -> Result<str0m::Output, str0m::RtcError> {
        let rtc = &mut self.rtc;
        contain(&mut self.panicked, || rtc.poll_output())
    }
}

/// Sent video packets a player's Rtc keeps for NACK resends (str0m's "send buffer" sizes only
/// this RTX cache; the queue of packets not yet sent is separate and unbounded, so a large
/// keyframe is never cut). Each slot costs ~160 bytes (vendored str0m patch 13: a slim copy of
/// the sent `RtpPacket`, whole ~430 bytes before; the payload itself is shared), still one of
/// the larger per-player items (issue 15, docs/RTP_MODE.md "Memory per subscription"). A
/// resend is only useful within about one RTT plus the receiver's reorder wait: 64 slots are
/// ~0.6 s at 1 Mbit/s (~0.4 s at 1.5 Mbit/s, 0.15 s at 4 Mbit/s), two NACK round trips at
/// 150 ms; 128 would cost ~10 KiB more per player.
pub const VIDEO_SEND_BUFFER: usize = 64;

/// How old a sent video packet may be and still be resent (str0m's default).
pub const VIDEO_RESEND_AGE: Duration = Duration::from_secs(3);

/// The share of a player's video bytes (last second) that may be resends before str0m drops
/// the NACKed packets still queued. str0m's default is 0.15: on a 5 % lossy downlink (issue 11's
/// netlab run, 1 Dec session 9) loss comes in clusters (receiver reports of 10-12 % for a second)
/// and Chrome re-NACKs a packet every ~100 ms until it arrives, so one loss is often resent
/// twice; the ratio crossed 0.15 for ~0.5 s at a time and every NACK in it was dropped, C's
/// picture froze 0.3-0.5 s each time (server log: a NACK for the same two packets arrived 9
/// times in 570 ms before one was answered; the ratios logged were 0.15-0.18). Not higher: on
/// a congested link resends take the audio's room (tests/network.rs, a link just too slow: 0.25
/// and up leave 94.6 % of the audio, under its 95 %), and 0.5 (libwebrtc's rate cap at the
/// estimate, about half of what is sent) also broke rtp_mode.rs's RED test.
pub const RTX_RATIO_CAP: f32 = 0.2;

/// Applies [`RTX_RATIO_CAP`] to a player's video track `mid` (str0m sets its default when the
/// offer is accepted; the cache is still empty then).
pub fn set_resend_limits(rtc: &mut Rtc, mid: Mid) {
    if let Some(tx) = rtc.direct_api().stream_tx_by_mid(mid, None) {
        tx.set_rtx_cache(VIDEO_SEND_BUFFER, VIDEO_RESEND_AGE, Some(RTX_RATIO_CAP));
    }
}

/// Runs one str0m call of a peer; a panic becomes an error and sets `panicked`, after which
/// the peer's Rtc is never called again (its state is unknown).
pub fn contain<T>(
    panicked: &mut bool,
    call: impl FnOnce() -> Result<T, str0m::RtcError>,
) -> Result<T, str0m::RtcError> {
    if *panicked {
        return Err(panicked_error());
    }
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(r) => r,
        Err(_) => {
            *panicked = true;
            Err(panicked_error())
        }
    }
}

/// The error a contained str0m panic becomes (the panic message itself went to stderr).
fn panicked_error() -> str0m::RtcError {
    str0m::RtcError::Io(std::io::Error::other(
        "the WebRTC stack panicked on this peer's input",
    ))
}

/// How often str0m reports per-peer stats (PeerStats, MediaIngress/EgressStats).
pub const STATS_INTERVAL: Duration = Duration::from_secs(1);

/// Frame mode: how many later audio packets str0m waits for before it passes a publisher's
/// audio on past a hole (str0m's default: 15, i.e. 300 ms of Opus). Audio is never resent, and
/// a packet RED can recover is put back by the next one (codecs.rs `supported`), so a hole that
/// outlives two packets is lost for good: waiting longer only held the stream, and every player
/// then got 300 ms of silence and a burst (tests/red_uplink.rs: 280 ms -> 40 ms). RTP mode does
/// not wait at all.
pub const AUDIO_REORDER_PACKETS: usize = 2;

/// What every Rtc of ours shares.
pub struct RtcTemplate {
    pub cert: DtlsCert,
    pub candidates: Vec<SocketAddr>,
    /// Passive ICE-TCP host candidates (RFC 6544), announced beside the UDP ones.
    pub tcp_candidates: Vec<SocketAddr>,
    /// Answer an `actpass` offer `a=setup:active` and start the handshake (dtls_client.rs).
    pub dtls_client: bool,
}

/// The RTP header extensions Huddle negotiates: str0m's standard set (ids as Chrome offers
/// them) without abs-send-time, plus playout-delay. abs-send-time feeds a receiver-side
/// estimate reported by REMB; Huddle estimates both directions from transport-cc feedback
/// (str0m has no REMB), so it would only cost 4 bytes and a clock conversion per packet sent
/// to every player (docs/RTP_MODE.md, "CPU per packet, session 16").
fn header_extensions(twcc: bool) -> ExtensionMap {
    use str0m::rtp::Extension::*;
    let mut exts = ExtensionMap::empty();
    exts.set(1, AudioLevel);
    if twcc {
        exts.set(3, TransportSequenceNumber);
    }
    exts.set(4, RtpMid);
    // Chrome offers it (id 5 in its offers); players' video carries it under loss.
    exts.set(5, PlayoutDelay);
    exts.set(10, RtpStreamId);
    exts.set(11, RepairedRtpStreamId);
    exts.set(13, VideoOrientation);
    exts
}

/// What an Rtc is for: how [`RtcTemplate::accept`] sets up its congestion control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcUse {
    /// A publisher: transport-wide sequence numbers (the browser's upload estimate needs our
    /// feedback), no estimate of our own.
    Publish,
    /// A player of a source with video: transport-cc and str0m's send-side estimator.
    PlayVideo,
    /// A player of an audio-only source: no transport-wide sequence numbers, so the browser
    /// sends no feedback per packet and no estimator runs. Nothing would use its estimate:
    /// audio is never paced, paused or given a layer (bandwidth.rs, layers.rs), and its loss
    /// and RTT still come from receiver reports. Per packet it was most of the player's
    /// receive work (an audio-only room: ~20 feedback packets a second per player).
    PlayAudio,
}

impl RtcTemplate {
    /// An ICE-lite Rtc with our candidates and the given codecs, having accepted `offer`.
    /// Returns the Rtc and the answer text. Never panics (str0m panics are caught).
    ///
    /// A player's Rtc negotiates transport-wide congestion control and runs str0m's send-side
    /// bandwidth estimation (see bandwidth.rs): it knows what the player can receive, paces
    /// video to it (audio is never paced) and probes for more while video is paused. Costs
    /// str0m's record of recent packets (about 90 KB per player). Not for a player of an
    /// audio-only source ([`RtcUse::PlayAudio`]). Publishers keep transport-cc too: the
    /// browser's upload estimate needs our feedback.
    pub fn accept(
        &self,
        offer: &str,
        codecs: CodecConfig,
        rtc_use: RtcUse,
        rtp_mode: bool,
        transport: Transport,
        now: Instant,
    ) -> Result<(Rtc, String), String> {
        let dtls_client = self.dtls_client && crate::dtls_client::offer_leaves_role_to_us(offer);
        let offer = SdpOffer::from_sdp_string(offer).map_err(|e| format!("Bad SDP: {e}"))?;
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut cfg = Rtc::builder()
                .set_ice_lite(true)
                .set_send_buffer_video(VIDEO_SEND_BUFFER)
                .set_extension_map(header_extensions(rtc_use != RtcUse::PlayAudio))
                .set_dtls_cert(self.cert.clone())
                .set_stats_interval(Some(STATS_INTERVAL))
                .set_rtp_mode(rtp_mode)
                .set_reordering_size_audio(AUDIO_REORDER_PACKETS)
                .clear_codecs();
            *cfg.codec_config() = codecs;
            if rtc_use == RtcUse::PlayVideo {
                // Stats twice as often: they carry the estimator's current value, which a
                // paused player resumes by (bandwidth.rs CURRENT_ESTIMATE_EVERY).
                cfg = cfg
                    .enable_bwe(Some(Bitrate::from(INITIAL_ESTIMATE_BPS as f64)))
                    .set_stats_interval(Some(CURRENT_ESTIMATE_EVERY));
            }
            let mut rtc = cfg.build(now);
            // `transport: "TCP"`: the TCP candidate only (if ICE-TCP is on at all).
            let tcp_only = transport == Transport::Tcp && !self.tcp_candidates.is_empty();
            let udp = if tcp_only {
                &[][..]
            } else {
                &self.candidates[..]
            };
            for addr in udp {
                match Candidate::host(*addr, "udp") {
                    Ok(c) => {
                        rtc.add_local_candidate(c);
                    }
                    Err(e) => tracing::warn!("bad candidate {addr}: {e}"),
                }
            }
            for addr in &self.tcp_candidates {
                let c = Candidate::builder()
                    .tcp()
                    .host(*addr)
                    .tcptype(TcpType::Passive)
                    .build();
                match c {
                    Ok(c) => {
                        rtc.add_local_candidate(c);
                    }
                    Err(e) => tracing::warn!("bad TCP candidate {addr}: {e}"),
                }
            }
            if dtls_client {
                // Our ClientHello leaves with the answer to the first valid check (dtls_client.rs).
                rtc.direct_api()
                    .start_dtls(true)
                    .map_err(|e| format!("DTLS: {e}"))?;
            }
            let answer = rtc
                .sdp_api()
                .accept_offer(offer)
                .map_err(|e| format!("Bad SDP: {e}"))?;
            Ok((rtc, answer.to_sdp_string()))
        }));
        match result {
            Ok(r) => r,
            Err(_) => Err("Bad SDP: rejected by the WebRTC stack".to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// str0m patch 39 (vendor/str0m/HUDDLE_PATCHES.md) answers `id_of` from an index kept by
    /// every change of the map, not by a scan: ids as mapped, remapped and unmapped.
    #[test]
    fn extension_ids_follow_the_map() {
        use str0m::rtp::Extension::*;
        assert_eq!(
            header_extensions(false).id_of(TransportSequenceNumber),
            None
        );
        let mut exts = header_extensions(true);
        assert_eq!(exts.id_of(TransportSequenceNumber), Some(3));
        assert_eq!(exts.id_of(PlayoutDelay), Some(5));
        assert_eq!(exts.id_of(AbsoluteSendTime), None, "not negotiated");
        // Mapped twice: the lowest id, as a scan finds it.
        exts.set(14, AudioLevel);
        assert_eq!(exts.id_of(AudioLevel), Some(1));
        // An id taken by another extension.
        exts.set(3, AbsoluteSendTime);
        assert_eq!(exts.id_of(AbsoluteSendTime), Some(3));
        assert_eq!(exts.id_of(TransportSequenceNumber), None);
        exts.set(1, ColorSpace);
        assert_eq!(exts.id_of(AudioLevel), Some(14));
        assert_eq!(exts.id_of(ColorSpace), Some(1));
    }

    #[test]
    fn a_panicking_call_becomes_an_error_and_the_peer_is_not_called_again() {
        let mut panicked = false;
        let r: Result<(), _> = contain(&mut panicked, || panic!("str0m bug on a crafted packet"));
        assert!(r.is_err());
        assert!(panicked);
        let mut called = false;
        let r = contain(&mut panicked, || {
            called = true;
            Ok(1)
        });
        assert!(r.is_err() && !called, "a panicked peer's Rtc is left alone");
        let mut ok = false;
        assert_eq!(contain(&mut ok, || Ok(7)).unwrap(), 7);
        assert!(!ok);
    }
}
