//! Where an operator command works: the local deployment's state file (the
//! default) or a deployed stack on AWS (`--backend aws --stack NAME`).
//!
//! One place opens either, so that every operator command (and any other
//! view of the same state) goes through the same use cases and the same
//! adapters as the runtime it inspects:
//! - [`open`]: the settings, the state store and both queues ([`Operator`]),
//!   for commands that need no CRM (health, usage, import status, dead
//!   letters);
//! - [`open_app`]: the whole App over them, for commands that run use cases
//!   (import, resync), with the CRM credentials when they call a CRM, and
//!   locally the runtime that works what they queue.
//!
//! On AWS the names of the tables and queues, the credentials secret and
//! the stack's parameters come from CloudFormation (`DescribeStacks`, with
//! the user's own AWS credentials from the SDK's default chain); each name
//! can also be given by flag or environment, which wins over the stack and
//! makes the stack optional. The settings are the deployment's: the version
//! pushed to the state table (`config push`), else the template's
//! `SyncConfig` parameter, else the defaults; `--config` is not read there.

use crate::args::{CrmArgs, StateArgs};
use anyhow::Context;
use aws_sdk_cloudformation::types::Stack;
use clap::{Args, ValueEnum};
use crm_sync_app::App;
use crm_sync_app::build::{
    AwsApp, Credentials, CredentialsSource, CrmEndpoints, DEFAULT_HUBSPOT_BASE_URL, DEFAULT_SALESFORCE_LOGIN_URL,
    DeployedConfig, DynamoStore, QueueUrls, StorageNames, TableNames, aws_ports, deployed_config, dynamo_store,
    load_credentials, local_sync_queue, operator_app,
};
use crm_sync_app::domain::SyncConfig;
use crm_sync_app::local::{LocalOptions, LocalRuntime};
use crm_sync_app::store::{Queue, StateStore};
use std::collections::HashMap;
use std::sync::Arc;

/// Which deployment a command works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// The local deployment: the state file of `crm-sync serve`.
    Local,
    /// A deployed stack: its DynamoDB tables and SQS queues.
    Aws,
}

/// `--backend`, `--stack` and the names of a deployment's parts.
#[derive(Debug, Clone, Args)]
pub struct BackendArgs {
    /// The deployment to work on: `local` (the state file) or `aws` (a
    /// deployed stack, with your AWS credentials).
    #[arg(long, value_enum, default_value_t = BackendKind::Local, env = "CRM_SYNC_BACKEND")]
    pub backend: BackendKind,

    /// With `--backend aws`: the CloudFormation stack; its outputs name the
    /// tables, queues and credentials secret.
    #[arg(long, env = "CRM_SYNC_STACK", help_heading = "AWS backend")]
    pub stack: Option<String>,

    #[command(flatten)]
    pub names: AwsNames,
}

/// Each part of a deployment by name, instead of (or over) the stack's
/// outputs. The variables are the ones the functions read.
#[derive(Debug, Clone, Default, Args)]
pub struct AwsNames {
    /// The state table (stack output `StateTableName`).
    #[arg(long, env = "CRM_SYNC_STATE_TABLE", help_heading = "AWS backend")]
    pub state_table: Option<String>,
    /// The seen-events table (stack output `SeenEventsTableName`).
    #[arg(long, env = "CRM_SYNC_SEEN_EVENTS_TABLE", help_heading = "AWS backend")]
    pub seen_events_table: Option<String>,
    /// The sync queue's URL (stack output `SyncQueueUrl`).
    #[arg(long, env = "CRM_SYNC_SYNC_QUEUE_URL", help_heading = "AWS backend")]
    pub sync_queue_url: Option<String>,
    /// The sync dead-letter queue's URL (stack output `SyncDeadLetterQueueUrl`).
    #[arg(long, env = "CRM_SYNC_SYNC_DLQ_URL", help_heading = "AWS backend")]
    pub sync_dlq_url: Option<String>,
    /// The import-chunk queue's URL (stack output `ChunkQueueUrl`).
    #[arg(long, env = "CRM_SYNC_CHUNK_QUEUE_URL", help_heading = "AWS backend")]
    pub chunk_queue_url: Option<String>,
    /// The import-chunk dead-letter queue's URL (stack output `ChunkDeadLetterQueueUrl`).
    #[arg(long, env = "CRM_SYNC_CHUNK_DLQ_URL", help_heading = "AWS backend")]
    pub chunk_dlq_url: Option<String>,
    /// The Secrets Manager secret with the CRM credentials (stack output
    /// `CrmCredentialsSecretArn`); read only by commands that call a CRM,
    /// and only when no local credentials are given.
    #[arg(long, env = "CRM_SYNC_CREDENTIALS_SECRET_ARN", help_heading = "AWS backend")]
    pub credentials_secret: Option<String>,
}

