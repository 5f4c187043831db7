//! DTLS client: when the browser's offer leaves the role to us, the server starts the handshake.
//!
//! Browsers offer `a=setup:actpass`. str0m answers it `a=setup:passive` (the browser becomes
//! the DTLS client), so nothing leaves the server before the browser's ClientHello, which
//! Chrome sends only once its ICE check has been answered: the handshake ends at the browser
//! two round trips after that answer, and a publishing browser sends no media before its
//! handshake ends. Taking the client role (`a=setup:active`, RFC 8842 lets the answerer pick)
//! puts our ClientHello on the wire right behind the answer to the browser's first valid check
//! (early_nomination.rs nominates that pair, and str0m sends DTLS on the nominated pair): the
//! browser, now the DTLS server, holds the keys one round trip after its check is answered,
//! one round trip sooner. At 200 ms RTT that is 0.2 s of every publish (issue 11: first
//! frame < 2 s after a far participant joins). Chrome and Firefox keep a ClientHello that
//! arrives before their DTLS transport has started. The server's own end of the handshake
//! (when it can decrypt) is the same in either role.
//!
//! str0m 0.25 has no builder switch for the role; `DirectApi::start_dtls(true)` before
//! `accept_offer` fixes it (accept_offer keeps a role already chosen, and its answer then says
//! `active`). An offer that already names a role (`active` / `passive`) is left to str0m,
//! which answers the opposite.

/// The role when nothing sets it ([`crate::SfuConfig::dtls_client`], `Sfu::set_dtls_client`):
/// on since session 7. In browsers at 200 ms RTT it takes a far publisher from ICE to its DTLS
/// end in 0.21-0.26 s instead of 0.45-0.71 s (docs/NETLAB.md), and the browser suite passes
/// with it. It was held back by `tests/loss.rs` (5 % loss both ways), which then judged one
/// fixed loss seed and froze B <- C 1.13 s with the role (bound 1 s) instead of 0.65 s. Not a
/// cause in the role: the loss is drawn per packet, and the handshake shifts which media
/// packets the seeded generator drops. Over 40 loss seeds each (session 6) B <- C froze 0.73 s
/// on average with the role and 0.68 s without, C <- A 0.94 / 0.85 s: the same within the
/// spread (about 0.35 s per run); loss.rs now judges several seeds. `false` answers
/// `a=setup:passive` (the browser starts the handshake, str0m's own choice).
pub const DEFAULT: bool = true;

/// True when every `a=setup:` line of `offer` is `actpass` (and there is at least one): the
/// answerer may choose, and we choose to be the DTLS client.
pub fn offer_leaves_role_to_us(offer: &str) -> bool {
    let mut roles = offer
        .lines()
        .filter_map(|l| l.trim_end().strip_prefix("a=setup:"))
        .peekable();
    roles.peek().is_some() && roles.all(|role| role.trim() == "actpass")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_actpass_offer_leaves_the_role_to_us() {
        let offer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=setup:actpass\r\n\
                     m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=setup:actpass\r\n";
        assert!(offer_leaves_role_to_us(offer));
        assert!(offer_leaves_role_to_us("a=setup:actpass\n"));
    }

    #[test]
    fn an_offer_that_names_a_role_or_none_is_left_to_str0m() {
        assert!(!offer_leaves_role_to_us("a=setup:active\r\n"));
        assert!(!offer_leaves_role_to_us("a=setup:passive\r\n"));
        assert!(!offer_leaves_role_to_us(
            "a=setup:actpass\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=setup:active\r\n"
        ));
        assert!(!offer_leaves_role_to_us(
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
        ));
        assert!(!offer_leaves_role_to_us(""));
    }
}
