//! DynamoDB and SQS adapters of the crm-sync store and queue ports.
//!
//! Layout:
//! - [`dynamo`]: [`DynamoStore`], every state-store capability on DynamoDB,
//!   one file per capability (`dynamo/links.rs`, `dynamo/claims.rs`, ...).
//! - [`sqs`]: [`SqsQueue`], a queue and its dead-letter queue on SQS.
//! - [`config`]: [`AwsClients::from_env`], table/queue names from the
//!   environment, and [`AwsPorts`] wiring both for the use cases.
//! - [`provision`]: creates the tables and queues (tests, operators).
//! - [`lambda`]: SQS event records as the port's `ReceivedMessage`.
//!
//! What this crate must not do: decide anything about the sync. It maps the
//! ports of `crm-sync-store` onto AWS calls with the same semantics as the
//! embedded adapter (both pass the one contract suite, run here against
//! DynamoDB Local and an SQS emulator), and nothing else. Item layouts and
//! names are documented in `docs/storage.md`.
//!
//! Testing: `tests/contract_aws.rs` runs the contract suite (feature
//! `test-util` of `crm-sync-store`, enabled in this crate's dev-dependencies)
//! with fresh, uniquely named tables and queues per test. It needs the
//! emulators: `source scripts/emulators.sh && emulators_start` exports their
//! endpoints, then `cargo test -p crm-sync-aws`; `./scripts/test.sh` does both.
//! Queue time is real time there (SQS keeps its own clock), store time a
//! manual clock.

pub mod config;
pub mod dynamo;
pub mod lambda;
pub mod provision;
pub mod sqs;

pub use config::{AwsClients, AwsPorts, MissingEnv, QueueUrls, StorageNames};
pub use dynamo::{DynamoStore, StoredSettings, TableNames};
pub use sqs::SqsQueue;
