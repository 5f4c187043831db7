//! Early nomination: the first valid ICE check of a browser counts as its nomination.
//!
//! We are ICE-lite. str0m sends nothing but STUN answers until the browser *nominates* a pair
//! (USE-CANDIDATE): only then does it have a send address, so our DTLS flight waits (as DTLS
//! server our ServerHello, although the browser's ClientHello came right after its first
//! successful check; as DTLS client, see dtls_client.rs, our ClientHello). Chrome nominates about a second later; at
//! 200 ms RTT that wait was most of a 2.6-4.5 s first frame. str0m (0.25, `is` 0.12) has no
//! switch for it, so the server does what aggressive nomination would have done: the first
//! authenticated binding request of a peer that has no ICE connection yet is handed to str0m
//! with USE-CANDIDATE added (and MESSAGE-INTEGRITY / FINGERPRINT recomputed with our own
//! ICE password, which is the key of requests sent to us). str0m then nominates that pair
//! and DTLS proceeds at once. The browser's later nomination of a better pair still moves
//! str0m's send address (str0m keeps the nominated pair of the highest priority), and the
//! browser takes media on any pair it has checked.
//!
//! Only UDP checks are rewritten (ICE-TCP checks wait for their holdback, see udp_first.rs),
//! only checks whose integrity verifies with our password, only from a controlling agent.

use str0m::ice::StunMessage;

/// The request with USE-CANDIDATE added, re-signed with `local_pwd`, or None when `data`
/// is not a controlling agent's binding request for us without USE-CANDIDATE.
pub fn nominate_early(data: &[u8], local_pwd: &str) -> Option<Vec<u8>> {
    let message = StunMessage::parse(data).ok()?;
    if !message.is_binding_request() || message.use_candidate() {
        return None;
    }
    if !message.verify(local_pwd.as_bytes(), hmac) {
        return None;
    }
    let tie_breaker = message.ice_controlling()?;
    let nominating = StunMessage::binding_request(
        message.username()?,
        message.trans_id(),
        true,
        tie_breaker,
        message.prio()?,
        true,
    );
    let mut buf = vec![0u8; data.len() + 64];
    let n = nominating
        .to_bytes(Some(local_pwd.as_bytes()), &mut buf, hmac)
        .ok()?;
    buf.truncate(n);
    Some(buf)
}

fn hmac(key: &[u8], payloads: &[&[u8]]) -> [u8; 20] {
    str0m::crypto::from_feature_flags()
        .sha1_hmac_provider
        .sha1_hmac(key, payloads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use str0m::ice::TransId;

    const PWD: &str = "our-ice-password-1234567";

    fn request(use_candidate: bool, controlling: bool, pwd: &str) -> Vec<u8> {
        let msg = StunMessage::binding_request(
            "ours:theirs",
            TransId::new(),
            controlling,
            0x1234_5678_9abc_def0,
            1_845_501_695,
            use_candidate,
        );
        let mut buf = vec![0u8; 512];
        let n = msg.to_bytes(Some(pwd.as_bytes()), &mut buf, hmac).unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn a_first_check_becomes_a_nomination_signed_with_our_password() {
        let original = request(false, true, PWD);
        let rewritten = nominate_early(&original, PWD).expect("rewritten");
        let a = StunMessage::parse(&original).unwrap();
        let b = StunMessage::parse(&rewritten).unwrap();
        assert!(b.use_candidate());
        assert!(b.verify(PWD.as_bytes(), hmac), "integrity recomputed");
        assert_eq!(a.trans_id(), b.trans_id());
        assert_eq!(a.prio(), b.prio());
        assert_eq!(a.username(), b.username());
        assert_eq!(a.ice_controlling(), b.ice_controlling());
    }

    #[test]
    fn other_messages_are_left_alone() {
        assert!(
            nominate_early(&request(true, true, PWD), PWD).is_none(),
            "already nominating"
        );
        assert!(
            nominate_early(&request(false, false, PWD), PWD).is_none(),
            "controlled agent"
        );
        assert!(
            nominate_early(&request(false, true, "someone-elses-password"), PWD).is_none(),
            "integrity does not verify with our password"
        );
        assert!(nominate_early(b"\x16\xfe\xfd not stun", PWD).is_none());
        assert!(nominate_early(&[], PWD).is_none());
    }
}
