//! The RTMP URL a room is restreamed to: checked before anything starts, and shown with its
//! secrets hidden (the stream key of YouTube/Twitch-style URLs is a credential).

use url::{Host, Url};

/// Longest URL taken (ingest URLs with keys are ~100 characters).
const MAX_URL_LEN: usize = 2048;

/// A checked restream target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    url: String,
    redacted: String,
}

impl Target {
    /// Takes `rtmp://` or `rtmps://` URLs with a host and an application path; says why not.
    pub fn parse(text: &str) -> Result<Target, String> {
        if text.len() > MAX_URL_LEN {
            return Err(format!("url longer than {MAX_URL_LEN} characters"));
        }
        if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("url contains spaces or control characters".into());
        }
        let url = Url::parse(text).map_err(|e| format!("url is not valid: {e}"))?;
        if !matches!(url.scheme(), "rtmp" | "rtmps") {
            return Err(format!(
                "url scheme {:?} is not supported: use rtmp:// or rtmps://",
                url.scheme()
            ));
        }
        match url.host() {
            None => return Err("url has no host".into()),
            Some(Host::Domain(name)) if !valid_hostname(name) => {
                return Err(format!("url host {name:?} is not a valid host name"))
            }
            Some(_) => {}
        }
        if url.path().trim_matches('/').is_empty() {
            return Err("url has no application path (rtmp://host/app/key)".into());
        }
        Ok(Target {
            redacted: redact(&url),
            url: text.to_string(),
        })
    }

    /// The URL as given (handed to ffmpeg only).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL for logs and the admin API: no user/password, no query, and the stream key
    /// (the last path segment after the application) replaced by `***`.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }
}

/// Letters, digits, `-` and `.`, as DNS names are (url leaves non-special hosts opaque).
fn valid_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .split('.')
            .all(|label| !label.is_empty() && label.len() <= 63)
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

fn redact(url: &Url) -> String {
    let mut out = format!("{}://", url.scheme());
    if let Some(host) = url.host_str() {
        out.push_str(host);
    }
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    let segments: Vec<&str> = url.path().split('/').filter(|s| !s.is_empty()).collect();
    for (i, segment) in segments.iter().enumerate() {
        out.push('/');
        // rtmp://host/app/key: the app stays, everything after it is the key.
        out.push_str(if i == 0 { segment } else { "***" });
    }
    if url.query().is_some() {
        out.push_str("?***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtmp_urls_are_taken_and_their_keys_hidden() {
        let t = Target::parse("rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl").unwrap();
        assert_eq!(t.url(), "rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl");
        assert_eq!(t.redacted(), "rtmp://a.rtmp.youtube.com/live2/***");
        let t = Target::parse("rtmps://user:pw@127.0.0.1:1936/app/key?token=x").unwrap();
        assert_eq!(t.redacted(), "rtmps://127.0.0.1:1936/app/***?***");
        let t = Target::parse("rtmp://[::1]/live").unwrap();
        assert_eq!(t.redacted(), "rtmp://[::1]/live");
    }

    #[test]
    fn bad_urls_are_refused_with_the_reason() {
        let reason = |u: &str| Target::parse(u).unwrap_err();
        assert!(reason("http://example.org/live/k").contains("scheme \"http\""));
        assert!(reason("file:///etc/passwd").contains("scheme"));
        assert!(reason("rtmp:///live/k").contains("host"));
        assert!(reason("rtmp://exa_mple.org/live/k").contains("host"));
        assert!(reason("rtmp://example.org").contains("application path"));
        assert!(reason("rtmp://example.org/live/k -f null").contains("spaces"));
        assert!(
            reason("not a url").contains("not valid") || reason("not a url").contains("spaces")
        );
        assert!(reason("rtmp-x").contains("not valid"));
        assert!(reason(&format!("rtmp://h/{}", "a".repeat(3000))).contains("longer"));
    }
}
