//! Automatic HTTPS certificates over ACME (RFC 8555: Let's Encrypt, or any ACME server such as
//! pebble in the tests), for `acme_domain`.
//!
//! The protocol work is done by the `rustls-acme` crate: account and order, the TLS-ALPN-01
//! challenge answered by the HTTPS listener itself (so no extra port is needed), the certificate
//! and account key cached in `acme_cache`, renewal when two thirds of the validity have passed,
//! and retries with backoff when the ACME server fails. Its own axum integration targets an older
//! axum-server, so this module plugs its certificate resolver into a plain rustls
//! [`ServerConfig`] instead, which axum-server 0.9 serves as it is.
//!
//! Until the first certificate arrives (or while the ACME server is unreachable and nothing is
//! cached) browsers get a self-signed certificate for the domains, so the server is reachable
//! and says why in its log rather than failing every handshake.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use axum_server::tls_rustls::RustlsConfig;
use futures_util::StreamExt;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_acme::caches::DirCache;
use rustls_acme::{is_tls_alpn_challenge, AcmeConfig, ResolvesServerCertAcme};
use tokio::task::JoinHandle;

use crate::{tls, Config, StartError};

/// Let's Encrypt's production directory, the default of `acme_directory`.
pub const LETS_ENCRYPT_DIRECTORY: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// ALPN protocol of TLS-ALPN-01 validation connections (RFC 8737).
const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// The running certificate manager. Dropping it stops ordering and renewing (the certificate
/// already deployed keeps being served by the listener's resolver).
pub(crate) struct Acme {
    tls: RustlsConfig,
    task: JoinHandle<()>,
}

impl Acme {
    /// Starts ordering (or loading from the cache) the certificate of `config.acme_domain`.
    /// Must run inside the tokio runtime.
    pub(crate) fn start(config: &Config) -> Result<Self, StartError> {
        tls::install_crypto_provider();
        let cache = &config.acme_cache;
        create_private_dir(cache)
            .map_err(|e| StartError::Tls(format!("acme_cache {}: {e}", cache.display())))?;
        let domains = config.acme_domain.clone();
        let mut acme = match &config.acme_directory_ca {
            None => AcmeConfig::new(&domains),
            Some(ca) => AcmeConfig::new_with_client_config(&domains, directory_client(ca)?),
        }
        .directory(&config.acme_directory)
        .cache(DirCache::new(cache.clone()));
        if let Some(email) = &config.acme_email {
            acme = acme.contact_push(format!("mailto:{email}"));
        }
        let mut state = acme.state();
        let resolver = Arc::new(AcmeOrFallback {
            acme: state.resolver(),
            fallback: self_signed(&domains)?,
        });
        let task = tokio::spawn(async move {
            // The stream never ends: it sleeps until renewal time, retries with backoff.
            while let Some(event) = state.next().await {
                match event {
                    Ok(ok) => tracing::info!(event = ?ok, "acme"),
                    Err(err) => tracing::warn!(error = %err, "acme"),
                }
            }
        });
        tracing::info!(
            ?domains,
            directory = %config.acme_directory,
            cache = %cache.display(),
            "TLS: ACME certificate (TLS-ALPN-01 on the HTTPS port)"
        );
        Ok(Self {
            tls: RustlsConfig::from_config(server_config(resolver)),
            task,
        })
    }

    /// The HTTPS listener's TLS settings, with the ACME certificate resolver.
    pub(crate) fn rustls_config(&self) -> RustlsConfig {
        self.tls.clone()
    }
}

impl Drop for Acme {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// HTTP/2 and HTTP/1.1 as axum-server offers them, plus the ACME validation protocol, which
/// rustls would otherwise refuse (no common ALPN) before the resolver could answer it.
fn server_config(resolver: Arc<dyn ResolvesServerCert>) -> Arc<ServerConfig> {
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec(), ACME_TLS_ALPN.to_vec()];
    Arc::new(config)
}

