//! The operator dashboard's files at `/admin/` and `GET /admin/mixes`, over real sockets:
//! 404 without `admin_secret` (page and API alike); with it the page is served to anyone (it
//! holds no data) with headers that forbid framing, while the data stays behind the secret and
//! the API's own routes are not shadowed by the page's.

use crate::support;

use std::net::SocketAddr;

use huddle_service::Config;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ADMIN: &str = "admin-secret-123";
const PAGE: &str = "<!doctype html><title>dashboard under test</title>";

/// `GET path`; returns (status, lower-cased head, body).
async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(STEP, s.read_to_end(&mut buf))
        .await
        .expect("answer in time")
        .unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn config_with_page(tag: &str, admin_secret: Option<&str>) -> Config {
    let config = test_config(tag);
    let dir = config.web_dir.join("admin");
    std::fs::create_dir_all(dir.join("js")).unwrap();
    std::fs::write(dir.join("index.html"), PAGE).unwrap();
    std::fs::write(dir.join("js/main.js"), "export {};").unwrap();
    Config {
        admin_secret: admin_secret.map(String::from),
        ..config
    }
}

#[tokio::test]
async fn without_admin_secret_the_page_and_the_api_are_404() {
    let server = start(config_with_page("page-off", None)).await;
    let http = server.http_addr();
    for path in [
        "/admin",
        "/admin/",
        "/admin/index.html",
        "/admin/js/main.js",
    ] {
        assert_eq!(get(http, path).await.0, 404, "{path}");
    }
    assert_eq!(admin(http, "GET", "/admin/mixes", Some(ADMIN)).await.0, 404);
    // The other static files are still served.
    assert_eq!(get(http, "/index.html").await.0, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn with_admin_secret_the_page_is_served_and_the_data_is_guarded() {
    let server = start(config_with_page("page-on", Some(ADMIN))).await;
    let http = server.http_addr();

    let (status, head, body) = get(http, "/admin/").await;
    assert_eq!(status, 200);
    assert_eq!(body, PAGE);
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(head.contains("x-frame-options: deny"), "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'self'"),
        "{head}"
    );
    assert!(head.contains("frame-ancestors 'none'"), "{head}");
    let (status, head, body) = get(http, "/admin/js/main.js").await;
    assert_eq!((status, body.as_str()), (200, "export {};"));
    assert!(head.contains("javascript"), "{head}");
    // `/admin` leads to the folder; a missing file or a way out of the folder is 404.
    let (status, head, _) = get(http, "/admin").await;
    assert!((300..400).contains(&status), "{status}");
    assert!(head.contains("location: /admin/"), "{head}");
    assert_eq!(get(http, "/admin/nope.js").await.0, 404);
    assert_eq!(get(http, "/admin/..%2f..%2fetc%2fpasswd").await.0, 404);

    // The data: 401 without the secret, the API routes win over the page's catch-all.
    assert_eq!(admin(http, "GET", "/admin/mixes", None).await.0, 401);
    assert_eq!(
        admin(http, "GET", "/admin/mixes", Some("wrong-secret"))
            .await
            .0,
        401
    );
    let (status, body) = admin(http, "GET", "/admin/mixes", Some(ADMIN)).await;
    assert_eq!((status, body.as_str()), (200, "[]"));
    let (status, body) = admin(http, "GET", "/admin/rooms", Some(ADMIN)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"rooms\":[]"), "{body}");
    assert_eq!(admin(http, "GET", "/admin/records", None).await.0, 401);
    server.shutdown().await;
}
