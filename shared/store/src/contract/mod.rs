//! The contract suite of the ports: one set of checks that every
//! [`StateStore`](crate::StateStore) and [`Queue`](crate::Queue) adapter must
//! pass, written once and run against each adapter through
//! [`contract_suite!`](crate::contract_suite).
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

mod claims;
mod cursors;
mod events;
mod harness;
mod health;
mod imports;
mod links;
mod queue;
mod usage;

pub use claims::*;
pub use cursors::*;
pub use events::*;
pub use harness::{Delivery, Harness, epoch};
pub use health::*;
pub use imports::*;
pub use links::*;
pub use queue::*;
pub use usage::*;

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
            a_creation_note_is_answered_until_deleted_or_too_old,
            a_claim_is_exclusive_until_its_ttl_ends,
            a_released_claim_can_be_taken_by_another_owner,
            a_cursor_advances_only_from_the_expected_position,
            an_import_job_completes_when_its_last_chunk_is_done,
            a_chunk_with_an_ended_lease_is_taken_over_and_the_old_owner_is_refused,
            a_duplicate_import_job_id_fails_the_condition,
            a_failed_chunk_fails_its_job_with_the_reason_and_a_resume_takes_it_up_again,
            a_released_chunk_is_taken_over_at_once_after_its_checkpoint,
            a_sync_error_counts_attempts_and_keeps_its_first_seen_time,
            sync_errors_are_filtered_by_category_and_resolved,
            api_usage_sums_only_the_last_24_hours_per_system,
            api_usage_buckets_are_the_calls_of_the_rolling_day_in_time_order,
            a_reservation_grants_only_what_the_cap_leaves,
            calls_given_back_leave_the_count_and_free_the_cap,
            a_webhook_event_id_is_new_once_until_its_ttl_ends,
            a_received_message_is_hidden_until_deleted,
            an_unacknowledged_message_comes_back_with_a_higher_receive_count,
            a_visibility_change_to_zero_makes_a_message_receivable_again,
            a_message_received_too_often_moves_to_dead_letters_and_can_be_replayed,
            dead_letters_replayed_by_id_move_alone,
            a_large_batch_is_sent_and_received_whole,
            a_delayed_message_is_not_received_before_its_delay,
            concurrent_creates_of_one_link_write_it_once,
            concurrent_claims_of_one_key_grant_it_once,
            concurrent_reservations_never_pass_the_cap,
            concurrent_receivers_get_every_message
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
