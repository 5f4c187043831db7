//! Soak: 2000 join / message / leave cycles over 50 WebSocket connections (bounded: < 60 s);
//! afterwards no room, participant or media peer is left and the RSS is back near the start
//! (measured alone: `abuse_support::measured_alone`).

use std::time::{Duration, Instant};

use crate::abuse_support::{measured_alone, rss_kib};
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soak_join_message_leave() {
    let _alone = measured_alone().await;
    const CONNECTIONS: usize = 50;
    const CYCLES: usize = 40; // x 50 = 2000

    // 120 commands per connection as fast as the machine allows: on an idle machine that is
    // beyond the per-connection command limit (50/s, burst 100), which would refuse some with
    // "Too many requests". The soak is about leaks, not the limiter (src/ratelimit.rs and
    // tests/abuse_signaling.rs cover it), so the limit is raised here.
    let server = start(huddle_service::Config {
        max_commands_per_sec: 10_000,
        command_burst: 10_000,
        ..test_config("soak")
    })
    .await;
    let http = server.http_addr();
    let rss0 = rss_kib();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..CONNECTIONS {
        tasks.push(tokio::spawn(async move {
            let login = format!("u{i}");
            let peer = format!("u{}", i ^ 1);
            let mut c = ws_connect(http, "/", &login).await;
            c.login(&login).await;
            for n in 0..CYCLES {
                let room = format!("soak-{}-{}", i / 2, n);
                c.send_data(
                    &format!("j{n}"),
                    "join",
                    serde_json::json!({"name": room, "record": false}),
                )
                .await;
                c.message(&format!("m{n}"), &room, &peer, "hello").await;
                c.send_data(&format!("l{n}"), "leave", serde_json::json!({"name": room}))
                    .await;
                // Drain until the leave is answered (events of the partner may interleave).
                let deadline = Instant::now() + Duration::from_secs(20);
                loop {
                    assert!(Instant::now() < deadline, "{login}: leave not answered");
                    let v = c.next().await;
                    if v["message"] == "DataStatusEvent"
                        && v["data"][0]["operationId"] == format!("l{n}")
                    {
                        assert_eq!(v["data"][0]["status"], "ACCEPTED", "{v}");
                        break;
                    }
                }
            }
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(50), t)
            .await
            .expect("soak within 50 s")
            .expect("client task");
    }
    let elapsed = started.elapsed();
    let s = wait_stats(&server, "empty", |s| s.rooms == 0 && s.participants == 0).await;
    assert_eq!(s.media_peers, 0);
    let rss1 = rss_kib();
    eprintln!(
        "soak: {} cycles in {elapsed:?}, rss {} -> {} MiB",
        CONNECTIONS * CYCLES,
        rss0 >> 10,
        rss1 >> 10
    );
    assert!(
        rss1 < rss0 + 20 * 1024,
        "RSS grew from {rss0} to {rss1} KiB"
    );
    server.shutdown().await;
}
