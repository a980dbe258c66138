//! The functions' settings, read once per cold start from the environment the
//! SAM template sets (see `template.yaml`, `Globals.Function.Environment`).
//!
//! This module owns the names of those variables and their parsing; it makes
//! no AWS calls. Credentials are not here: the environment only names the
//! secret that holds them (`crm_sync_app::build` reads it).

use crm_sync_app::build::{DEFAULT_HUBSPOT_BASE_URL, DEFAULT_SALESFORCE_LOGIN_URL};
use crm_sync_app::domain::DEFAULT_SALESFORCE_API_CAP;
use thiserror::Error;

/// Table names of the DynamoDB store.
pub const STATE_TABLE: &str = "CRM_SYNC_STATE_TABLE";
/// Table of seen webhook event ids (TTL-expired).
pub const SEEN_EVENTS_TABLE: &str = "CRM_SYNC_SEEN_EVENTS_TABLE";
/// URL of the sync-intent queue.
pub const SYNC_QUEUE_URL: &str = "CRM_SYNC_SYNC_QUEUE_URL";
/// URL of the sync-intent dead-letter queue.
pub const SYNC_DLQ_URL: &str = "CRM_SYNC_SYNC_DLQ_URL";
/// URL of the import-chunk queue.
pub const CHUNK_QUEUE_URL: &str = "CRM_SYNC_CHUNK_QUEUE_URL";
/// URL of the import-chunk dead-letter queue.
pub const CHUNK_DLQ_URL: &str = "CRM_SYNC_CHUNK_DLQ_URL";
/// ARN (or name) of the Secrets Manager secret with the CRM credentials.
pub const CREDENTIALS_SECRET_ARN: &str = "CRM_SYNC_CREDENTIALS_SECRET_ARN";
/// The credentials JSON itself, for local runs without Secrets Manager.
pub const CREDENTIALS_JSON: &str = crm_sync_app::build::CREDENTIALS_ENV;
/// The sync settings file contents (YAML or JSON); empty means defaults.
pub const CONFIG: &str = "CRM_SYNC_CONFIG";
/// Salesforce API calls allowed per rolling 24 hours.
pub const SALESFORCE_API_CAP: &str = "CRM_SYNC_SALESFORCE_API_CAP";
/// Salesforce login host.
pub const SALESFORCE_LOGIN_URL: &str = "CRM_SYNC_SALESFORCE_LOGIN_URL";
/// The Salesforce org id outbound messages must come from (optional).
pub const SALESFORCE_ORG_ID: &str = "CRM_SYNC_SALESFORCE_ORG_ID";
/// HubSpot API base URL.
pub const HUBSPOT_BASE_URL: &str = "CRM_SYNC_HUBSPOT_BASE_URL";
/// Most records per import chunk.
pub const IMPORT_CHUNK_SIZE: &str = "CRM_SYNC_IMPORT_CHUNK_SIZE";

const DEFAULT_IMPORT_CHUNK_SIZE: u64 = 200_000;

/// A setting that is missing or does not parse.
#[derive(Debug, Error)]
pub enum SettingsError {
    /// A required variable is not set (or empty).
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    /// A variable is set to something that does not parse.
    #[error("environment variable {name} is not a valid {expected}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What it should have been.
        expected: &'static str,
        /// The parse error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Where the CRM credentials come from (defined by the App builder, which
/// reads them).
pub use crm_sync_app::build::CredentialsSource;

/// Everything a function reads from its environment at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaSettings {
    /// DynamoDB table holding links, cursors, jobs, errors and usage.
    pub state_table: String,
    /// DynamoDB table holding seen webhook event ids.
    pub seen_events_table: String,
    /// Sync-intent queue URL.
    pub sync_queue_url: String,
    /// Sync-intent dead-letter queue URL.
    pub sync_dlq_url: String,
    /// Import-chunk queue URL.
    pub chunk_queue_url: String,
    /// Import-chunk dead-letter queue URL.
    pub chunk_dlq_url: String,
    /// Where the CRM credentials are.
    pub credentials: CredentialsSource,
    /// The sync settings file contents; `None` means the defaults.
    pub config_text: Option<String>,
    /// Salesforce API calls allowed per rolling 24 hours.
    pub salesforce_api_cap: u64,
    /// Salesforce login host.
    pub salesforce_login_url: String,
    /// The org id outbound messages must come from; `None` accepts any.
    pub salesforce_org_id: Option<String>,
    /// HubSpot API base URL.
    pub hubspot_base_url: String,
    /// Most records per import chunk.
    pub import_chunk_size: u64,
}

