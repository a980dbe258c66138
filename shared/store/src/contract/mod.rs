//! The contract suite of the ports: one set of checks that every
//! [`StateStore`] and [`Queue`] adapter must pass, written once and run against
//! each adapter through [`contract_suite!`](crate::contract_suite).
//!
//! Only built with the `test-util` feature: adapter crates enable it in their
//! `[dev-dependencies]`, so the suite never ships in a product binary.
//!
//! An adapter's test file provides a [`Harness`] (fresh store, fresh queues,
//! a way to move time) and invokes the macro; each check becomes one
//! `#[tokio::test]`. The checks panic with a message on a broken promise.
//! They are grouped by capability, one file each, like the ports; a check
//! names the behaviour it pins down, so a failing test name reads as the
//! broken promise.
//!
//! Checks must hold on a remote backend too: they create their own state
//! (unique keys, fresh tables or queues from the harness), never assume an
//! order the port does not promise, and move time only through the harness.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};

use crate::error::StoreError;
use crate::ports::*;

mod claims;
mod cursors;
mod events;
mod health;
mod imports;
mod links;
mod queue;
mod usage;

pub use claims::*;
pub use cursors::*;
pub use events::*;
pub use health::*;
pub use imports::*;
pub use links::*;
pub use queue::*;
pub use usage::*;

/// What the suite needs from an adapter under test.
#[async_trait]
pub trait Harness: Send + Sync {
    /// A store with no state in it, reading time from the harness's clock.
    async fn store(&self) -> Result<Arc<dyn StateStore>, StoreError>;
    /// A queue (and dead-letter queue) with no messages in it.
    async fn queue(&self, settings: QueueSettings) -> Result<Arc<dyn Queue>, StoreError>;
    /// Moves the store's clock forward (claims, TTLs, leases, usage windows).
    fn advance_clock(&self, by: Duration);
    /// Lets `by` pass for the queue's visibility timeouts (a manual clock, or
    /// real time for a remote queue service).
    async fn let_queue_time_pass(&self, by: Duration);
}

/// A fixed instant the manual clocks of harnesses start from.
pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).single().unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Expands to one `#[tokio::test]` per contract check. `$harness` is an
/// expression (may use `.await`) building a fresh [`Harness`] for each test.
#[macro_export]
macro_rules! contract_suite {
    ($harness:expr) => {
        $crate::contract_suite!(@each $harness;
            a_created_link_is_found_by_either_id,
            a_second_link_for_either_id_fails_the_condition,
            a_link_update_needs_the_current_version,
            a_batch_of_link_writes_reports_each_write_on_its_own,
            a_link_delete_needs_the_current_version,
            links_are_listed_in_pages_per_pair,
            the_links_of_a_batch_are_read_by_either_id_in_one_call,
            a_batch_read_sees_every_write_that_returned_before_it,
            a_claim_is_exclusive_until_its_ttl_ends,
            a_released_claim_can_be_taken_by_another_owner,
            a_cursor_advances_only_from_the_expected_position,
            an_import_job_completes_when_its_last_chunk_is_done,
            a_chunk_with_an_ended_lease_is_taken_over_and_the_old_owner_is_refused,
            a_duplicate_import_job_id_fails_the_condition,
            a_sync_error_counts_attempts_and_keeps_its_first_seen_time,
            sync_errors_are_filtered_by_category_and_resolved,
            api_usage_sums_only_the_last_24_hours_per_system,
            a_webhook_event_id_is_new_once_until_its_ttl_ends,
            a_received_message_is_hidden_until_deleted,
            an_unacknowledged_message_comes_back_with_a_higher_receive_count,
            a_visibility_change_to_zero_makes_a_message_receivable_again,
            a_message_received_too_often_moves_to_dead_letters_and_can_be_replayed,
            a_large_batch_is_sent_and_received_whole,
            a_delayed_message_is_not_received_before_its_delay,
            concurrent_creates_of_one_link_write_it_once,
            concurrent_claims_of_one_key_grant_it_once,
            concurrent_receivers_get_each_message_once
        );
    };
    (@each $harness:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() -> Result<(), $crate::StoreError> {
                let harness = $harness;
                $crate::contract::$name(&harness).await
            }
        )*
    };
}

type R = Result<(), StoreError>;

fn link(pair: ObjectPair, sf: &str, hs: &str) -> Link {
    let mut fingerprints = BTreeMap::new();
    fingerprints.insert("email".to_owned(), format!("fp-{sf}"));
    Link {
        pair,
        salesforce_object: "Contact".to_owned(),
        salesforce_id: sf.to_owned(),
        hubspot_id: hs.to_owned(),
        fingerprints,
        version: 0,
        updated_at: epoch(),
    }
}

fn expect_condition_failed<T: std::fmt::Debug>(what: &str, r: Result<T, StoreError>) {
    match r {
        Err(StoreError::ConditionFailed { .. }) => {}
        other => panic!("{what}: expected ConditionFailed, got {other:?}"),
    }
}