/// A deployed stack's parts, resolved from the flags and the stack.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The stack, when one was named.
    pub stack: Option<String>,
    /// The tables and queues.
    pub storage: StorageNames,
    /// The credentials secret, when known.
    pub credentials_secret: Option<String>,
    /// The stack's parameters (`SyncConfig`, `SalesforceApiCap`,
    /// `SalesforceLoginUrl`, ...); empty without a stack.
    pub parameters: HashMap<String, String>,
    /// The AWS configuration (region, credentials, endpoints).
    pub aws: aws_config::SdkConfig,
}

impl Deployment {
    /// A stack parameter, when set and not empty.
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters.get(name).map(String::as_str).filter(|v| !v.trim().is_empty())
    }

    /// The stack's `SalesforceApiCap`, which the functions apply over the
    /// settings file's cap.
    pub fn api_cap(&self) -> anyhow::Result<Option<u64>> {
        self.parameter("SalesforceApiCap")
            .map(|v| v.trim().parse::<u64>().with_context(|| format!("the stack's SalesforceApiCap `{v}`")))
            .transpose()
    }

    /// The state table's store, for the settings.
    pub fn settings_store(&self) -> DynamoStore {
        dynamo_store(&self.aws, &self.storage.tables)
    }

    /// The settings the functions run with (as they load them).
    pub async fn config(&self) -> anyhow::Result<DeployedConfig> {
        deployed_config(&self.settings_store(), self.parameter("SyncConfig"), self.api_cap()?)
            .await
            .map_err(|error| anyhow::anyhow!("{}", crate::commands::describe_chain(&error)))
    }

    /// How to name this deployment in what is printed (`--stack NAME`).
    pub fn flags(&self) -> String {
        match &self.stack {
            Some(stack) => format!("--backend aws --stack {stack}"),
            None => "--backend aws".to_owned(),
        }
    }
}

/// Reads the stack (when named) and resolves every name: a flag or
/// variable wins, else the stack's output; a name found nowhere is an error
/// that says how to give it.
pub async fn resolve(args: &BackendArgs) -> anyhow::Result<Deployment> {
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let (outputs, parameters) = match args.stack.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(name) => {
            let stack = describe_stack(&aws, name).await?;
            (outputs_of(&stack), parameters_of(&stack))
        }
        None => (HashMap::new(), HashMap::new()),
    };
    let pick = |given: &Option<String>, output: &str, flag: &str| -> anyhow::Result<String> {
        if let Some(value) = given.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            return Ok(value.to_owned());
        }
        match outputs.get(output) {
            Some(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
            _ if args.stack.is_some() => {
                anyhow::bail!("the stack has no output `{output}`; give {flag} (is it a crm-sync stack?)")
            }
            _ => anyhow::bail!("with --backend aws, give --stack NAME (or {flag})"),
        }
    };
    let n = &args.names;
    let storage = StorageNames {
        tables: TableNames {
            state: pick(&n.state_table, "StateTableName", "--state-table")?,
            seen_events: pick(&n.seen_events_table, "SeenEventsTableName", "--seen-events-table")?,
        },
        sync_queue: QueueUrls {
            url: pick(&n.sync_queue_url, "SyncQueueUrl", "--sync-queue-url")?,
            dead_letter_url: pick(&n.sync_dlq_url, "SyncDeadLetterQueueUrl", "--sync-dlq-url")?,
        },
        chunk_queue: QueueUrls {
            url: pick(&n.chunk_queue_url, "ChunkQueueUrl", "--chunk-queue-url")?,
            dead_letter_url: pick(&n.chunk_dlq_url, "ChunkDeadLetterQueueUrl", "--chunk-dlq-url")?,
        },
    };
    let credentials_secret = pick(&n.credentials_secret, "CrmCredentialsSecretArn", "--credentials-secret").ok();
    tracing::debug!(state_table = %storage.tables.state, sync_queue = %storage.sync_queue.url, "DeploymentResolved");
    Ok(Deployment { stack: args.stack.clone(), storage, credentials_secret, parameters, aws })
}

