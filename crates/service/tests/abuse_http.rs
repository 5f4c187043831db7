//! Abuse of the HTTP edge (issue 12): slowloris and descriptor exhaustion (finding 4), and
//! recordings behind access control (finding 3).

use std::time::{Duration, Instant};

use crate::abuse_support::*;
use crate::support::*;
use huddle_service::auth::{issue, Claims};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Silent sockets: one address gets at most `max_connections_per_ip`, the rest are closed at
/// accept (counted in `/metrics`); the held ones are closed by the header timeout; another
/// address is served all along, and WebSockets still open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sockets_are_capped_and_timed_out() {
    let _shared = shares_the_process().await;
    let server = start(huddle_service::Config {
        http_header_timeout_secs: 1,
        max_connections_per_ip: 16,
        ..test_config("abuse-slowloris")
    })
    .await;
    let mut silent = Vec::new();
    for _ in 0..40 {
        silent.push(TcpStream::connect(server.http_addr()).await.unwrap());
    }
    // Refused ones are closed at accept: their EOF is there at once (checked well within the
    // 1 s header timeout, which then closes the held ones too).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut closed_at_once = 0;
    for s in &mut silent {
        let mut b = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(10), s.read(&mut b)).await
        {
            closed_at_once += 1;
        }
    }
    assert_eq!(
        closed_at_once, 24,
        "40 sockets, 16 allowed from one address"
    );
    // Another address is served while 16 silent sockets are held.
    assert_eq!(
        get_from("127.0.0.2", server.http_addr(), "/api/stats").await,
        200
    );
    assert!(metric(&server, "huddle_connections_refused_total").await >= 24);
    // The header timeout (1 s) closes the held ones.
    let started = Instant::now();
    for s in &mut silent {
        let mut b = [0u8; 1];
        let left = Duration::from_secs(5).saturating_sub(started.elapsed());
        match tokio::time::timeout(left, s.read(&mut b)).await {
            Ok(Ok(0) | Err(_)) => {}
            other => panic!("a silent socket was kept: {other:?}"),
        }
    }
    println!("silent sockets closed within {:?}", started.elapsed());
    // With the attacker gone, its address is served again.
    let mut ws = ws_connect(server.http_addr(), "/", "after").await;
    ws.login("after").await;
    assert_media_reads_packets(&server).await;
    server.shutdown().await;
}

fn token(secret: &str, room: &str, record: bool) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    issue(
        secret,
        &Claims {
            sub: "viewer".into(),
            exp,
            room: room.into(),
            publish: false,
            record,
        },
    )
}

/// With `auth_secret`, the recordings need the admin secret or a token for every room with
/// the record grant; anonymous and room-scoped requests are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_need_credentials_when_access_control_is_on() {
    let _shared = shares_the_process().await;
    let secret = "abuse-secret";
    let admin = "admin-secret-123";
    let config = huddle_service::Config {
        auth_secret: Some(secret.into()),
        admin_secret: Some(admin.into()),
        ..test_config("abuse-records")
    };
    std::fs::write(
        config.records_dir.join("talk-alice-cam-1.mkv"),
        b"not really",
    )
    .unwrap();
    let server = start(config).await;
    let addr = server.http_addr();
    for path in [
        "/api/records",
        "/client/records/",
        "/records/talk-alice-cam-1.mkv",
    ] {
        assert_eq!(http_get(addr, path).await.0, 401, "{path} anonymous");
        let scoped = format!("{path}?token={}", token(secret, "talk", true));
        assert_eq!(http_get(addr, &scoped).await.0, 403, "{path} room token");
        let no_record = format!("{path}?token={}", token(secret, "*", false));
        assert_eq!(
            http_get(addr, &no_record).await.0,
            403,
            "{path} no record grant"
        );
        let forged = format!("{path}?token={}", token("other", "*", true));
        assert_eq!(http_get(addr, &forged).await.0, 401, "{path} forged");
        let good = format!("{path}?token={}", token(secret, "*", true));
        assert_eq!(http_get(addr, &good).await.0, 200, "{path} wildcard token");
        let admin_query = format!("{path}?token={admin}");
        assert_eq!(
            http_get(addr, &admin_query).await.0,
            200,
            "{path} admin secret"
        );
    }
    let (_, page) = http_get(
        addr,
        &format!("/client/records/?token={}", token(secret, "*", true)),
    )
    .await;
    assert!(
        page.contains("talk-alice-cam-1.mkv?token="),
        "links keep the token: {page}"
    );
    server.shutdown().await;
}
