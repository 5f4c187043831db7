//! UDP first: a peer that can reach us over UDP must not end up on ICE-TCP.
//!
//! We are ICE-lite, so the browser alone chooses (nominates) the candidate pair. Chrome
//! nominates the first pair that works and then keeps the pair that *receives* media; on a fast
//! path its TCP check can finish before its UDP one, and the call would then run over TCP for
//! good (head-of-line blocking, worse under loss) although UDP works. So TCP input of a peer is
//! ignored while UDP is known to work for it (a UDP packet from it in the last
//! [`UDP_FRESH`]) and during [`TCP_HOLDBACK`] after its answer, the head start its UDP checks
//! need. A browser whose UDP is blocked sends none, so its TCP checks are answered after the
//! holdback (its retransmitted checks then succeed); one whose UDP dies mid-call can move to
//! TCP once UDP has been silent for [`UDP_FRESH`]. A peer whose client asked for TCP only
//! (`transport: "TCP"`, [`UdpFirst::tcp_only`]) has no UDP candidate to wait for: its TCP
//! input is taken at once.

use std::time::{Duration, Instant};

use huddle_room::PeerId;
use str0m::net::Protocol;

/// How long after a peer's answer its TCP input waits for UDP to show up first.
pub const TCP_HOLDBACK: Duration = Duration::from_millis(1000);
/// UDP from a peer this recently means UDP works for it.
pub const UDP_FRESH: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct UdpFirst {
    last_udp: crate::IdMap<Instant>,
    tcp_only: crate::IdSet,
}

impl UdpFirst {
    /// Whether a packet of `proto` from `peer` (answered at `created`) may be fed to its Rtc;
    /// records UDP arrivals.
    pub fn admit(&mut self, peer: PeerId, proto: Protocol, created: Instant, now: Instant) -> bool {
        if proto == Protocol::Udp {
            self.last_udp.insert(peer, now);
            return true;
        }
        if self.tcp_only.contains(&peer) {
            return true;
        }
        if now.saturating_duration_since(created) < TCP_HOLDBACK {
            return false;
        }
        self.last_udp
            .get(&peer)
            .is_none_or(|t| now.saturating_duration_since(*t) >= UDP_FRESH)
    }

    /// The peer's answer offers only the ICE-TCP candidate: no holdback.
    pub fn tcp_only(&mut self, peer: PeerId) {
        self.tcp_only.insert(peer);
    }

    pub fn forget(&mut self, peer: PeerId) {
        self.last_udp.remove(&peer);
        self.tcp_only.remove(&peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_waits_for_the_holdback_and_yields_to_working_udp() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let (udp_peer, tcp_peer) = (PeerId(1), PeerId(2));
        let mut f = UdpFirst::default();
        // During the holdback TCP is refused for everyone.
        assert!(!f.admit(tcp_peer, Protocol::Tcp, t0, ms(100)));
        // A peer with UDP: its TCP stays refused while UDP is fresh.
        assert!(f.admit(udp_peer, Protocol::Udp, t0, ms(50)));
        assert!(!f.admit(udp_peer, Protocol::Tcp, t0, ms(1500)));
        assert!(f.admit(udp_peer, Protocol::Udp, t0, ms(4000)));
        assert!(!f.admit(udp_peer, Protocol::Tcp, t0, ms(8000)));
        // UDP silent for UDP_FRESH: TCP may take over.
        assert!(f.admit(udp_peer, Protocol::Tcp, t0, ms(9100)));
        // A peer without UDP: TCP after the holdback.
        assert!(f.admit(tcp_peer, Protocol::Tcp, t0, ms(1000)));
        f.forget(udp_peer);
        assert!(f.admit(udp_peer, Protocol::Tcp, t0, ms(1500)));
    }

    #[test]
    fn a_tcp_only_peer_has_no_holdback() {
        let t0 = Instant::now();
        let (tcp_only, other) = (PeerId(1), PeerId(2));
        let mut f = UdpFirst::default();
        f.tcp_only(tcp_only);
        assert!(f.admit(tcp_only, Protocol::Tcp, t0, t0));
        assert!(!f.admit(other, Protocol::Tcp, t0, t0));
        f.forget(tcp_only);
        assert!(!f.admit(tcp_only, Protocol::Tcp, t0, t0));
    }
}
