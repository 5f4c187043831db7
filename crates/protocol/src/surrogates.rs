//! Lone UTF-16 surrogates in `\u` escapes (`"\ud83d"`, an emoji cut in half by a client that
//! truncates by UTF-16 units). JSON allows them, Rust strings cannot hold them, so serde_json
//! refuses the whole frame and the client would never learn which request failed. This finds
//! them so that the frame can be read once more, with U+FFFD in their place, only to know whom
//! to answer FAILED.

/// The frame with every lone surrogate escape replaced by `\ufffd`, or `None` if it has none.
pub(crate) fn replace_lone_surrogates(frame: &str) -> Option<String> {
    let bytes = frame.as_bytes();
    let mut out = String::with_capacity(frame.len());
    let mut found = false;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        // Any escape is two bytes, `\u` six; only `\u` needs a look.
        if bytes.get(i + 1) != Some(&b'u') {
            i += 2;
            continue;
        }
        let Some(unit) = hex_unit(bytes, i + 2) else {
            i += 2;
            continue;
        };
        let high = (0xD800..0xDC00).contains(&unit);
        let low = (0xDC00..0xE000).contains(&unit);
        if high && next_is_low_surrogate(bytes, i + 6) {
            i += 12;
            continue;
        }
        if high || low {
            found = true;
            out.push_str(&frame[copied..i]);
            out.push_str("\\ufffd");
            copied = i + 6;
        }
        i += 6;
    }
    if !found {
        return None;
    }
    out.push_str(&frame[copied..]);
    Some(out)
}

fn next_is_low_surrogate(bytes: &[u8], at: usize) -> bool {
    bytes.get(at) == Some(&b'\\')
        && bytes.get(at + 1) == Some(&b'u')
        && hex_unit(bytes, at + 2).is_some_and(|u| (0xDC00..0xE000).contains(&u))
}

/// The four hex digits at `at` as a number.
fn hex_unit(bytes: &[u8], at: usize) -> Option<u32> {
    let digits = bytes.get(at..at + 4)?;
    let text = std::str::from_utf8(digits).ok()?;
    u32::from_str_radix(text, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_ones_are_replaced_pairs_are_kept() {
        assert_eq!(replace_lone_surrogates(r#"{"t":"ok \ud83d\udc4b"}"#), None);
        assert_eq!(replace_lone_surrogates(r#"{"t":"plain"}"#), None);
        assert_eq!(
            replace_lone_surrogates(r#"{"t":"cut \ud83d"}"#).as_deref(),
            Some(r#"{"t":"cut \ufffd"}"#)
        );
        assert_eq!(
            replace_lone_surrogates(r#"{"t":"\udc4b\ud83d x"}"#).as_deref(),
            Some(r#"{"t":"\ufffd\ufffd x"}"#)
        );
        // An escaped backslash followed by "ud83d" is text, not an escape.
        assert_eq!(replace_lone_surrogates(r#"{"t":"\\ud83d"}"#), None);
        // Truncated escapes are left for serde_json to refuse.
        assert_eq!(replace_lone_surrogates(r#"{"t":"\ud8"#), None);
    }
}
