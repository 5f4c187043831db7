//! Which IPs the server announces (ICE candidates, certificate names).

use std::net::IpAddr;

/// The configured IPs; else the bind address when it is a specific one; else the host's IPv4
/// interface addresses, loopback last. Never empty.
pub fn announce_ips(configured: &[IpAddr], bind: IpAddr) -> Vec<IpAddr> {
    if !configured.is_empty() {
        return configured.to_vec();
    }
    if !bind.is_unspecified() {
        return vec![bind];
    }
    huddle_sfu::detect_local_ipv4()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_then_bind_then_interfaces() {
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let any: IpAddr = "0.0.0.0".parse().unwrap();
        assert_eq!(announce_ips(&[ip], lo), vec![ip]);
        assert_eq!(announce_ips(&[], lo), vec![lo]);
        let detected = announce_ips(&[], any);
        assert!(!detected.is_empty());
        assert!(detected
            .iter()
            .all(|ip| ip.is_ipv4() && !ip.is_unspecified()));
        // Loopback, if present, comes last.
        if let Some(pos) = detected.iter().position(|ip| ip.is_loopback()) {
            assert!(detected[pos..].iter().all(|ip| ip.is_loopback()));
        }
    }
}
