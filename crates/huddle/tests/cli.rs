//! The `huddle` binary: ready line, settings from flags and HUDDLE_* variables, SIGTERM stop,
//! bad settings.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_huddle");

fn web_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("huddle-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "cli test page").unwrap();
    dir
}

/// Kills the child if a test fails half-way.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn starts_prints_ready_and_stops_on_sigterm() {
    let web = web_dir();
    let child = Command::new(BIN)
        .args(["--bind", "127.0.0.1", "--announce-ip", "127.0.0.1"])
        .args([
            "--http-port",
            "0",
            "--media-port",
            "0",
            "--media-tcp-port",
            "0",
        ])
        .args(["--rtmp-port", "0"])
        .arg("--web-dir")
        .arg(&web)
        // From the environment: 0 (free port) and a setting with no flag given.
        .env("HUDDLE_HTTPS_PORT", "0")
        .env("HUDDLE_MAX_PARTICIPANTS", "2")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn huddle");
    let mut child = Running(child);
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).expect("ready line");
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&parts[..2], ["huddle", "ready"], "{line}");
    let field = |k: &str| {
        parts
            .iter()
            .find_map(|p| p.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k}= in {line}"))
            .to_string()
    };
    let (http, https, media) = (field("http"), field("https"), field("media"));
    for addr in [&http, &https, &media] {
        assert!(addr.starts_with("127.0.0.1:"), "{line}");
        assert!(!addr.ends_with(":0"), "real ports: {line}");
    }
    assert_ne!(http, https);

    let page = http_get(&http, "/");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.ends_with("cli test page"), "{page}");
    let stats = http_get(&http, "/api/stats");
    assert!(stats.contains("\"media_peers\":0"), "{stats}");

    let pid = child.0.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            assert!(status.success(), "exit after SIGTERM: {status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still running 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(TcpStream::connect(&http).is_err(), "port released");
}

#[test]
fn bad_settings_exit_with_a_message() {
    let out = Command::new(BIN)
        .args(["--http-port", "9100", "--https-port", "9100"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("http_port and https_port must differ"),
        "{err}"
    );

    let out = Command::new(BIN)
        .env("HUDDLE_CONFIG", "/nonexistent/huddle.toml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/huddle.toml"));

    let out = Command::new(BIN)
        .args(["--http-port", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn help_lists_every_setting() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--config",
        "--bind",
        "--http-port",
        "--https-port",
        "--media-port",
        "--announce-ips",
        "--grace-period-secs",
        "--max-participants",
        "--max-message-bytes",
        "--max-frame-bytes",
        "--records-dir",
        "--web-dir",
        "--tls-cert",
        "--tls-key",
        "--ping-interval-secs",
        "--max-missed-pongs",
        "--record-template",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn a_taken_ice_tcp_port_is_named_in_the_start_error() {
    // Held by this test: the server's ICE-TCP listener cannot have it.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(BIN)
        .args(["--bind", "127.0.0.1", "--announce-ips", "127.0.0.1"])
        .args(["--http-port", "0", "--https-port", "0", "--rtmp-port", "0"])
        .args(["--media-port", "0", "--media-tcp-port", &port])
        .args(["--media-shards", "1", "--web-dir"])
        .arg(web_dir())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("ICE-TCP 127.0.0.1:{port}")),
        "the error names the ICE-TCP listener and its address: {err}"
    );
}
