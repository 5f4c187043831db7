//! Small text fixes on the answers str0m writes, for what the browser SDK needs (spec §8).

/// Gives every m-line of a play answer the same msid stream id, so the browser puts audio and
/// video into one `MediaStream` (`event.streams[0]`). Rewrites `a=msid:`, `a=ssrc:<n> msid:`
/// and the session `a=msid-semantic` line. Track ids are kept.
pub fn unify_stream_id(sdp: &str, stream_id: &str) -> String {
    let mut out = String::with_capacity(sdp.len() + 64);
    for line in sdp.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        let ending = &line[body.len()..];
        if let Some(rest) = body.strip_prefix("a=msid-semantic:") {
            let semantic = rest.split_whitespace().next().unwrap_or("WMS");
            out.push_str(&format!("a=msid-semantic: {semantic} {stream_id}"));
        } else if let Some(rest) = body.strip_prefix("a=msid:") {
            out.push_str(&format!("a=msid:{stream_id} {}", track_of(rest)));
        } else if let Some((head, rest)) = ssrc_msid(body) {
            out.push_str(&format!("{head}msid:{stream_id} {}", track_of(rest)));
        } else {
            out.push_str(body);
        }
        out.push_str(ending);
    }
    out
}

/// The track id part of "<stream> <track>" (or the whole value if there is no stream part).
fn track_of(value: &str) -> &str {
    match value.split_once(' ') {
        Some((_, track)) => track.trim(),
        None => value.trim(),
    }
}

/// Splits "a=ssrc:123 msid:s t" into ("a=ssrc:123 ", "s t").
fn ssrc_msid(body: &str) -> Option<(&str, &str)> {
    let rest = body.strip_prefix("a=ssrc:")?;
    let (ssrc, attr) = rest.split_once(' ')?;
    let value = attr.strip_prefix("msid:")?;
    let head_len = "a=ssrc:".len() + ssrc.len() + 1;
    Some((&body[..head_len], value))
}

/// Count of m-lines, and checks the answer has what the browser SDK needs on every m-line:
/// BUNDLE over all mids, rtcp-mux, a fingerprint and an explicit setup role.
pub fn check_answer(sdp: &str) -> Result<(), String> {
    let mlines = sdp.lines().filter(|l| l.starts_with("m=")).count();
    let mids: Vec<&str> = sdp
        .lines()
        .filter_map(|l| l.trim_end().strip_prefix("a=mid:"))
        .collect();
    let bundle = sdp
        .lines()
        .find_map(|l| l.trim_end().strip_prefix("a=group:BUNDLE"))
        .ok_or("no a=group:BUNDLE")?;
    let bundled: Vec<&str> = bundle.split_whitespace().collect();
    if mids.len() != mlines || mids.iter().any(|m| !bundled.contains(m)) {
        return Err(format!("BUNDLE {bundled:?} does not cover mids {mids:?}"));
    }
    for (what, prefix) in [
        ("rtcp-mux", "a=rtcp-mux"),
        ("fingerprint", "a=fingerprint:"),
        ("setup", "a=setup:"),
    ] {
        let n = sdp.lines().filter(|l| l.starts_with(prefix)).count();
        if n < mlines {
            return Err(format!("{what} missing on some m-line ({n} of {mlines})"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = "v=0\r\n\
a=group:BUNDLE 0 1\r\n\
a=msid-semantic: WMS abc def\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
a=mid:0\r\n\
a=setup:passive\r\n\
a=fingerprint:sha-256 AA\r\n\
a=sendonly\r\n\
a=msid:abc ta\r\n\
a=rtcp-mux\r\n\
a=ssrc:1 cname:x\r\n\
a=ssrc:1 msid:abc ta\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n\
a=mid:1\r\n\
a=setup:passive\r\n\
a=fingerprint:sha-256 AA\r\n\
a=msid:def tv\r\n\
a=rtcp-mux\r\n\
a=ssrc:2 msid:def tv\r\n\
a=ssrc:3 msid:def tv\r\n\
a=ssrc-group:FID 2 3\r\n";

    #[test]
    fn one_stream_id_everywhere() {
        let fixed = unify_stream_id(ANSWER, "S");
        assert!(fixed.contains("a=msid-semantic: WMS S\r\n"));
        assert!(fixed.contains("a=msid:S ta\r\n"));
        assert!(fixed.contains("a=msid:S tv\r\n"));
        assert!(fixed.contains("a=ssrc:1 msid:S ta\r\n"));
        assert!(fixed.contains("a=ssrc:3 msid:S tv\r\n"));
        assert!(fixed.contains("a=ssrc:1 cname:x\r\n"));
        assert!(!fixed.contains("abc") && !fixed.contains("def"));
        assert_eq!(fixed.lines().count(), ANSWER.lines().count());
    }

    #[test]
    fn answer_check() {
        assert_eq!(check_answer(ANSWER), Ok(()));
        let broken = ANSWER.replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0");
        assert!(check_answer(&broken).is_err());
        let no_setup = ANSWER.replace("a=setup:passive\r\n", "");
        assert!(check_answer(&no_setup).is_err());
    }
}
