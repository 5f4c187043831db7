//! One WebRTC peer: its str0m `Rtc`, its role, and its liveness timers.

use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use huddle_room::PeerId;
use str0m::change::SdpOffer;
use str0m::config::DtlsCert;
use str0m::format::CodecConfig;
use str0m::media::{MediaKind, Mid, Pt};
use str0m::net::TcpType;
use str0m::rtp::{Extension, ExtensionMap};
use str0m::{Candidate, Rtc};

use crate::codecs::SourceCodecs;

/// Not connected this long after the answer: ICE (or DTLS) never came up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// Connected, but no datagram at all from the peer for this long.
pub const SILENCE_TIMEOUT: Duration = Duration::from_secs(12);
/// Connected publisher, but no media frame for this long.
pub const MEDIA_TIMEOUT: Duration = Duration::from_secs(12);
/// The browser closed DTLS; if the core has not closed us by then, report it.
pub const REMOTE_CLOSE_GRACE: Duration = Duration::from_secs(2);

pub struct Publisher {
    /// Mid and negotiated params of the first audio / video m-line.
    pub audio_mid: Option<Mid>,
    pub video_mid: Option<Mid>,
    pub codecs: SourceCodecs,
    pub last_media: Option<Instant>,
    pub last_keyframe_request: Option<Instant>,
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
    Player(Player),
}

pub struct Peer {
    pub id: PeerId,
    pub rtc: Rtc,
    pub role: Role,
    pub created: Instant,
    pub connected: Option<Instant>,
    pub last_rx: Instant,
    /// When str0m wants its next `Input::Timeout`.
    pub next_timeout: Instant,
    /// The last time fed into the Rtc.
    pub now: Instant,
    /// A Failed event was already reported for this peer.
    pub failed: bool,
    pub remote_closed: Option<Instant>,
}

impl Peer {
    pub fn new(id: PeerId, rtc: Rtc, role: Role, now: Instant) -> Peer {
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
                return Some("Failed by ICE timeout");
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

    /// Brings the Rtc's clock up to `now` (needed before writing media into it).
    pub fn advance(&mut self, now: Instant) -> Result<(), str0m::RtcError> {
        if now > self.now {
            self.now = now;
            self.rtc.handle_input(str0m::Input::Timeout(now))?;
        }
        Ok(())
    }
}

/// Sent video packets a player's Rtc keeps for NACK resends (str0m's "send buffer" sizes only
/// this RTX cache; the queue of packets not yet sent is separate and unbounded, so a large
/// keyframe is never cut). str0m's default of 1000 costs about 1.2 MB per video subscription;
/// 128 is about 0.85 s of history at 1.5 Mbit/s (0.3 s at 4 Mbit/s), several NACK round trips.
pub const VIDEO_SEND_BUFFER: usize = 128;

/// What every Rtc of ours shares.
pub struct RtcTemplate {
    pub cert: DtlsCert,
    pub candidates: Vec<SocketAddr>,
}

impl RtcTemplate {
    /// An ICE-lite Rtc with our candidates and the given codecs, having accepted `offer`.
    /// Returns the Rtc and the answer text. Never panics (str0m panics are caught).
    ///
    /// A player's Rtc does not negotiate transport-wide congestion control: we run no send-side
    /// bandwidth estimation, and str0m would keep a record of each of the last 1000 packets
    /// sent (about 90 KB per player) and parse the player's feedback for nothing. Publishers
    /// keep it: the browser's upload estimate needs our feedback.
    pub fn accept(
    /// The server did not read the network for `stalled` until `now` (see
    /// `Sfu::note_stall`): silence in that window is not the peer's, so every liveness clock
    /// moves forward by it (never past `now`).
    pub fn excuse_stall(&mut self, now: Instant, stalled: Duration) {
        let excuse = |t: Instant| (t + stalled).min(now).max(t);
        self.last_rx = excuse(self.last_rx);
        self.created = excuse(self.created);
        if let Role::Publisher(p) = &mut self.role {
            p.last_media = p.last_media.map(excuse);
        }
        if self.connected.is_some() {
            self.connected = self.connected.map(excuse);
        }
    }

        &self,
        offer: &str,
        codecs: CodecConfig,
        player: bool,
        now: Instant,
    ) -> Result<(Rtc, String), String> {
        let offer = SdpOffer::from_sdp_string(offer).map_err(|e| format!("Bad SDP: {e}"))?;
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut cfg = Rtc::builder()
                .set_ice_lite(true)
                .set_send_buffer_video(VIDEO_SEND_BUFFER)
                .set_dtls_cert(self.cert.clone())
                .clear_codecs();
            *cfg.codec_config() = codecs;
            if player {
                let mut exts = ExtensionMap::empty();
                for (id, ext) in cfg.extension_map().iter() {
                    if *ext != Extension::TransportSequenceNumber {
                        exts.set(id, ext.clone());
                    }
                }
                cfg = cfg.set_extension_map(exts);
            }
            let mut rtc = cfg.build(now);
            for addr in &self.candidates {
                match Candidate::host(*addr, "udp") {
                    Ok(c) => {
                        rtc.add_local_candidate(c);
                    }
                    Err(e) => tracing::warn!("bad candidate {addr}: {e}"),
                }
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
    /// Passive ICE-TCP host candidates (RFC 6544), announced beside the UDP ones.
    pub tcp_candidates: Vec<SocketAddr>,
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