impl LambdaSettings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    /// Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| get(name).ok_or(SettingsError::Missing(name));

        let credentials = match (get(CREDENTIALS_SECRET_ARN), get(CREDENTIALS_JSON)) {
            (Some(arn), _) => CredentialsSource::SecretsManager(arn),
            (None, Some(json)) => CredentialsSource::Inline(json),
            (None, None) => return Err(SettingsError::Missing(CREDENTIALS_SECRET_ARN)),
        };

        Ok(Self {
            state_table: required(STATE_TABLE)?,
            seen_events_table: required(SEEN_EVENTS_TABLE)?,
            sync_queue_url: required(SYNC_QUEUE_URL)?,
            sync_dlq_url: required(SYNC_DLQ_URL)?,
            chunk_queue_url: required(CHUNK_QUEUE_URL)?,
            chunk_dlq_url: required(CHUNK_DLQ_URL)?,
            credentials,
            config_text: get(CONFIG),
            salesforce_api_cap: parse_u64(&get, SALESFORCE_API_CAP, DEFAULT_SALESFORCE_API_CAP)?,
            salesforce_login_url: get(SALESFORCE_LOGIN_URL).unwrap_or_else(|| DEFAULT_SALESFORCE_LOGIN_URL.to_owned()),
            salesforce_org_id: get(SALESFORCE_ORG_ID),
            hubspot_base_url: get(HUBSPOT_BASE_URL).unwrap_or_else(|| DEFAULT_HUBSPOT_BASE_URL.to_owned()),
            import_chunk_size: parse_u64(&get, IMPORT_CHUNK_SIZE, DEFAULT_IMPORT_CHUNK_SIZE)?,
        })
    }
}

fn parse_u64(get: &impl Fn(&str) -> Option<String>, name: &'static str, default: u64) -> Result<u64, SettingsError> {
    match get(name) {
        None => Ok(default),
        Some(text) => text.trim().parse().map_err(|e| SettingsError::Invalid {
            name,
            expected: "whole number",
            source: Box::new(e),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |k| map.get(k).cloned()
    }

    const BASE: &[(&str, &str)] = &[
        (STATE_TABLE, "crm-sync-StateTable-1"),
        (SEEN_EVENTS_TABLE, "crm-sync-SeenEventsTable-1"),
        (SYNC_DLQ_URL, "https://sqs.us-east-1.amazonaws.com/1/sync-dlq"),
        (CHUNK_DLQ_URL, "https://sqs.us-east-1.amazonaws.com/1/chunks-dlq"),
        (SYNC_QUEUE_URL, "https://sqs.us-east-1.amazonaws.com/1/sync"),
        (CHUNK_QUEUE_URL, "https://sqs.us-east-1.amazonaws.com/1/chunks"),
        (CREDENTIALS_SECRET_ARN, "arn:aws:secretsmanager:us-east-1:1:secret:crm-sync/crm-credentials"),
    ];

    #[test]
    fn the_template_environment_gives_settings_with_defaults_filled_in() {
        let settings = LambdaSettings::from_lookup(env(BASE)).unwrap();
        assert_eq!(settings.state_table, "crm-sync-StateTable-1");
        assert_eq!(settings.salesforce_api_cap, 10_000);
        assert_eq!(settings.import_chunk_size, 200_000);
        assert_eq!(settings.config_text, None);
        assert_eq!(settings.salesforce_login_url, "https://login.salesforce.com");
        assert!(matches!(settings.credentials, CredentialsSource::SecretsManager(_)));
    }

    #[test]
    fn an_empty_config_parameter_means_the_default_config() {
        let mut pairs = BASE.to_vec();
        pairs.push((CONFIG, "  "));
        let settings = LambdaSettings::from_lookup(env(&pairs)).unwrap();
        assert_eq!(settings.config_text, None);
    }

    #[test]
    fn a_missing_queue_url_is_named_in_the_error() {
        let pairs: Vec<_> = BASE.iter().copied().filter(|(k, _)| *k != SYNC_QUEUE_URL).collect();
        let err = LambdaSettings::from_lookup(env(&pairs)).unwrap_err();
        assert!(err.to_string().contains(SYNC_QUEUE_URL), "{err}");
    }

    #[test]
    fn a_non_numeric_api_cap_is_rejected() {
        let mut pairs = BASE.to_vec();
        pairs.push((SALESFORCE_API_CAP, "lots"));
        let err = LambdaSettings::from_lookup(env(&pairs)).unwrap_err();
        assert!(matches!(err, SettingsError::Invalid { name: SALESFORCE_API_CAP, .. }));
    }

    #[test]
    fn inline_credentials_serve_when_no_secret_is_named_and_never_print() {
        let pairs: Vec<_> = BASE
            .iter()
            .copied()
            .filter(|(k, _)| *k != CREDENTIALS_SECRET_ARN)
            .chain([(CREDENTIALS_JSON, r#"{"hubspot_access_token":"pat-secret"}"#)])
            .collect();
        let settings = LambdaSettings::from_lookup(env(&pairs)).unwrap();
        assert!(matches!(settings.credentials, CredentialsSource::Inline(_)));
        assert!(!format!("{settings:?}").contains("pat-secret"));
    }

    #[test]
    fn no_credentials_at_all_is_an_error() {
        let pairs: Vec<_> = BASE.iter().copied().filter(|(k, _)| *k != CREDENTIALS_SECRET_ARN).collect();
        assert!(matches!(
            LambdaSettings::from_lookup(env(&pairs)),
            Err(SettingsError::Missing(CREDENTIALS_SECRET_ARN))
        ));
    }
}