async fn describe_stack(aws: &aws_config::SdkConfig, name: &str) -> anyhow::Result<Stack> {
    let client = aws_sdk_cloudformation::Client::new(aws);
    let out = client
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", crate::commands::describe_chain(&e)))
        .with_context(|| {
            format!("reading the stack `{name}` (CloudFormation DescribeStacks, with your AWS credentials)")
        })?;
    out.stacks.unwrap_or_default().into_iter().next().with_context(|| format!("there is no stack `{name}`"))
}

fn outputs_of(stack: &Stack) -> HashMap<String, String> {
    stack.outputs().iter().filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned()))).collect()
}

fn parameters_of(stack: &Stack) -> HashMap<String, String> {
    stack
        .parameters()
        .iter()
        .filter_map(|p| Some((p.parameter_key()?.to_owned(), p.parameter_value().unwrap_or_default().to_owned())))
        .collect()
}

/// A deployment opened for the commands that need no CRM: its settings,
/// its state store and both queues, through the adapters its runtime uses.
pub struct Operator {
    /// The settings it runs with.
    pub config: SyncConfig,
    /// Links, jobs, sync health, API usage.
    pub store: Arc<dyn StateStore>,
    /// The sync-intent queue (and its dead letters).
    pub sync_queue: Arc<dyn Queue>,
    /// The deployed stack; `None` for the local state file.
    pub deployment: Option<Deployment>,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator").field("deployment", &self.deployment).finish_non_exhaustive()
    }
}

/// Opens the deployment `backend` names: the state file of `state` (and
/// its settings file), or the deployed stack.
pub async fn open(state: &StateArgs, backend: &BackendArgs) -> anyhow::Result<Operator> {
    match backend.backend {
        BackendKind::Local => {
            let local = crate::commands::state::Local::open(state)?;
            let sync_queue: Arc<dyn Queue> = Arc::new(local_sync_queue(&local.store));
            Ok(Operator { config: local.config, store: Arc::new(local.store), sync_queue, deployment: None })
        }
        BackendKind::Aws => {
            let deployment = resolve(backend).await?;
            // Reading the state must not depend on the settings: when they
            // do not load, say so and go on with the defaults (and the
            // stack's cap).
            let config = match deployment.config().await {
                Ok(deployed) => deployed.config,
                Err(error) => {
                    eprintln!("warning: {error:#}; the defaults stand in for them here");
                    let mut config = SyncConfig::default();
                    if let Some(cap) = deployment.api_cap()?.and_then(std::num::NonZeroU64::new) {
                        config.salesforce_api_cap_per_24h = cap;
                    }
                    config
                }
            };
            let ports = aws_ports(&deployment.aws, &deployment.storage);
            Ok(Operator { config, store: ports.store, sync_queue: ports.sync_queue, deployment: Some(deployment) })
        }
    }
}

/// Whether the command calls the CRMs (and so needs their credentials).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrmUse {
    /// Reads or writes the CRMs (import review, start, resume).
    Calls,
    /// Only queues work for the deployment (resync on AWS).
    QueuesOnly,
}

/// An App opened for an operator command, on either deployment.
pub struct OperatorApp {
    /// The use cases' App.
    pub app: App,
    /// The local runtime that works what the App queues; `None` on AWS,
    /// where the deployed functions do.
    pub runtime: Option<LocalRuntime>,
    /// The deployed stack; `None` for the local state file.
    pub deployment: Option<Deployment>,
}

