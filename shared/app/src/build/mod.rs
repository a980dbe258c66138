//! One place builds the [`App`](crate::App), for every runtime: the local
//! deployment and the demo ([`local_app`], [`embedded_app`]) and, with the
//! `aws` feature, the deployed functions (`aws_app`).
//!
//! What it owns:
//! - [`Credentials`]: the one shape of the CRM credentials and how they are
//!   read locally (environment or secrets file) or from Secrets Manager;
//! - [`crm_clients`]: the two CRM clients from endpoints and credentials;
//! - the store and queues each runtime uses (embedded SQLite, or DynamoDB
//!   and SQS).
//!
//! What it must not do: hold sync logic, or read the process environment
//! beyond the credentials variable. The CLI's flags and the functions'
//! environment variables are parsed by their own crates and arrive here as
//! plain values, so tests can build the same App against the CRM sandbox
//! and the AWS emulators.
//!
//! Why one builder: the CLI and the functions used to assemble the App
//! separately, with their own credential types, and drifted (one trimmed the
//! instance URL, the other did not). Both now share this code; they differ
//! only in the store they choose and in whether incomplete credentials stop
//! the start ([`Credentials::check_complete`]).

#[cfg(feature = "aws")]
mod aws;
mod credentials;
mod crms;
mod local;

#[cfg(feature = "aws")]
pub use aws::{
    AwsApp, CredentialsSource, DeployedConfig, DeployedConfigError, DynamoStore, PUSHED_SETTINGS_NAME, QueueUrls,
    StorageNames, StoredSettings, TableNames, aws_app, aws_ports, deployed_config, deployed_config_from_text,
    dynamo_store, load_credentials, operator_app,
};
pub use credentials::{CREDENTIALS_ENV, Credentials, CredentialsError, JsonError};
#[cfg(feature = "aws")]
pub use crm_sync_aws::AwsPorts;
pub use crms::{
    CrmEndpoints, Crms, DEFAULT_HUBSPOT_BASE_URL, DEFAULT_SALESFORCE_LOGIN_URL, SetupCrms, crm_clients, setup_clients,
};
pub use local::{
    EmbeddedParts, LocalApp, SALESFORCE_ORG_ID_ENV, embedded_app, local_app, local_import_queue, local_sync_queue,
    open_state_file, serving_app,
};

use crm_sync_crm::error::CrmError;
use crm_sync_store::StoreError;

/// The App could not be built; the message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A credential a deployment needs is empty.
    #[error("the credentials secret has no {0}; fill it in (docs/deploy.md)")]
    MissingCredential(&'static str),
    /// Credentials the CRMs called need are empty; every one is named.
    #[error(
        "the credentials lack {}; give them in CRM_SYNC_CREDENTIALS or the secrets file (JSON, docs/cli.md)",
        .0.join(", ")
    )]
    MissingCredentials(Vec<&'static str>),
    /// A CRM client could not be built from its configuration.
    #[error("the {system} client could not be built")]
    Client {
        /// Which CRM.
        system: &'static str,
        /// Why.
        #[source]
        source: CrmError,
    },
    /// The configured Salesforce org id is not one.
    #[error("{variable}: {reason}")]
    OrgId {
        /// The setting that holds it.
        variable: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The embedded state could not be opened.
    #[error("opening the embedded state failed")]
    Store(#[from] StoreError),
}
