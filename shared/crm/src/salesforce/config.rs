//! Typed configuration of the Salesforce client; secrets never print.

use std::time::Duration;

/// The workspace's one credential type: `Debug` and `Display` print a
/// placeholder.
pub use crm_sync_domain::secret::Secret;

/// How the client gets its access token.
#[derive(Debug, Clone)]
pub enum SalesforceAuth {
    /// OAuth 2.0 JWT bearer: an assertion signed with the connected app's
    /// certificate key, acting as `username`.
    JwtBearer { username: String, private_key_pem: Secret },
    /// OAuth 2.0 client credentials (run-as user set on the connected app).
    ClientCredentials { client_secret: Secret },
}

/// How to reach one org as the integration user. Build it with
/// [`SalesforceConfig::new`] and change the fields that differ from the
/// defaults.
#[derive(Debug, Clone)]
pub struct SalesforceConfig {
    /// Token host: `https://login.salesforce.com`, `https://test.salesforce.com`
    /// or the org's My Domain (required for client credentials).
    pub login_url: String,
    /// JWT `aud`; defaults to `login_url`.
    pub audience: Option<String>,
    /// Use this instead of the token's `instance_url`.
    pub instance_url: Option<String>,
    /// Connected app consumer key.
    pub client_id: String,
    /// How the token is obtained.
    pub auth: SalesforceAuth,
    /// REST version path segment, e.g. `v66.0`.
    pub api_version: String,
    /// Sent as `Sforce-Call-Options: client=<name>` on every write, so our own
    /// changes can be told apart when they come back.
    pub call_client: String,
    /// An extra trusted root certificate (PEM), e.g. the sandbox's.
    pub extra_root_pem: Option<String>,
    /// Per-request timeout (Bulk result pages can be large).
    pub timeout: Duration,
    /// First wait between Bulk job status polls (doubles up to `bulk_poll_max`).
    pub bulk_poll_initial: Duration,
    /// The longest wait between Bulk job status polls.
    pub bulk_poll_max: Duration,
    /// Give up on a Bulk job after this long.
    pub bulk_timeout: Duration,
}

impl SalesforceConfig {
    /// API `v66.0`, `crm-sync` as the call-options client, a 120-second
    /// timeout, Bulk polls from 1 to 20 seconds, an hour per Bulk job.
    pub fn new(login_url: impl Into<String>, client_id: impl Into<String>, auth: SalesforceAuth) -> Self {
        SalesforceConfig {
            login_url: login_url.into(),
            audience: None,
            instance_url: None,
            client_id: client_id.into(),
            auth,
            api_version: "v66.0".into(),
            call_client: "crm-sync".into(),
            extra_root_pem: None,
            timeout: Duration::from_secs(120),
            bulk_poll_initial: Duration::from_secs(1),
            bulk_poll_max: Duration::from_secs(20),
            bulk_timeout: Duration::from_secs(3600),
        }
    }
}
