//! Automatic HTTPS end to end against pebble, Let's Encrypt's test ACME server (Debian package
//! `pebble`, installed by `scripts/install-deps.sh`), all on loopback:
//!
//! 1. pebble runs with a config of its own (free ports, a directory certificate made here) and
//!    validates TLS-ALPN-01 on Huddle's HTTPS port, for real (no `PEBBLE_VA_ALWAYS_VALID`);
//! 2. Huddle started with `acme_domain = localhost` serves a self-signed fallback at first,
//!    then gets a certificate, and its HTTPS port serves it: a client trusting only pebble's root (from `/roots/0`) verifies the chain,
//!    whose intermediate is pebble's `/intermediates/0`, and gets `/api/stats`;
//! 3. after a restart with pebble stopped (so no new order can succeed), the same certificate
//!    is served from the cache.
//!
//! Skipped, with a message, only when `pebble` is not installed.

use crate::support::{self, free_port};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const DOMAIN: &str = "localhost";
/// Longest wait for the first certificate (pebble answers in about a second without sleeps).
const ISSUE_TIMEOUT: Duration = Duration::from_secs(25);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_from_pebble_then_from_the_cache() {
    let Some(pebble_bin) = find_in_path("pebble") else {
        eprintln!("SKIPPED acme test: `pebble` is not installed (bash scripts/install-deps.sh)");
        return;
    };
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = support::temp_dir("acme");
    let https_port = free_port();
    let pebble = Pebble::start(&pebble_bin, &dir, https_port).await;
    let root = pebble.pem_cert("/roots/0").await;
    let intermediate = pebble.pem_cert("/intermediates/0").await;

    let mut config = support::test_config("acme");
    config.https_port = https_port;
    config.acme_domain = vec![DOMAIN.to_string()];
    config.acme_email = Some("ops@example.org".to_string());
    config.acme_cache = dir.join("cache");
    config.acme_directory = format!("https://{DOMAIN}:{}/dir", pebble.wfe.port());
    config.acme_directory_ca = Some(pebble.ca_file.clone());

    let started = Instant::now();
    let server = huddle_service::start(config.clone()).await.expect("start");
    // The order takes seconds (pebble validates, the client polls): meanwhile HTTPS works with
    // the self-signed fallback, a lone certificate.
    let before = any_chain(server.https_addr()).await;
    assert_eq!(before.len(), 1, "self-signed fallback while the order runs");
    let first = wait_for_trusted(server.https_addr(), &root, ISSUE_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("no pebble certificate: {e}\npebble log:\n{}", pebble.log()));
    println!(
        "acme: certificate issued and served {} ms after start",
        started.elapsed().as_millis()
    );
    assert_eq!(
        first.status, "HTTP/1.1 200 OK",
        "/api/stats over the ACME certificate"
    );
    assert!(first.chain.len() >= 2, "leaf and intermediate are sent");
    assert_eq!(
        first.chain[1], intermediate,
        "issued by pebble's intermediate"
    );
    assert_ne!(
        first.chain[0], before[0],
        "the ACME certificate replaced the fallback"
    );
    let alpn = server.tls_server_config().alpn_protocols.clone();
    assert!(alpn.contains(&b"acme-tls/1".to_vec()), "{alpn:?}");
    server.shutdown().await;

    drop(pebble); // from now on a new order cannot succeed
    let restarted = Instant::now();
    let server = huddle_service::start(config).await.expect("restart");
    let again = wait_for_trusted(server.https_addr(), &root, Duration::from_secs(5))
        .await
        .expect("the cached certificate after a restart");
    println!(
        "acme: cached certificate served {} ms after restart",
        restarted.elapsed().as_millis()
    );
    assert_eq!(
        again.chain[0], first.chain[0],
        "same certificate, no new order"
    );
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// What a verified HTTPS request saw.
struct Answer {
    status: String,
    /// The whole response (head and body).
    response: Vec<u8>,
    chain: Vec<CertificateDer<'static>>,
}

/// Retries `GET /api/stats` trusting only `root` until the chain verifies (before the order
/// completes the server presents its self-signed fallback, which fails verification).
async fn wait_for_trusted(
    addr: SocketAddr,
    root: &CertificateDer<'static>,
    timeout: Duration,
) -> Result<Answer, String> {
    let deadline = Instant::now() + timeout;
    loop {
        match https_get(addr, DOMAIN, root, "/api/stats").await {
            Ok(answer) => return Ok(answer),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

async fn https_get(
    addr: SocketAddr,
    sni: &str,
    root: &CertificateDer<'static>,
    path: &str,
) -> Result<Answer, String> {
    let mut roots = RootCertStore::empty();
    roots.add(root.clone()).map_err(|e| e.to_string())?;
    let client = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from(sni.to_string()).map_err(|e| e.to_string())?;
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let chain = tls
        .get_ref()
        .1
        .peer_certificates()
        .unwrap_or_default()
        .to_vec();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    let read = tls.read_to_end(&mut response);
    // A peer closing without close_notify still gave us the whole answer.
    let _ = tokio::time::timeout(Duration::from_secs(5), read).await;
    let text = String::from_utf8_lossy(&response);
    let status = text.lines().next().unwrap_or_default().to_string();
    Ok(Answer {
        status,
        response,
        chain,
    })
}

/// The chain the server presents to `DOMAIN`, accepted without verification.
async fn any_chain(addr: SocketAddr) -> Vec<CertificateDer<'static>> {
    let client = ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from(DOMAIN).unwrap(), tcp)
        .await
        .expect("TLS handshake");
    tls.get_ref().1.peer_certificates().unwrap().to_vec()
}

/// Takes any certificate: only for looking at the one presented.
#[derive(Debug)]
struct AcceptAnyCertificate;

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A pebble process on free loopback ports, killed on drop.
struct Pebble {
    child: Child,
    wfe: SocketAddr,
    management: SocketAddr,
    /// The CA of pebble's own HTTPS certificate (made here: Debian's package ships none).
    ca_file: PathBuf,
    ca: CertificateDer<'static>,
    log_file: PathBuf,
}

impl Pebble {
    async fn start(bin: &Path, dir: &Path, tls_alpn_port: u16) -> Self {
        let (ca_file, ca) = write_directory_certificate(dir);
        let wfe = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let management = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let config = serde_json::json!({
            "pebble": {
                "listenAddress": wfe.to_string(),
                "managementListenAddress": management.to_string(),
                "certificate": dir.join("wfe-cert.pem"),
                "privateKey": dir.join("wfe-key.pem"),
                // HTTP-01 is not used; a free port keeps pebble off the shared default 5002.
                "httpPort": free_port(),
                "tlsPort": tls_alpn_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false
            }
        });
        let config_file = dir.join("pebble.json");
        std::fs::write(&config_file, config.to_string()).unwrap();
        let log_file = dir.join("pebble.log");
        let log = std::fs::File::create(&log_file).unwrap();
        let child = Command::new(bin)
            .arg("-config")
            .arg(&config_file)
            // Real validation, without pebble's random 0-15 s sleep or its random bad nonces.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn pebble");
        let pebble = Self {
            child,
            wfe,
            management,
            ca_file,
            ca,
            log_file,
        };
        pebble.wait_listening().await;
        pebble
    }

    async fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        for addr in [self.wfe, self.management] {
            while TcpStream::connect(addr).await.is_err() {
                assert!(Instant::now() < deadline, "pebble not up:\n{}", self.log());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// A PEM certificate from the management interface.
    async fn pem_cert(&self, path: &str) -> CertificateDer<'static> {
        let answer = https_get(self.management, DOMAIN, &self.ca, path)
            .await
            .unwrap_or_else(|e| panic!("pebble {path}: {e}"));
        assert_eq!(answer.status, "HTTP/1.1 200 OK", "pebble {path}");
        CertificateDer::from_pem_slice(&answer.response)
            .unwrap_or_else(|e| panic!("pebble {path}: no PEM certificate: {e}"))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA and a `localhost` certificate it signs, for pebble's directory and management HTTPS.
fn write_directory_certificate(dir: &Path) -> (PathBuf, CertificateDer<'static>) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec![DOMAIN.to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    std::fs::write(dir.join("wfe-cert.pem"), leaf.pem()).unwrap();
    std::fs::write(dir.join("wfe-key.pem"), key.serialize_pem()).unwrap();
    let ca_file = dir.join("wfe-ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    (ca_file, ca.der().clone())
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.is_file())
}
