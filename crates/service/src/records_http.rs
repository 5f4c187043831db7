//! Recordings over HTTP: `GET /api/records` (JSON list), `GET /records/<file>` (download, with
//! Range requests so a browser can seek) and `GET /client/records/` (a page listing them).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use huddle_record::{list_recordings, RecordingEntry};
use tower::ServiceExt;
use tower_http::services::ServeDir;

use crate::server::Shared;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/records", get(list_json))
        .route("/client/records", get(list_page))
        .route("/client/records/", get(list_page))
        .route("/records/{*file}", get(download))
}

/// The recordings, or a 500 (logged) when the folder cannot be read: an I/O error is not an
/// empty list.
async fn list(shared: &Shared) -> Result<Vec<RecordingEntry>, Response> {
    let dir = shared.config.records_dir.clone();
    let listed = tokio::task::spawn_blocking(move || {
        list_recordings(&dir).map_err(|e| {
            tracing::error!(dir = %dir.display(), error = %e, "cannot list recordings");
            e
        })
    })
    .await;
    match listed {
        Ok(Ok(entries)) => Ok(entries),
        Ok(Err(e)) => Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()),
        Err(_) => Err(StatusCode::SERVICE_UNAVAILABLE.into_response()),
    }
}

async fn list_json(State(shared): State<Arc<Shared>>, headers: HeaderMap, uri: Uri) -> Response {
    if let Some(refusal) = crate::records_access::refusal(&shared, &headers, &uri) {
        return refusal;
    }
    match list(&shared).await {
        // Each entry names the node holding the file, in a cluster (docs/SCALING.md).
        Ok(entries) => Json(crate::admin_cluster::tag_records(&shared, entries)).into_response(),
        Err(response) => response,
    }
}

async fn download(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    if let Some(refusal) = crate::records_access::refusal(&shared, req.headers(), req.uri()) {
        return refusal;
    }
    // Only the recordings themselves: no hidden entries (the pending-mix jobs live in `.jobs`).
    let path = req.uri().path().trim_start_matches("/records/").to_string();
    if path.split('/').any(|segment| {
        segment.starts_with('.') || segment.starts_with("%2e") || segment.starts_with("%2E")
    }) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let (mut parts, body) = req.into_parts();
    let rest = format!("/{path}");
    parts.uri = match rest.parse() {
        Ok(uri) => uri,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    let req = Request::from_parts(parts, body);
    match ServeDir::new(&shared.config.records_dir).oneshot(req).await {
        Ok(response) => response.into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn list_page(State(shared): State<Arc<Shared>>, headers: HeaderMap, uri: Uri) -> Response {
    if let Some(refusal) = crate::records_access::refusal(&shared, &headers, &uri) {
        return refusal;
    }
    let entries = match list(&shared).await {
        Ok(entries) => entries,
        Err(response) => return response,
    };
    // Links carry the page's token on (a browser sends no header with a link).
    let token = uri
        .query()
        .and_then(|q| q.split('&').find(|p| p.starts_with("token=")))
        .map(|p| format!("?{p}"))
        .unwrap_or_default();
    let rows: String = entries
        .iter()
        .map(|r| {
            let href = r.name.split('/').map(encode_segment).collect::<Vec<_>>().join("/");
            format!(
                "<tr><td><a href=\"/records/{href}{token}\" download>{}</a></td><td>{}</td><td><a href=\"/records/{href}{token}\">play</a></td></tr>\n",
                escape(&r.name),
                human_size(r.size)
            )
        })
        .collect();
    let body = if rows.is_empty() {
        "<p>No recordings yet. Join a room with <em>Record</em> checked, or publish with <code>record: true</code>.</p>".to_string()
    } else {
        format!("<table><thead><tr><th scope=\"col\">File</th><th scope=\"col\">Size</th><th scope=\"col\">Open</th></tr></thead><tbody>\n{rows}</tbody></table>")
    };
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Huddle recordings</title>\
<style>body{{font-family:system-ui,sans-serif;margin:1rem;max-width:60rem}}table{{border-collapse:collapse;width:100%}}td,th{{padding:.4rem;border-bottom:1px solid #ddd;text-align:left;word-break:break-all}}</style></head>\
<body><main><h1>Recordings</h1><p><a href=\"/\">Back to the apps</a></p>{body}</main></body></html>"
    ))
    .into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Percent-encodes one path segment (any Unicode name stays a valid link).
fn encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_and_encoded() {
        assert_eq!(escape("<a href='x'>&"), "&lt;a href=&#39;x&#39;&gt;&amp;");
        assert_eq!(
            encode_segment("комната 1.mkv"),
            "%D0%BA%D0%BE%D0%BC%D0%BD%D0%B0%D1%82%D0%B0%201.mkv"
        );
        assert_eq!(human_size(3 << 20), "3.0 MiB");
    }
}