/// A client trusting only the CA in `ca_file`, for a private or test ACME server.
fn directory_client(ca_file: &Path) -> Result<Arc<ClientConfig>, StartError> {
    let bad = |e: String| StartError::Tls(format!("acme_directory_ca {}: {e}", ca_file.display()));
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).map_err(|e| bad(e.to_string()))? {
        roots
            .add(cert.map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no certificate in the file".into()));
    }
    Ok(Arc::new(
        ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// The cache holds the certificate's private key and the account key: owner-only.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// A self-signed certificate for the domains, served until the ACME one is deployed.
fn self_signed(domains: &[String]) -> Result<Arc<CertifiedKey>, StartError> {
    let bad = |e: String| StartError::Tls(format!("self-signed certificate: {e}"));
    let certified =
        rcgen::generate_simple_self_signed(domains.to_vec()).map_err(|e| bad(e.to_string()))?;
    let key = PrivateKeyDer::try_from(certified.signing_key.serialize_der())
        .map_err(|e| bad(e.to_string()))?;
    let key = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key)
        .map_err(|e| bad(e.to_string()))?;
    Ok(Arc::new(CertifiedKey::new(
        vec![certified.cert.der().clone()],
        key,
    )))
}

/// The ACME certificate once there is one, else the self-signed fallback — except on
/// validation connections, which must see the challenge certificate or nothing.
struct AcmeOrFallback {
    acme: Arc<ResolvesServerCertAcme>,
    fallback: Arc<CertifiedKey>,
}

impl ResolvesServerCert for AcmeOrFallback {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let validation = is_tls_alpn_challenge(&hello);
        self.acme
            .resolve(hello)
            .or_else(|| (!validation).then(|| self.fallback.clone()))
    }
}

impl fmt::Debug for AcmeOrFallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcmeOrFallback").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConfigArgs, ConfigError};
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: ConfigArgs,
    }

    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        let argv = std::iter::once("huddle").chain(args.iter().copied());
        Cli::try_parse_from(argv)
            .expect("flags parse")
            .config
            .load()
    }

    fn from_toml(text: &str) -> Config {
        toml::from_str(text).expect("valid TOML config")
    }

    #[test]
    fn domains_from_flags_lists_and_the_file() {
        let c = parse(&["--acme-domain", "a.example", "--acme-domain", "b.example"]).unwrap();
        assert_eq!(c.acme_domain, ["a.example", "b.example"]);
        let c = parse(&[
            "--acme-domain",
            "a.example,b.example",
            "--acme-email",
            "o@a.example",
        ])
        .unwrap();
        assert_eq!(c.acme_domain, ["a.example", "b.example"]);
        assert_eq!(c.acme_email.as_deref(), Some("o@a.example"));
        assert_eq!(c.acme_directory, LETS_ENCRYPT_DIRECTORY);
        assert_eq!(c.acme_cache, Path::new("./acme"));
        assert_eq!(
            from_toml("acme_domain = \"a.example\"").acme_domain,
            ["a.example"]
        );
        let c = from_toml("acme_domain = [\"a.example\", \"b.example\"]\nacme_cache = \"/x\"");
        assert_eq!(c.acme_domain, ["a.example", "b.example"]);
        assert_eq!(c.acme_cache, Path::new("/x"));
        assert!(
            Config::default().acme_domain.is_empty(),
            "no ACME unless asked"
        );
    }

    #[test]
    fn bad_acme_settings_are_refused() {
        for args in [
            &[
                "--acme-domain",
                "a.example",
                "--tls-cert",
                "c",
                "--tls-key",
                "k",
            ][..],
            &["--acme-domain", "has space.example"],
            &["--acme-domain", "a..example"],
            &["--acme-domain", "203.0.113.7"],
            &["--acme-domain", "under_score.example"],
            &["--acme-domain", "a.example", "--acme-email", "nobody"],
            &[
                "--acme-domain",
                "a.example",
                "--acme-directory",
                "http://ca.example/dir",
            ],
        ] {
            assert!(
                matches!(parse(args), Err(ConfigError::Invalid(_))),
                "{args:?}"
            );
        }
        // Without a domain the other ACME keys are inert.
        parse(&["--acme-email", "nobody"]).unwrap();
    }

    #[test]
    fn the_packaged_config_is_valid_and_takes_a_domain() {
        let packaged = include_str!("../../../packaging/huddle.toml");
        let c = from_toml(packaged);
        c.validate().unwrap();
        assert_eq!((c.http_port, c.https_port), (80, 443));
        assert_eq!(c.web_dir, Path::new("/usr/share/huddle/web"));
        assert_eq!(c.records_dir, Path::new("/var/lib/huddle/records"));
        assert_eq!(c.acme_cache, Path::new("/var/lib/huddle/acme"));
        // What the README tells an operator to do: uncomment acme_domain and acme_email.
        let enabled = packaged
            .replace("# acme_domain = ", "acme_domain = ")
            .replace("# acme_email = ", "acme_email = ");
        let c = from_toml(&enabled);
        c.validate().unwrap();
        assert_eq!(c.acme_domain, ["meet.example.org"]);
    }

    #[test]
    fn a_directory_ca_file_must_hold_a_certificate() {
        let dir = std::env::temp_dir().join(format!("huddle-acme-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = directory_client(&empty).unwrap_err().to_string();
        assert!(err.contains("no certificate"), "{err}");
        assert!(directory_client(&dir.join("missing.pem")).is_err());
        let ca = rcgen::generate_simple_self_signed(vec!["ca.example".into()]).unwrap();
        let good = dir.join("ca.pem");
        std::fs::write(&good, ca.cert.pem()).unwrap();
        directory_client(&good).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
