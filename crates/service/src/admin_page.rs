//! The operator dashboard's files (`/admin/`, from `<web_dir>/admin/`).
//!
//! The page itself holds no data: it asks the operator for the admin secret and reads everything
//! through the JSON admin API with `Authorization: Bearer`. Its files are served without the
//! secret (a browser cannot send a bearer header when it opens a page), but only when the admin
//! API is on: without `admin_secret`, `/admin/` is 404 like the API, so a server without the API
//! does not show a dead console. The responses forbid framing (the page has buttons that close
//! rooms) and load scripts from the same origin only.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower::ServiceExt;
use tower_http::services::ServeDir;

use crate::server::Shared;

/// Same-origin scripts, styles, images and API calls only; never inside a frame.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// `/admin`, `/admin/` and the page's files. The API's own routes (`/admin/rooms`, ...) are
/// more specific and win.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/admin", get(file))
        .route("/admin/", get(file))
        .route("/admin/{*file}", get(file))
}

async fn file(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    if shared.config.admin_secret.is_none() {
        return StatusCode::NOT_FOUND.into_response();
    }
    // The request path (`/admin/...`) names the file inside the web folder; ServeDir refuses
    // `..` and redirects `/admin` to `/admin/` (then serves `index.html`).
    let mut response = match ServeDir::new(&shared.config.web_dir).oneshot(req).await {
        Ok(response) => response.into_response(),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // An operator who updates the server gets the new page, not a cached mix of old modules.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
