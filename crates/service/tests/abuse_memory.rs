//! Memory per connection (issue 12, finding 6): idle WebSockets that said `connection`.
//! Measured alone (`abuse_support::measured_alone`), so that no other test's allocations skew
//! the process's RSS.

use std::time::Duration;

use crate::abuse_support::*;
use crate::support::*;

/// Under the default per-IP cap (256), all from 127.0.0.1.
const SOCKETS: usize = 200;

/// A client with a small read buffer as the server has (tungstenite's default 128 KiB would
/// dominate the figure: client and server share this process).
async fn small_client(addr: std::net::SocketAddr, name: &str) -> Client<tokio::net::TcpStream> {
    use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    ws_connect_with(addr, "/", name, Some(config)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_websockets_cost_little_and_memory_comes_back() {
    let _alone = measured_alone().await;
    let server = start(test_config("abuse-memory")).await;
    // Warm up (first allocations of the runtime, TLS-free HTTP path, actor).
    let mut warm = ws_connect(server.http_addr(), "/", "warm").await;
    warm.login("warm").await;
    let start_kib = rss_kib();
    let mut clients = Vec::new();
    for i in 0..SOCKETS {
        let mut c = small_client(server.http_addr(), &format!("c{i}")).await;
        c.login(&format!("idle{i}")).await;
        clients.push(c);
    }
    let peak_kib = rss_kib();
    let per_socket = (peak_kib.saturating_sub(start_kib)) * 1024 / SOCKETS as u64;
    drop(clients);
    wait_stats(&server, "idle sockets closed", |s| s.connections == 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_kib = rss_kib();
    println!(
        "RSS: start {start_kib} KiB, with {SOCKETS} idle sockets {peak_kib} KiB ({per_socket} B per socket, client side included), after they left {after_kib} KiB"
    );
    // Client and server share this process: the bound covers both ends of each socket.
    assert!(per_socket < 48 * 1024, "{per_socket} B per idle socket");
    assert!(
        after_kib <= peak_kib + 1024,
        "memory kept growing after the sockets left"
    );
    assert_eq!(
        get_from("127.0.0.2", server.http_addr(), "/api/stats").await,
        200
    );
    assert_media_reads_packets(&server).await;
    server.shutdown().await;
}
