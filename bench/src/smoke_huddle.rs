//! Starts Huddle in-process on 127.0.0.1 (ephemeral ports, announcing 127.0.0.1) and runs the
//! load generator's smoke scenario against it: 1 publisher → 2 subscribers over the Flashphoner
//! protocol, real str0m WebRTC clients, and the check that media arrives with zero loss.
//!
//! A unit-test module, not a file under tests/: that would be a second test binary, which
//! compiles the load generator's and the server's generic code again (~90 s of CPU; the lib's
//! tests with it grew by ~60 s; docs/TEAM_RULES.md).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::media::MediaShape;
use crate::scenario::{run_scenario, smoke_check, RunOpts, Scenario, Target};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_against_huddle() {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let tmp = std::env::temp_dir().join(format!("huddle-bench-smoke-{}", std::process::id()));
    let config = huddle_service::Config {
        bind: lo,
        announce_ips: vec![lo],
        http_port: 0,
        https_port: 0,
        media_port: 0,
        rtmp_port: 0,
        records_dir: tmp.join("records"),
        web_dir: tmp.join("web"),
        ..Default::default()
    };
    let server = huddle_service::start(config).await.expect("huddle starts");
    let http = server.http_addr();
    assert!(http.ip().is_loopback());

    let opts = RunOpts {
        target: Target::Huddle {
            url: format!("ws://{http}/"),
        },
        client_ip: lo,
        server_pid: Some(std::process::id()),
        warmup: Duration::from_secs(1),
        measure: Duration::from_secs(3),
        setup_timeout: Duration::from_secs(20),
        concurrency: 2,
        shape: MediaShape::default(),
    };
    let r = tokio::time::timeout(
        Duration::from_secs(60),
        run_scenario(&opts, Scenario::Fanout(2)),
    )
    .await
    .expect("smoke scenario finishes in time");
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&tmp);
    eprintln!("{r:?}");
    smoke_check(&r).expect("smoke passes");
    // 2 subscribers × 30 fps video and 2 × 50 pkt/s audio, allowing for scheduling slack.
    assert!(r.rx_video_fps > 30.0, "video fps {}", r.rx_video_fps);
    assert!(r.rx_audio_pps > 50.0, "audio pps {}", r.rx_audio_pps);
    assert!(r.lat_audio_p50_ms.is_some());
    // The server timed its own fan-outs (its /metrics histogram, RTP mode by default): about
    // one per frame and audio packet of the window (30 + 50 a second, some ending together).
    let fanouts = r
        .server_fanouts
        .expect("the server's fan-out histogram was read");
    assert!(fanouts >= 100, "{fanouts} fan-outs timed in 3 s");
    let p99 = r.server_fanout_p99_ms.expect("a fan-out p99");
    assert!(p99 > 0.0 && p99 < 100.0, "fan-out p99 {p99} ms");
}

#[tokio::test]
async fn smoke_fails_without_server() {
    // Nothing listens on this port: the scenario must report an error, not pass.
    let opts = RunOpts {
        target: Target::Huddle {
            url: "ws://127.0.0.1:9/".into(),
        },
        client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        server_pid: None,
        warmup: Duration::from_millis(10),
        measure: Duration::from_millis(100),
        setup_timeout: Duration::from_secs(1),
        concurrency: 2,
        shape: MediaShape::default(),
    };
    let r = run_scenario(&opts, Scenario::Fanout(2)).await;
    assert!(smoke_check(&r).is_err());
}
