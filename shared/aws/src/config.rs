//! AWS clients and the names of the tables and queues, read once from the
//! environment (the SAM template sets the variables; see `docs/storage.md`).
//!
//! Nothing here reads secrets: credentials come from the SDK's usual chain
//! (the Lambda's role in AWS, dummy ones for the emulators).

use std::sync::Arc;

use aws_config::BehaviorVersion;
use crm_sync_store::{Clock, Queue, StateStore};

use crate::dynamo::{DynamoStore, TableNames};
use crate::sqs::SqsQueue;

/// A required environment variable is missing.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name} is not set (see docs/storage.md)")]
pub struct MissingEnv {
    pub name: &'static str,
}

/// A required, non-empty environment variable.
fn env(name: &'static str) -> Result<String, MissingEnv> {
    std::env::var(name).ok().filter(|v| !v.is_empty()).ok_or(MissingEnv { name })
}

/// The service clients, built once per process.
#[derive(Clone, Debug)]
///
/// Build them once per process (a Lambda's cold start) and clone: the SDK
/// clients are handles onto one connection pool and credential cache.
pub struct AwsClients {
    /// For the state and seen-events tables.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// For the sync-intent and import-chunk queues.
    pub sqs: aws_sdk_sqs::Client,
}

impl AwsClients {
    /// Region, credentials and endpoints from the usual AWS sources; honours
    /// `AWS_ENDPOINT_URL_DYNAMODB` and `AWS_ENDPOINT_URL_SQS` (emulators).
    pub async fn from_env() -> Self {
        let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
        AwsClients { dynamodb: aws_sdk_dynamodb::Client::new(&config), sqs: aws_sdk_sqs::Client::new(&config) }
    }
}

/// URLs of one queue and its dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrls {
    /// The queue the workers receive from.
    pub url: String,
    /// Its dead-letter queue (the target of the queue's redrive policy).
    pub dead_letter_url: String,
}

/// Where the state and queues live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageNames {
    /// The state and seen-events tables.
    pub tables: TableNames,
    /// Sync intents, for the sync workers.
    pub sync_queue: QueueUrls,
    /// Import chunks, for the import workers.
    pub chunk_queue: QueueUrls,
}

impl StorageNames {
    /// Reads `CRM_SYNC_STATE_TABLE`, `CRM_SYNC_SEEN_EVENTS_TABLE`,
    /// `CRM_SYNC_SYNC_QUEUE_URL`, `CRM_SYNC_SYNC_DLQ_URL`,
    /// `CRM_SYNC_CHUNK_QUEUE_URL` and `CRM_SYNC_CHUNK_DLQ_URL`.
    pub fn from_env() -> Result<Self, MissingEnv> {
        Ok(StorageNames {
            tables: TableNames { state: env("CRM_SYNC_STATE_TABLE")?, seen_events: env("CRM_SYNC_SEEN_EVENTS_TABLE")? },
            sync_queue: QueueUrls {
                url: env("CRM_SYNC_SYNC_QUEUE_URL")?,
                dead_letter_url: env("CRM_SYNC_SYNC_DLQ_URL")?,
            },
            chunk_queue: QueueUrls {
                url: env("CRM_SYNC_CHUNK_QUEUE_URL")?,
                dead_letter_url: env("CRM_SYNC_CHUNK_DLQ_URL")?,
            },
        })
    }
}

/// The ports wired onto AWS, as the use cases take them: the same trait
/// objects the local runtime builds over SQLite, so the use cases cannot tell
/// the two apart.
#[derive(Clone)]
pub struct AwsPorts {
    /// Every state-store capability, on DynamoDB.
    pub store: Arc<dyn StateStore>,
    /// The sync-intent queue, on SQS.
    pub sync_queue: Arc<dyn Queue>,
    /// The import-chunk queue, on SQS.
    pub chunk_queue: Arc<dyn Queue>,
}

impl std::fmt::Debug for AwsPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsPorts")
            .field("sync_queue", &self.sync_queue.name())
            .field("chunk_queue", &self.chunk_queue.name())
            .finish_non_exhaustive()
    }
}

impl AwsPorts {
    /// Wires the store and both queues; no AWS call is made until the first
    /// port call. `clock` is the store's only source of time.
    pub fn new(clients: &AwsClients, names: &StorageNames, clock: Arc<dyn Clock>) -> Self {
        AwsPorts {
            store: Arc::new(DynamoStore::new(clients.dynamodb.clone(), names.tables.clone(), clock)),
            sync_queue: Arc::new(SqsQueue::new(
                clients.sqs.clone(),
                crm_sync_store::QueueName::SyncIntents.as_str(),
                &names.sync_queue.url,
                &names.sync_queue.dead_letter_url,
            )),
            chunk_queue: Arc::new(SqsQueue::new(
                clients.sqs.clone(),
                crm_sync_store::QueueName::ImportChunks.as_str(),
                &names.chunk_queue.url,
                &names.chunk_queue.dead_letter_url,
            )),
        }
    }
}
