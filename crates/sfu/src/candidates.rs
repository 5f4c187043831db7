//! Which addresses go into our answers, and which local address a datagram arrived on.

use std::net::{IpAddr, SocketAddr};

/// IPv4 addresses of the local interfaces (not link-local): non-loopback first, loopback
/// last; never empty. Used when the configuration announces nothing.
pub fn detect_local_ipv4() -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = match if_addrs::get_if_addrs() {
        Ok(ifs) => ifs
            .into_iter()
            .map(|i| i.ip())
            .filter(|ip| match ip {
                IpAddr::V4(v4) => !v4.is_unspecified() && !v4.is_link_local(),
                IpAddr::V6(_) => false,
            })
            .collect(),
        Err(e) => {
            tracing::warn!("cannot list network interfaces: {e}");
            Vec::new()
        }
    };
    ips.sort_by_key(|ip| ip.is_loopback());
    ips.dedup();
    if ips.is_empty() {
        ips.push(IpAddr::from([127, 0, 0, 1]));
    }
    ips
}

/// The host candidate addresses: each announced IP with the port we are bound to.
pub fn candidate_addrs(announce: &[IpAddr], port: u16) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::with_capacity(announce.len());
    for ip in announce {
        let a = SocketAddr::new(*ip, port);
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// The local address a datagram was sent to. ICE only accepts STUN that arrives on one of our
/// candidates, so with a wildcard bind we pick the candidate that the peer most likely used:
/// loopback for a loopback source, else the first candidate of the source's address family.
pub fn destination_for(
    bound: SocketAddr,
    source: SocketAddr,
    candidates: &[SocketAddr],
) -> SocketAddr {
    if !bound.ip().is_unspecified() {
        return bound;
    }
    let same_family = |c: &&SocketAddr| c.is_ipv4() == source.is_ipv4();
    let pick = if source.ip().is_loopback() {
        candidates
            .iter()
            .filter(same_family)
            .find(|c| c.ip().is_loopback())
    } else {
        candidates
            .iter()
            .filter(same_family)
            .find(|c| !c.ip().is_loopback())
    };
    pick.or_else(|| candidates.iter().find(same_family))
        .or(candidates.first())
        .copied()
        .unwrap_or(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn detects_some_ipv4() {
        let ips = detect_local_ipv4();
        assert!(!ips.is_empty());
        assert!(ips.iter().all(|ip| ip.is_ipv4()));
        // loopback entries, if any, come last
        let first_lo = ips
            .iter()
            .position(|ip| ip.is_loopback())
            .unwrap_or(ips.len());
        assert!(ips[first_lo..].iter().all(|ip| ip.is_loopback()));
    }

    #[test]
    fn candidates_dedup_and_port() {
        let ips: Vec<IpAddr> = vec!["10.0.0.1".parse().unwrap(), "10.0.0.1".parse().unwrap()];
        assert_eq!(candidate_addrs(&ips, 4000), vec![sa("10.0.0.1:4000")]);
    }

    #[test]
    fn destination_bound_specific_is_exact() {
        let c = [sa("10.0.0.1:4000")];
        assert_eq!(
            destination_for(sa("127.0.0.1:4000"), sa("127.0.0.1:5000"), &c),
            sa("127.0.0.1:4000")
        );
    }

    #[test]
    fn destination_wildcard_picks_by_source() {
        let c = [sa("10.0.0.1:4000"), sa("127.0.0.1:4000")];
        let bound = sa("0.0.0.0:4000");
        assert_eq!(
            destination_for(bound, sa("127.0.0.1:9"), &c),
            sa("127.0.0.1:4000")
        );
        assert_eq!(
            destination_for(bound, sa("10.0.0.7:9"), &c),
            sa("10.0.0.1:4000")
        );
    }
}

#[cfg(test)]
mod tcp_only_tests {
    use std::time::Instant;

    use str0m::format::CodecConfig;
    use str0m::media::{Direction, MediaKind};

    use huddle_room::Transport;

    use crate::peer::RtcTemplate;

    /// A browser-like offer (audio + video, sendrecv) made by a str0m client.
    fn offer() -> String {
        let mut client = str0m::Rtc::new(Instant::now());
        let mut change = client.sdp_api();
        change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        change.add_media(MediaKind::Video, Direction::SendRecv, None, None, None);
        let (offer, _pending) = change.apply().expect("an offer");
        offer.to_sdp_string()
    }

    fn template() -> RtcTemplate {
        RtcTemplate {
            cert: str0m::crypto::from_feature_flags()
                .dtls_provider
                .generate_certificate()
                .expect("certificate"),
            candidates: vec!["10.9.0.1:5000".parse().unwrap()],
            tcp_candidates: vec!["10.9.0.1:5001".parse().unwrap()],
            dtls_client: crate::dtls_client::DEFAULT,
        }
    }

    fn candidate_lines(answer: &str) -> Vec<String> {
        answer
            .lines()
            .filter(|l| l.starts_with("a=candidate:"))
            .map(|l| l.to_lowercase())
            .collect()
    }

    fn answer(t: &RtcTemplate, transport: Transport) -> Vec<String> {
        let (_rtc, answer) = t
            .accept(
                &offer(),
                CodecConfig::new_with_defaults(),
                crate::peer::RtcUse::PlayVideo,
                false,
                transport,
                Instant::now(),
            )
            .expect("the offer is accepted");
        candidate_lines(&answer)
    }

    #[test]
    fn a_tcp_only_request_is_answered_with_the_tcp_candidate_only() {
        let t = template();
        let lines = answer(&t, Transport::Tcp);
        assert!(!lines.is_empty());
        assert!(
            lines.iter().all(|l| l.contains(" tcp ")
                && l.contains("tcptype passive")
                && l.contains(" 5001 ")),
            "{lines:?}"
        );
        // Without the option both candidates are offered.
        let lines = answer(&t, Transport::Udp);
        assert!(
            lines
                .iter()
                .any(|l| l.contains(" udp ") && l.contains(" 5000 ")),
            "{lines:?}"
        );
        assert!(lines.iter().any(|l| l.contains(" tcp ")), "{lines:?}");
    }

    #[test]
    fn without_ice_tcp_the_option_falls_back_to_udp() {
        let mut t = template();
        t.tcp_candidates.clear();
        let lines = answer(&t, Transport::Tcp);
        assert!(
            !lines.is_empty() && lines.iter().all(|l| l.contains(" udp ")),
            "{lines:?}"
        );
    }
}
