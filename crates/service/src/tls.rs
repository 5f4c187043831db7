//! The HTTPS certificate: PEM files from the config, or a self-signed one made at start.

use std::net::IpAddr;

use axum_server::tls_rustls::RustlsConfig;

use crate::{Config, StartError};

/// Installs the process-wide rustls crypto provider (aws-lc-rs) once.
pub fn install_crypto_provider() {
    // Err means one is installed already (by us or by another part of the process): fine.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Names a self-signed certificate is made for.
pub fn self_signed_names(announce: &[IpAddr]) -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    for ip in announce {
        let ip = ip.to_string();
        if !names.contains(&ip) {
            names.push(ip);
        }
    }
    names
}

pub async fn rustls_config(
    config: &Config,
    announce: &[IpAddr],
) -> Result<RustlsConfig, StartError> {
    install_crypto_provider();
    if let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) {
        tracing::info!(cert = %cert.display(), key = %key.display(), "TLS certificate from files");
        return RustlsConfig::from_pem_file(cert, key)
            .await
            .map_err(|e| StartError::Tls(format!("{}: {e}", cert.display())));
    }
    let names = self_signed_names(announce);
    let certified = rcgen::generate_simple_self_signed(names.clone())
        .map_err(|e| StartError::Tls(format!("self-signed certificate: {e}")))?;
    tracing::info!(?names, "TLS: self-signed certificate (browsers will warn)");
    RustlsConfig::from_pem(
        certified.cert.pem().into_bytes(),
        certified.signing_key.serialize_pem().into_bytes(),
    )
    .await
    .map_err(|e| StartError::Tls(format!("self-signed certificate: {e}")))
}