impl std::fmt::Debug for OperatorApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorApp").field("deployment", &self.deployment).finish_non_exhaustive()
    }
}

/// The App `backend` names, for the commands that run use cases (import,
/// resync): locally over the state file with a [`LocalRuntime`] (the CRM
/// credentials are always checked there, as the runtime syncs), on AWS
/// through [`open_aws_app`].
pub async fn open_app(
    state: &StateArgs,
    crm: &CrmArgs,
    backend: &BackendArgs,
    crms: CrmUse,
) -> anyhow::Result<OperatorApp> {
    match backend.backend {
        BackendKind::Local => {
            let config = crate::commands::state::load_config(&state.config)?;
            crate::commands::state::ensure_folder(&state.state)?;
            let connected = crate::connect::connect(
                config,
                state.state.clone(),
                crm,
                state.secrets_file.as_deref(),
                LocalOptions::default(),
                crate::connect::Role::Client,
            )
            .await?;
            Ok(OperatorApp { app: connected.app, runtime: Some(connected.runtime), deployment: None })
        }
        BackendKind::Aws => {
            let (app, deployment) = open_aws_app(state, crm, backend, crms).await?;
            Ok(OperatorApp { app, runtime: None, deployment: Some(deployment) })
        }
    }
}

/// The App of a deployed stack, for the use cases an operator runs on it.
/// The CRM endpoints: a flag or variable, else the stack's parameter, else
/// the public default. The CRM credentials, when `crms` calls them: the
/// local ones when given (`CRM_SYNC_CREDENTIALS` or `--secrets-file`, as
/// for the local deployment), else the stack's Secrets Manager secret.
pub async fn open_aws_app(
    state: &StateArgs,
    crm: &CrmArgs,
    backend: &BackendArgs,
    crms: CrmUse,
) -> anyhow::Result<(App, Deployment)> {
    let deployment = resolve(backend).await?;
    let config = deployment.config().await?.config;
    let endpoints = CrmEndpoints {
        salesforce_login_url: crm
            .salesforce_url
            .clone()
            .or_else(|| deployment.parameter("SalesforceLoginUrl").map(str::to_owned))
            .unwrap_or_else(|| DEFAULT_SALESFORCE_LOGIN_URL.to_owned()),
        hubspot_base_url: crm
            .hubspot_url
            .clone()
            .or_else(|| deployment.parameter("HubSpotApiBaseUrl").map(str::to_owned))
            .unwrap_or_else(|| DEFAULT_HUBSPOT_BASE_URL.to_owned()),
        extra_root_cert_pem: None,
    };
    let credentials = match crms {
        CrmUse::QueuesOnly => Credentials::default(),
        CrmUse::Calls => {
            let credentials = crm_credentials(state, &deployment).await?;
            credentials.check_for(&endpoints, false)?;
            credentials
        }
    };
    let target = AwsApp {
        config,
        storage: deployment.storage.clone(),
        endpoints,
        salesforce_org_id: None,
        clock: None,
        settings: crm_sync_app::AppSettings::default(),
    };
    let app = operator_app(target, &credentials, &deployment.aws).context("building the App over the stack")?;
    Ok((app, deployment))
}

/// The local credentials when given, else the stack's secret.
async fn crm_credentials(state: &StateArgs, deployment: &Deployment) -> anyhow::Result<Credentials> {
    let local_given = std::env::var(crm_sync_app::build::CREDENTIALS_ENV).is_ok_and(|v| !v.trim().is_empty())
        || state.secrets_file.is_some();
    if local_given {
        return Ok(Credentials::load_local(state.secrets_file.as_deref())?);
    }
    let Some(secret) = deployment.credentials_secret.clone() else {
        anyhow::bail!(
            "no CRM credentials: give --stack (its secret is read), --credentials-secret, \
             CRM_SYNC_CREDENTIALS or --secrets-file"
        );
    };
    load_credentials(&CredentialsSource::SecretsManager(secret), &deployment.aws)
        .await
        .map_err(|e| anyhow::anyhow!("{}", crate::commands::describe_chain(&e)))
        .context("reading the CRM credentials from the stack's secret")
}
