//! Shared start-up of the four Lambda functions: read the settings the SAM
//! template puts in the environment, fetch the CRM credentials once, install
//! JSON logging, and build the use cases' `App` once per cold start.
//!
//! Layout:
//! - [`app`]: builds the `App` (DynamoDB, SQS, CRM clients, config).
//! - [`settings`]: the environment variables and their parsing.
//! - [`credentials`]: the CRM credentials secret (Secrets Manager or env).
//! - [`telemetry`]: JSON `tracing` for CloudWatch.
//! - [`sqs`]: SQS event records <-> queue messages, partial batch responses.
//!
//! No sync logic lives here: the handlers call the use cases of
//! `crm_sync_app`, exactly as the local runtime does.

pub mod app;
pub mod credentials;
pub mod settings;
pub mod sqs;
pub mod telemetry;

pub use app::{BuildOptions, StartupError, build_app, build_app_from_env};
pub use credentials::{CredentialsError, CrmCredentials, Secret};
pub use settings::{CredentialsSource, LambdaSettings, SettingsError};
pub use telemetry::init_tracing;
