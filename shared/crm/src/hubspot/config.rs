//! How to reach one HubSpot account: the base URL, the private app's token,
//! the client secret for webhook signatures, and the client's pacing knobs.
//!
//! Plain values, no IO. Secrets are wrapped in [`Secret`] so that a settings
//! value printed with `{:?}` or `{}` never shows them.

use std::time::Duration;

/// The workspace's one credential type (the token and the client secret are
/// held in it): never prints.
pub use crm_sync_domain::secret::Secret;

/// How to reach one HubSpot account.
#[derive(Debug, Clone)]
pub struct HubSpotConfig {
    /// `https://api.hubapi.com`, or the sandbox's URL. No trailing slash needed.
    pub base_url: String,
    /// The private app's access token.
    pub token: Secret,
    /// An extra trusted root certificate (PEM), e.g. the sandbox's self-signed one.
    pub extra_root_cert_pem: Option<String>,
    /// The app's client secret, for webhook signatures.
    pub client_secret: Option<Secret>,
    /// Times a rate-limited (429) request is resent after its window.
    pub max_rate_limit_retries: u32,
    /// Searches per second the client paces itself to (HubSpot: 5).
    pub search_per_second: u32,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl HubSpotConfig {
    /// HubSpot's documented defaults: 5 rate-limit retries, 5 searches per
    /// second, a 30-second timeout, no extra certificate, no client secret.
    pub fn new(base_url: impl Into<String>, token: Secret) -> Self {
        Self {
            base_url: base_url.into(),
            token,
            extra_root_cert_pem: None,
            client_secret: None,
            max_rate_limit_retries: 5,
            search_per_second: 5,
            timeout: Duration::from_secs(30),
        }
    }
}
