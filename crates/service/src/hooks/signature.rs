//! The signature of every request Huddle sends to the application's backend: HMAC-SHA256 of
//! the exact body bytes with `webhook_secret`, hex-encoded, in `X-Huddle-Signature:
//! sha256=<hex>`. aws-lc-rs is the HMAC already used for TURN credentials (`crate::turn`),
//! so no second crypto crate is pulled in for it.

use aws_lc_rs::hmac;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-huddle-signature";
/// The header carrying the Unix time (seconds) the request was made at. Also inside the
/// signed body (`createdAt`), where it cannot be altered.
pub const TIMESTAMP_HEADER: &str = "x-huddle-timestamp";

/// `sha256=<hex of HMAC-SHA256(secret, body)>`: the value of [`SIGNATURE_HEADER`].
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, body);
    format!("sha256={}", hex(tag.as_ref()))
}

/// Checks a [`SIGNATURE_HEADER`] value against the body, in constant time.
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_tag) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Some(tag) = unhex(hex_tag) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    hmac::verify(&key, body, &tag).is_ok()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4231_test_case_2() {
        // RFC 4231, 4.3: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn verify_accepts_the_signature_and_nothing_else() {
        let header = sign(b"secret", b"{\"event\":\"x\"}");
        assert!(verify(b"secret", b"{\"event\":\"x\"}", &header));
        assert!(!verify(b"secret", b"{\"event\":\"y\"}", &header));
        assert!(!verify(b"other", b"{\"event\":\"x\"}", &header));
        assert!(!verify(b"secret", b"{\"event\":\"x\"}", &header[7..]));
        assert!(!verify(b"secret", b"{\"event\":\"x\"}", "sha256=zz"));
        assert!(!verify(b"secret", b"{\"event\":\"x\"}", "sha256=abc"));
    }
}
