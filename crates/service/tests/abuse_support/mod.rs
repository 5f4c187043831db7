//! Shared checks of the abuse tests (issue 12): the server answers, the media plane still
//! reads datagrams, and the process's resident memory.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use huddle_service::Server;
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The abuse tests share one binary (tests/abuse.rs). A test that reads the process's resident
/// memory holds it alone; every other test holds a share while it runs, so that none of its
/// allocations land in another's figure. (tokio's lock: each test has its own runtime, and the
/// guard is held across the test's awaits.)
static PROCESS: RwLock<()> = RwLock::const_new(());

/// For a test that measures the process's memory: no other test runs meanwhile.
pub async fn measured_alone() -> RwLockWriteGuard<'static, ()> {
    PROCESS.write().await
}

/// For every other test of the binary: runs beside the others, never beside a measurement.
pub async fn shares_the_process() -> RwLockReadGuard<'static, ()> {
    PROCESS.read().await
}

/// Resident memory of this process (the in-process server), in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// `GET path` from the loopback address `from` (127.0.0.x), so that per-IP caps hit by an
/// attacker on 127.0.0.1 do not apply; returns the status.
pub async fn get_from(from: &str, addr: SocketAddr, path: &str) -> u16 {
    get_body_from(from, addr, path).await.0
}

/// The same, with the body.
pub async fn get_body_from(from: &str, addr: SocketAddr, path: &str) -> (u16, String) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    let stream = tokio::time::timeout(Duration::from_secs(5), socket.connect(addr))
        .await
        .expect("connect in time")
        .expect("connect");
    crate::support::http_get_on(stream, path).await
}

/// A counter of `/metrics` (asked from 127.0.0.3, an address no test attacks from).
pub async fn metric(server: &Server, name: &str) -> u64 {
    let (status, body) = get_body_from("127.0.0.3", server.http_addr(), "/metrics").await;
    assert_eq!(status, 200);
    body.lines()
        .find_map(|l| {
            l.strip_prefix(name)
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .unwrap_or_else(|| panic!("{name} not in /metrics")) as u64
}

/// The media plane still reads datagrams: 50 sent to its port are counted within 2 s (its
/// one thread reads every datagram before it drops an unknown one).
pub async fn assert_media_reads_packets(server: &Server) {
    let before = metric(server, "huddle_media_packets_in_total").await;
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..50u8 {
        udp.send_to(&[0x80, 0x60, 0, i, 0, 0, 0, 0], server.media_addr())
            .await
            .unwrap();
    }
    for _ in 0..40 {
        if metric(server, "huddle_media_packets_in_total").await >= before + 50 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the media plane stopped reading datagrams");
}
