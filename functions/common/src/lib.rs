//! Shared start-up of the four Lambda functions: read the settings the SAM
//! template puts in the environment, fetch the CRM credentials once, install
//! JSON logging, and build the use cases' `App` once per instance, at its
//! first event (nothing goes over the network during the cold start).
//!
//! Layout:
//! - [`app`]: the settings and config handed to the App builder of
//!   `crm_sync_app::build` (DynamoDB, SQS, Secrets Manager, CRM clients).
//! - [`settings`]: the environment variables and their parsing.
//! - [`telemetry`]: JSON `tracing` for CloudWatch.
//! - [`sqs`]: SQS event records <-> queue messages, partial batch responses.
//!
//! No sync logic lives here: the handlers call the use cases of
//! `crm_sync_app`, exactly as the local runtime does.

pub mod app;
pub mod settings;
pub mod sqs;
pub mod telemetry;

pub use app::{
    BuildOptions, FunctionApp, LiveApp, SETTINGS_CHECK_EVERY, StartupError, build_app, build_app_from_env,
    build_live_app,
};
pub use crm_sync_app::Secret;
pub use crm_sync_app::build::{Credentials, CredentialsError};
pub use settings::{CredentialsSource, LambdaSettings, SettingsError};
pub use telemetry::init_tracing;
