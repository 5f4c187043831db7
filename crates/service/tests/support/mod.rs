//! Test helpers: an in-process server on 127.0.0.1 with ephemeral ports, and a small
//! Flashphoner-protocol WebSocket client (plain or TLS).

#![allow(dead_code)]

pub mod ffmpeg;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use huddle_service::{Config, Server, Stats};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub const UNICODE: &str = "Привет, 世界 👋 مرحبا";
/// Longest wait for one expected message.
pub const STEP: Duration = Duration::from_secs(5);

/// A free TCP port on 127.0.0.1, for a child process or a server a test starts later, taken
/// outside the kernel's ephemeral range: between this check and the real bind, a concurrent
/// test's outgoing connection or `bind(0)` can take a released ephemeral port (a fresh-clone CI
/// run lost the ACME test to it: its HTTPS bind failed with AddrInUse), never one of these.
pub fn free_port() -> u16 {
    let range =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let mut bounds = range
        .split_whitespace()
        .filter_map(|n| n.parse::<u16>().ok());
    let (first, last) = (
        bounds.next().unwrap_or(32768),
        bounds.next().unwrap_or(60999),
    );
    // Below the range (from 10000, clear of well-known services) or above it, whichever is wider.
    let below = 10_000..first.max(10_000);
    let above = last.saturating_add(1)..u16::MAX;
    let pick = if below.len() >= above.len() {
        below
    } else {
        above
    };
    for _ in 0..1000 {
        let port = rand::random_range(pick.clone());
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {pick:?}");
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "huddle-service-test-{tag}-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// A config for tests: loopback only, ephemeral ports, a web dir with an index.html.
pub fn test_config(tag: &str) -> Config {
    let web = temp_dir(&format!("{tag}-web"));
    std::fs::write(
        web.join("index.html"),
        "<!doctype html><title>huddle test</title>",
    )
    .unwrap();
    Config {
        bind: "127.0.0.1".parse().unwrap(),
        http_port: 0,
        https_port: 0,
        media_port: 0,
        // The ICE-TCP listener too: parallel tests must not share port 40000.
        media_tcp_port: 0,
        rtmp_port: 0,
        announce_ips: vec!["127.0.0.1".parse().unwrap()],
        web_dir: web,
        records_dir: temp_dir(&format!("{tag}-records")),
        ..Config::default()
    }
}

pub async fn start(config: Config) -> Server {
    huddle_service::start(config).await.expect("server starts")
}

/// One WebSocket client speaking the SDK's protocol.
pub struct Client<S> {
    pub ws: WebSocketStream<S>,
    pub name: String,
    /// Answer server pings automatically.
    pub auto_pong: bool,
}

pub async fn ws_connect(addr: SocketAddr, path: &str, name: &str) -> Client<TcpStream> {
    ws_connect_with(addr, path, name, None).await
}

/// [`ws_connect`] with the client's own WebSocket settings (e.g. buffer sizes).
pub async fn ws_connect_with(
    addr: SocketAddr,
    path: &str,
    name: &str,
    config: Option<tokio_tungstenite::tungstenite::protocol::WebSocketConfig>,
) -> Client<TcpStream> {
    let tcp = TcpStream::connect(addr).await.expect("tcp connect");
    let url = format!("ws://{addr}{path}");
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, config)
        .await
        .expect("ws handshake");
    Client {
        ws,
        name: name.to_string(),
        auto_pong: true,
    }
}

/// What ended a client's wait for a message.
#[derive(Debug, PartialEq)]
pub enum Closed {
    /// A close frame, the end of the stream, or a reset.
    Closed,
    Timeout,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    pub async fn send(&mut self, v: Value) {
        self.send_text(&v.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::text(text))
            .await
            .unwrap_or_else(|e| panic!("{}: send failed: {e}", self.name));
    }

    /// The next application message (server pings answered and skipped when `auto_pong`),
    /// as (raw text, JSON).
    pub async fn next_raw(&mut self, wait: Duration) -> Result<(String, Value), Closed> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Err(Closed::Timeout),
                Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => {
                    return Err(Closed::Closed)
                }
                Ok(Some(Ok(frame))) => frame,
            };
            let Message::Text(text) = frame else { continue };
            let text = text.as_str().to_string();
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: server sent non-JSON {text:?}: {e}", self.name));
            assert!(
                v["data"].is_array(),
                "every server frame has data[]: {text}"
            );
            if v["message"] == "ping" && self.auto_pong {
                self.send(json!({"message": "pong", "data": [null]})).await;
                continue;
            }
            return Ok((text, v));
        }
    }

    pub async fn next(&mut self) -> Value {
        match self.next_raw(STEP).await {
            Ok((_, v)) => v,
            Err(e) => panic!("{}: expected a message, got {e:?}", self.name),
        }
    }

    /// Asserts that nothing but pings arrives within `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        match self.next_raw(wait).await {
            Err(Closed::Timeout) => {}
            other => panic!("{}: expected silence, got {other:?}", self.name),
        }
    }

    /// Waits until the server closes the socket.
    pub async fn expect_closed(&mut self, wait: Duration) {
        loop {
            match self.next_raw(wait).await {
                Err(Closed::Closed) => return,
                Err(Closed::Timeout) => panic!("{}: socket still open", self.name),
                Ok(_) => continue,
            }
        }
    }

    /// `connection` -> `getUserData`.
    pub async fn login(&mut self, login: &str) -> Value {
        self.send(json!({"message":"connection","data":[{
            "appKey":"roomApp","mediaProviders":["WebRTC","MSE","WSPlayer"],"clientVersion":"2.0",
            "clientOSVersion":"5.0","clientBrowserVersion":"test","msePacketizationVersion":2,
            "custom":{"login":login}}]}))
            .await;
        let v = self.next().await;
        assert_eq!(v["message"], "getUserData", "{v}");
        assert_eq!(v["data"][0]["status"], "ESTABLISHED", "{v}");
        v
    }

    pub async fn send_data(&mut self, op: &str, command: &str, options: Value) {
        self.send(json!({"message":"sendData","data":[{"operationId":op,"payload":{"command":command,"options":options}}]}))
            .await;
    }

    /// Expects `DataStatusEvent` for `op`; returns its data.
    pub async fn expect_status(&mut self, op: &str, status: &str) -> Value {
        let v = self.next().await;
        assert_eq!(v["message"], "DataStatusEvent", "{}: {v}", self.name);
        assert_eq!(v["data"][0]["operationId"], op, "{}: {v}", self.name);
        assert_eq!(v["data"][0]["status"], status, "{}: {v}", self.name);
        v["data"][0].clone()
    }

    /// Expects a room event; returns its `info`.
    pub async fn expect_event(&mut self, room: &str, name: &str) -> Value {
        let v = self.next().await;
        assert_eq!(v["message"], "OnDataEvent", "{}: {v}", self.name);
        let p = &v["data"][0]["payload"];
        assert_eq!(p["roomName"], room, "{}: {v}", self.name);
        assert_eq!(p["name"], name, "{}: {v}", self.name);
        p["info"].clone()
    }

    /// join -> ACCEPTED -> STATE; returns the STATE info.
    pub async fn join(&mut self, op: &str, room: &str) -> Value {
        self.send_data(op, "join", json!({"name": room, "record": false}))
            .await;
        self.expect_status(op, "ACCEPTED").await;
        self.expect_event(room, "STATE").await
    }

    pub async fn message(&mut self, op: &str, room: &str, to: &str, text: &str) {
        self.send_data(
            op,
            "sendMessage",
            json!({"roomConfig":{"name":room},"to":to,"text":text}),
        )
        .await;
    }
}

