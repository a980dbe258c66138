//! The port contract suite, run against DynamoDB Local and the SQS emulator
//! (moto). Each test creates its own uniquely named tables and queues.
//!
//! The endpoints come from `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL_SQS`;
//! `./scripts/test.sh` starts the emulators and sets them.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use crm_sync_aws::provision::{create_queue_pair, create_tables};
use crm_sync_aws::{AwsClients, DynamoStore, SqsQueue, TableNames};
use crm_sync_store::contract::{Harness, epoch};
use crm_sync_store::{ManualClock, Queue, QueueSettings, StateStore, StoreError};

struct Emulated {
    clients: AwsClients,
    clock: Arc<ManualClock>,
}

fn require_emulators() {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        for var in ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"] {
            if std::env::var(var).map(|v| v.is_empty()).unwrap_or(true) {
                panic!(
                    "{var} is not set: these tests need DynamoDB Local and the SQS emulator. \
                     Run ./scripts/test.sh, or `source scripts/emulators.sh && emulators_start` \
                     and then cargo test -p crm-sync-aws"
                );
            }
        }
    });
}

impl Emulated {
    async fn new() -> Self {
        require_emulators();
        // Start at the real time, so TTL attributes written by the tests lie in
        // the future and an emulator that honours TTL never deletes mid-test.
        let now = chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp(), 0).unwrap_or_else(epoch);
        Emulated { clients: AwsClients::from_env().await, clock: Arc::new(ManualClock::new(now)) }
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

#[async_trait]
impl Harness for Emulated {
    async fn store(&self) -> Result<Arc<dyn StateStore>, StoreError> {
        let tables = TableNames { state: unique("state"), seen_events: unique("seen") };
        create_tables(&self.clients.dynamodb, &tables).await?;
        Ok(Arc::new(DynamoStore::new(self.clients.dynamodb.clone(), tables, self.clock.clone())))
    }

    async fn queue(&self, settings: QueueSettings) -> Result<Arc<dyn Queue>, StoreError> {
        let name = unique("sync");
        let urls = create_queue_pair(&self.clients.sqs, &name, settings.max_receive_count, 30).await?;
        Ok(Arc::new(SqsQueue::new(self.clients.sqs.clone(), name, urls.url, urls.dead_letter_url)))
    }

    fn advance_clock(&self, by: Duration) {
        self.clock.advance(by);
    }

    async fn let_queue_time_pass(&self, by: Duration) {
        // SQS keeps its own time: visibility timeouts and delays need it to pass.
        tokio::time::sleep(by).await;
    }
}

crm_sync_store::contract_suite!(Emulated::new().await);
