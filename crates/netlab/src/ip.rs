//! The only thing the emulator needs to know about a packet: its IP transport protocol.

/// IANA protocol number of UDP.
pub const PROTO_UDP: u8 = 17;

/// The transport protocol of a raw IPv4 or IPv6 packet (as read from a TUN device with
/// `IFF_NO_PI`), or `None` for anything too short or not IP. For IPv6 this is the first next
/// header; extension headers are not walked (the browsers and the server send none).
pub fn transport_protocol(packet: &[u8]) -> Option<u8> {
    match packet.first()? >> 4 {
        4 if packet.len() >= 20 => Some(packet[9]),
        6 if packet.len() >= 40 => Some(packet[6]),
        _ => None,
    }
}

/// True for a UDP packet (IPv4 or IPv6).
pub fn is_udp(packet: &[u8]) -> bool {
    transport_protocol(packet) == Some(PROTO_UDP)
}

/// The payload of a UDP packet (after the IPv4 header of its stated length, or the fixed IPv6
/// header, and the 8-byte UDP header); `None` for anything else or too short.
pub fn udp_payload(packet: &[u8]) -> Option<&[u8]> {
    if !is_udp(packet) {
        return None;
    }
    let header = match packet[0] >> 4 {
        4 => usize::from(packet[0] & 0x0f) * 4,
        _ => 40,
    };
    packet.get(header + 8..)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(proto: u8) -> Vec<u8> {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[9] = proto;
        p
    }

    #[test]
    fn recognises_udp_and_tcp_over_ipv4() {
        assert!(is_udp(&ipv4(17)));
        assert!(!is_udp(&ipv4(6)));
        assert_eq!(transport_protocol(&ipv4(6)), Some(6));
    }

    #[test]
    fn recognises_udp_over_ipv6() {
        let mut p = vec![0u8; 48];
        p[0] = 0x60;
        p[6] = 17;
        assert!(is_udp(&p));
        p[6] = 58; // ICMPv6
        assert!(!is_udp(&p));
    }

    #[test]
    fn the_udp_payload_follows_both_headers() {
        let mut p = ipv4(17);
        p.extend_from_slice(&[1, 2, 3]);
        assert_eq!(udp_payload(&p), Some(&[1u8, 2, 3][..]));
        let mut with_options = ipv4(17);
        with_options[0] = 0x46; // a 24-byte header
        with_options.extend_from_slice(&[0, 0, 0, 0, 9]);
        assert_eq!(udp_payload(&with_options), Some(&[9u8][..]));
        let mut v6 = vec![0u8; 48];
        v6[0] = 0x60;
        v6[6] = 17;
        v6.push(7);
        assert_eq!(udp_payload(&v6), Some(&[7u8][..]));
        assert_eq!(udp_payload(&ipv4(6)), None);
    }

    #[test]
    fn short_or_non_ip_packets_have_no_protocol() {
        assert_eq!(transport_protocol(&[]), None);
        assert_eq!(transport_protocol(&[0x45, 0, 0]), None);
        assert_eq!(transport_protocol(&[0x15; 40]), None);
    }
}
