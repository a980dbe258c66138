//! The port contract suite, run against the embedded SQLite adapter with a
//! manual clock (no sleeping: queue time is the same manual clock).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use crm_sync_store::contract::{Delivery, Harness, epoch};
use crm_sync_store::{ManualClock, Queue, QueueSettings, SqliteStore, StateStore, StoreError};

struct Embedded {
    clock: Arc<ManualClock>,
    store: SqliteStore,
}

impl Embedded {
    fn new() -> Self {
        let clock = Arc::new(ManualClock::new(epoch()));
        let store = SqliteStore::open_in_memory(clock.clone()).unwrap_or_else(|e| panic!("open store: {e}"));
        Embedded { clock, store }
    }
}

#[async_trait]
impl Harness for Embedded {
    async fn store(&self) -> Result<Arc<dyn StateStore>, StoreError> {
        Ok(Arc::new(self.store.clone()))
    }

    async fn queue(&self, settings: QueueSettings) -> Result<Arc<dyn Queue>, StoreError> {
        Ok(Arc::new(self.store.queue(&uuid::Uuid::new_v4().to_string(), settings)))
    }

    fn advance_clock(&self, by: Duration) {
        self.clock.advance(by);
    }

    async fn let_queue_time_pass(&self, by: Duration) {
        self.clock.advance(by);
    }

    fn delivery(&self) -> Delivery {
        Delivery::ExactlyOnce
    }
}

crm_sync_store::contract_suite!(Embedded::new());