/// `GET path` over plain HTTP/1.1; returns (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let stream = TcpStream::connect(addr).await.unwrap();
    http_get_on(stream, path).await
}

pub async fn http_get_on<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    path: &str,
) -> (u16, String) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(STEP, stream.read_to_end(&mut buf))
        .await
        .expect("http response in time")
        .ok();
    let text = String::from_utf8_lossy(&buf).to_string();
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

pub async fn stats(server: &Server) -> Stats {
    let (status, body) = http_get(server.http_addr(), "/api/stats").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("stats JSON {body:?}: {e}"))
}

/// Polls `/api/stats` until `pred` holds (bounded).
pub async fn wait_stats(server: &Server, what: &str, pred: impl Fn(&Stats) -> bool) -> Stats {
    let mut last = Stats::default();
    for _ in 0..50 {
        last = stats(server).await;
        if pred(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("stats never reached {what}: {last:?}");
}

// ---- TLS ---------------------------------------------------------------------------------

/// Accepts any server certificate (the server's is self-signed) but still checks signatures.
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS connection to `addr` that accepts the self-signed certificate; returns the stream
/// and the server's certificate (DER).
pub async fn tls_connect(
    addr: SocketAddr,
    alpn: &[&[u8]],
) -> (tokio_rustls::client::TlsStream<TcpStream>, Vec<u8>) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let cert = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
        .expect("server certificate");
    (tls, cert)
}

pub async fn wss_connect(
    addr: SocketAddr,
    path: &str,
    name: &str,
) -> Client<tokio_rustls::client::TlsStream<TcpStream>> {
    let (tls, _) = tls_connect(addr, &[b"http/1.1"]).await;
    let url = format!("wss://localhost:{}{path}", addr.port());
    let (ws, _) = tokio_tungstenite::client_async(url, tls)
        .await
        .expect("wss handshake");
    Client {
        ws,
        name: name.to_string(),
        auto_pong: true,
    }
}

/// One plain HTTP/1.1 request with an optional bearer secret; returns (status, body).
pub async fn admin(
    addr: SocketAddr,
    method: &str,
    path: &str,
    secret: Option<&str>,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let auth = secret
        .map(|s| format!("Authorization: Bearer {s}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(STEP, s.read_to_end(&mut buf))
        .await
        .unwrap()
        .ok();
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}
