//! STUN/TURN servers for Huddle's own web apps: `GET /api/ice-servers` answers the
//! `iceServers` list the page hands to `RoomApi.connect({mediaOptions: {iceServers}})`.
//!
//! TURN credentials are made per request with the "TURN REST API" scheme that coturn checks
//! with `use-auth-secret` / `static-auth-secret`: username `<expiry unix seconds>:<user>`,
//! password `base64(HMAC-SHA1(secret, username))`. They expire by themselves, so a page never
//! holds a long-lived secret. See docs/TURN.md for running Debian's coturn beside Huddle.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::server::Shared;

/// One entry of `RTCConfiguration.iceServers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IceServer {
    /// `stun:`, `turn:` or `turns:` URLs of one server.
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// What `/api/ice-servers` is made from (a part of the server config).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IceSettings {
    /// Handed out as they are (STUN, or TURN with static credentials).
    pub static_servers: Vec<IceServer>,
    /// TURN URLs that get fresh credentials from `secret` on every request.
    pub turn_urls: Vec<String>,
    pub secret: Option<String>,
    pub ttl_secs: u64,
}

impl IceSettings {
    /// The list for one page, with TURN credentials valid until `now_unix + ttl`.
    pub fn servers(&self, now_unix: u64, user: &str) -> Vec<IceServer> {
        let mut out = self.static_servers.clone();
        if let (false, Some(secret)) = (self.turn_urls.is_empty(), &self.secret) {
            let (username, credential) = rest_credentials(secret, now_unix + self.ttl_secs, user);
            out.push(IceServer {
                urls: self.turn_urls.clone(),
                username: Some(username),
                credential: Some(credential),
            });
        }
        out
    }
}

/// TURN REST credentials (coturn `use-auth-secret`) for `user`, valid until `expiry_unix`.
pub fn rest_credentials(secret: &str, expiry_unix: u64, user: &str) -> (String, String) {
    use aws_lc_rs::hmac;
    let username = format!("{expiry_unix}:{user}");
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    let tag = hmac::sign(&key, username.as_bytes());
    let password = base64::engine::general_purpose::STANDARD.encode(tag.as_ref());
    (username, password)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IceServersReply {
    ice_servers: Vec<IceServer>,
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/api/ice-servers", get(ice_servers))
}

/// `{"iceServers": [...]}`; never cached (the credentials expire). The TURN user part is a
/// random id per request: coturn only needs it to be unique-ish, and it names no one.
async fn ice_servers(State(shared): State<Arc<Shared>>) -> Response {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let user = format!("huddle-{:016x}", rand::random::<u64>());
    let reply = IceServersReply {
        ice_servers: shared.config.ice_settings().servers(now, &user),
    };
    ([(header::CACHE_CONTROL, "no-store")], Json(reply)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_match_coturns_rest_scheme() {
        // Worked example checked against an independent HMAC-SHA1 (Python's hmac module):
        // base64(hmac.new(b"north", b"1700000000:alice", "sha1").digest()).
        let (user, pass) = rest_credentials("north", 1_700_000_000, "alice");
        assert_eq!(user, "1700000000:alice");
        assert_eq!(pass, "Cd/49soE35ICqcJF/bCTn8Z4OyE=");
    }

    #[test]
    fn servers_add_fresh_turn_credentials_after_the_static_ones() {
        let settings = IceSettings {
            static_servers: vec![IceServer {
                urls: vec!["stun:stun.example.org:3478".into()],
                username: None,
                credential: None,
            }],
            turn_urls: vec!["turn:turn.example.org:3478?transport=udp".into()],
            secret: Some("s3cret".into()),
            ttl_secs: 600,
        };
        let list = settings.servers(1000, "u1");
        assert_eq!(list.len(), 2);
        assert_eq!(list[0], settings.static_servers[0]);
        assert_eq!(list[1].username.as_deref(), Some("1600:u1"));
        let (_, expected) = rest_credentials("s3cret", 1600, "u1");
        assert_eq!(list[1].credential.as_deref(), Some(expected.as_str()));
        // Without a secret, TURN URLs are not handed out with unusable credentials.
        let no_secret = IceSettings {
            secret: None,
            ..settings
        };
        assert_eq!(no_secret.servers(1000, "u1").len(), 1);
    }
}
