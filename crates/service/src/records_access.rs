//! Who may read the recordings (`/api/records`, `/client/records/`, `/records/<file>`). With
//! access control off (no `auth_secret`) they are public, as before. With it on, the file
//! names alone reveal rooms and logins, so a request needs either the admin secret, or an
//! access token (the same HS256 JWT as the SDK's) for every room (`"room": "*"`) with the
//! `record` grant. A token scoped to one room is refused: a recording's room cannot be told
//! reliably from its file name (the template is free), so no per-room filtering is attempted.
//! The token goes in `Authorization: Bearer <token>` or, for links and `<video src>`, in the
//! `token` query parameter.

use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::server::Shared;

/// `None` if the request may read the recordings, else the refusal (401 without
/// credentials or with bad ones, 403 with a token that does not cover all rooms).
pub(crate) fn refusal(shared: &Shared, headers: &HeaderMap, uri: &Uri) -> Option<Response> {
    let verifier = shared.auth.as_ref()?;
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let given = bearer.or_else(|| query_token(uri));
    let Some(given) = given else {
        return Some(deny(StatusCode::UNAUTHORIZED, "Access token required"));
    };
    if let Some(admin) = &shared.config.admin_secret {
        if crate::admin::constant_time_eq(given.as_bytes(), admin.as_bytes()) {
            return None;
        }
    }
    match verifier.verify_any(Some(given)) {
        Err(reason) => Some(deny(StatusCode::UNAUTHORIZED, &reason)),
        Ok((_, grants)) if grants.room == "*" && grants.record => None,
        Ok(_) => Some(deny(
            StatusCode::FORBIDDEN,
            "Recordings need a token for every room (\"room\": \"*\") with the record grant",
        )),
    }
}

fn query_token(uri: &Uri) -> Option<&str> {
    uri.query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .filter(|t| !t.is_empty())
}

fn deny(status: StatusCode, reason: &str) -> Response {
    (
        status,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        reason.to_string(),
    )
        .into_response()
}
