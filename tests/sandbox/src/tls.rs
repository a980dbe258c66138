//! The self-signed certificate the sandbox serves HTTPS with.
//!
//! Owns certificate generation only; clients trust it by loading
//! [`SelfSigned::cert_pem`] as an extra root.

use anyhow::Context;

/// A freshly generated certificate for `localhost`, `127.0.0.1` and `::1`.
#[derive(Clone)]
pub struct SelfSigned {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for SelfSigned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfSigned").field("key_pem", &"<redacted>").finish_non_exhaustive()
    }
}

impl SelfSigned {
    pub fn generate() -> anyhow::Result<Self> {
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
        let certified = rcgen::generate_simple_self_signed(names).context("generating a self-signed certificate")?;
        Ok(Self { cert_pem: certified.cert.pem(), key_pem: certified.signing_key.serialize_pem() })
    }

    pub async fn rustls_config(&self) -> anyhow::Result<axum_server::tls_rustls::RustlsConfig> {
        axum_server::tls_rustls::RustlsConfig::from_pem(
            self.cert_pem.clone().into_bytes(),
            self.key_pem.clone().into_bytes(),
        )
        .await
        .context("loading the certificate into rustls")
    }
}
