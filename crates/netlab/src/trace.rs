//! The emulator's packet log (`HUDDLE_NETLAB_TRACE=<file>`): one line per RTP/RTCP packet a pipe
//! received, with what the pipe did to it, so a freeze seen in a browser can be matched to the
//! packets lost on its link (which sequence numbers, how many resends went through). Under SRTP
//! the RTP header (SSRC, sequence number, payload type, marker) is in the clear; SRTCP shows only
//! its first 8 bytes (type, sender SSRC). Off unless the variable is set: normal runs write nothing.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::ip::udp_payload;

/// The few header fields of a UDP datagram carrying RTP or RTCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    Rtp {
        ssrc: u32,
        seq: u16,
        pt: u8,
        marker: bool,
    },
    Rtcp {
        pt: u8,
        ssrc: u32,
    },
}

/// RTP or RTCP inside a UDP packet (STUN, DTLS and TCP give `None`). RTCP is told from RTP by
/// its packet type 200-207 in the second byte (RFC 5761: RTP payload types 72-79 are never
/// used, so that byte is never 200-207 for RTP).
pub fn media(packet: &[u8]) -> Option<Media> {
    let p = udp_payload(packet)?;
    if p.len() < 12 || p[0] >> 6 != 2 {
        return None;
    }
    let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    if (200..=207).contains(&p[1]) {
        return Some(Media::Rtcp {
            pt: p[1],
            ssrc: be32(&p[4..8]),
        });
    }
    Some(Media::Rtp {
        ssrc: be32(&p[8..12]),
        seq: u16::from_be_bytes([p[2], p[3]]),
        pt: p[1] & 0x7f,
        marker: p[1] & 0x80 != 0,
    })
}

/// The log file and the wall clock (unix ms, to line up with the server's and pages' logs).
pub struct Trace {
    out: BufWriter<File>,
    epoch: (Instant, f64),
}

impl Trace {
    /// The trace named by `HUDDLE_NETLAB_TRACE`, if set and creatable.
    pub fn from_env() -> Option<Trace> {
        let path = std::env::var_os("HUDDLE_NETLAB_TRACE")?;
        let file = File::create(&path)
            .map_err(|e| eprintln!("huddle-netlab: trace {path:?}: {e}"))
            .ok()?;
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        Some(Trace {
            out: BufWriter::new(file),
            epoch: (Instant::now(), unix_ms),
        })
    }

    fn unix_ms(&self, at: Instant) -> f64 {
        self.epoch.1 + at.saturating_duration_since(self.epoch.0).as_secs_f64() * 1000.0
    }

    /// A packet `link`/`dir` received at `now` and what the pipe did (`ok` or why it was dropped).
    pub fn packet(&mut self, now: Instant, link: &str, dir: &str, packet: &[u8], verdict: &str) {
        let Some(m) = media(packet) else { return };
        let t = self.unix_ms(now);
        let _ = match m {
            Media::Rtp {
                ssrc,
                seq,
                pt,
                marker,
            } => writeln!(
                self.out,
                "{t:.1} {link} {dir} {verdict} rtp ssrc={ssrc} seq={seq} pt={pt} m={} len={}",
                u8::from(marker),
                packet.len()
            ),
            Media::Rtcp { pt, ssrc } => writeln!(
                self.out,
                "{t:.1} {link} {dir} {verdict} rtcp pt={pt} ssrc={ssrc} len={}",
                packet.len()
            ),
        };
    }

    /// The loop handed a due packet out `late_ms` after its departure time (a scheduling hiccup
    /// of the emulator itself when large).
    pub fn late(&mut self, now: Instant, link: &str, dir: &str, late_ms: f64) {
        let t = self.unix_ms(now);
        let _ = writeln!(self.out, "{t:.1} {link} {dir} late {late_ms:.1}");
    }

    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::PROTO_UDP;

    fn udp(payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[9] = PROTO_UDP;
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn reads_an_rtp_header() {
        let rtp = [
            0x80,
            0x80 | 96,
            0x12,
            0x34,
            0,
            0,
            0,
            1,
            0xde,
            0xad,
            0xbe,
            0xef,
            9,
        ];
        assert_eq!(
            media(&udp(&rtp)),
            Some(Media::Rtp {
                ssrc: 0xdeadbeef,
                seq: 0x1234,
                pt: 96,
                marker: true
            })
        );
    }

    #[test]
    fn tells_rtcp_from_rtp() {
        let rtcp = [0x81, 205, 0, 3, 0, 0, 0, 7, 0, 0, 0, 0];
        assert_eq!(media(&udp(&rtcp)), Some(Media::Rtcp { pt: 205, ssrc: 7 }));
    }

    #[test]
    fn ignores_what_is_not_rtp() {
        // STUN (first two bits 0), DTLS (20-63), short packets
        assert_eq!(
            media(&udp(&[0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0])),
            None
        );
        assert_eq!(
            media(&udp(&[22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0])),
            None
        );
        assert_eq!(media(&udp(&[0x80, 96])), None);
    }
}
