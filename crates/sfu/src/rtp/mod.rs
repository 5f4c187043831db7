//! RTP-mode forwarding (`forwarding = "rtp"`): publishers' RTP packets go to players as they
//! arrive, without str0m depacketizing them into frames and re-packetizing them per player.
//!
//! One packet of a publisher is parsed once ([`packet::SourcePacket`]: kind, keyframe start,
//! VP8 descriptor) and its payload (`Arc<[u8]>`, str0m's own allocation) is shared by every
//! player and by every player's resend cache: nothing is copied per player before SRTP
//! sealing. Per player and track a [`rewrite::Rewriter`] gives the packet the player's
//! sequence numbers (rebased so the first is small, gaps kept so NACKs still match),
//! timestamps (passed through; offset only when it restarts from another stream) and VP8
//! picture ids (continuous across a restart). Frames for the recorder and RTMP taps come from
//! [`depacketize::Depacketizer`] (str0m's own depacketizers behind its `unversioned` feature).
//!
//! Players of ingest (RTMP) sources stay in frame mode: ingest gives frames, not packets.

pub mod batch;
pub mod depacketize;
pub mod keyframe;
pub mod packet;
pub mod red;
pub mod rewrite;
pub mod source;
pub mod uplink_loss;
pub mod write;

use std::fmt;
use std::str::FromStr;

/// How a publisher's media reaches its players.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Forwarding {
    /// str0m depacketizes every publisher frame and re-packetizes it for each player.
    #[default]
    Frame,
    /// Packets are forwarded as they arrive, rewritten per player (this module).
    Rtp,
}

impl FromStr for Forwarding {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "frame" => Ok(Forwarding::Frame),
            "rtp" => Ok(Forwarding::Rtp),
            other => Err(format!(
                "forwarding must be \"frame\" or \"rtp\", not {other:?}"
            )),
        }
    }
}

impl fmt::Display for Forwarding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Forwarding::Frame => "frame",
            Forwarding::Rtp => "rtp",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_both_modes() {
        for m in [Forwarding::Frame, Forwarding::Rtp] {
            assert_eq!(m.to_string().parse::<Forwarding>(), Ok(m));
        }
        assert_eq!(" RTP ".parse::<Forwarding>(), Ok(Forwarding::Rtp));
        let err = "packets".parse::<Forwarding>().unwrap_err();
        assert!(err.contains("\"frame\" or \"rtp\""), "{err}");
    }
}
