//! Sweep cursors on DynamoDB: one item `CURSOR#<system>#<object>` (sort key
//! `CURSOR`) with `position` (RFC 3339 text), `updated_at` and `partial`.
//!
//! The first advance is a `PutItem` with `attribute_not_exists(pk)`; later
//! ones an `UpdateItem` with `position = :expected`, comparing the exact text.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, Utc};
use crm_sync_store::*;

use super::DynamoStore;
use super::item::*;

/// The stored form of a cursor position: RFC 3339 with as many fraction
/// digits as needed, so equal instants have equal text.
fn cursor_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[async_trait]
impl CursorStore for DynamoStore {
    async fn get_cursor(&self, system: System, object: &str) -> StoreResult<Option<SweepCursor>> {
        let item = self.get_item("get cursor", key(format!("CURSOR#{system}#{object}"), "CURSOR")).await?;
        item.map(|item| {
            let position = get_s(&item, "position")?;
            let position = DateTime::parse_from_rfc3339(&position)
                .map_err(|e| StoreError::corrupt(format!("cursor {system}/{object}"), e))?
                .with_timezone(&Utc);
            Ok(SweepCursor {
                system,
                object: object.to_owned(),
                position,
                updated_at: from_millis(get_n(&item, "updated_at")?),
                partial: matches!(item.get("partial"), Some(AttributeValue::Bool(true))),
            })
        })
        .transpose()
    }

    /// `PutItem` with `attribute_not_exists(pk)` for the first position,
    /// `UpdateItem` with `position = :from` after that. Either losing its
    /// condition means another sweep moved the cursor first.
    async fn advance_cursor(
        &self,
        system: System,
        object: &str,
        expected: Option<DateTime<Utc>>,
        to: DateTime<Utc>,
        partial: bool,
    ) -> StoreResult<()> {
        let now = self.clock.now();
        let pk = format!("CURSOR#{system}#{object}");
        let result = match expected {
            None => self
                .client
                .put_item()
                .table_name(&self.tables.state)
                .set_item(Some(HashMap::from([
                    ("pk".to_owned(), s(&pk)),
                    ("sk".to_owned(), s("CURSOR")),
                    ("position".to_owned(), s(cursor_text(to))),
                    ("updated_at".to_owned(), n(millis(now))),
                    ("partial".to_owned(), AttributeValue::Bool(partial)),
                ])))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await
                .map(|_| ())
                .map_err(|e| (is_condition_failed(&e), StoreError::backend(BACKEND, "advance cursor", e))),
            Some(from) => self
                .client
                .update_item()
                .table_name(&self.tables.state)
                .set_key(Some(key(&pk, "CURSOR")))
                .update_expression("SET #position = :to, updated_at = :now, #partial = :partial")
                .condition_expression("#position = :from")
                .expression_attribute_names("#position", "position")
                .expression_attribute_names("#partial", "partial")
                .expression_attribute_values(":to", s(cursor_text(to)))
                .expression_attribute_values(":from", s(cursor_text(from)))
                .expression_attribute_values(":now", n(millis(now)))
                .expression_attribute_values(":partial", AttributeValue::Bool(partial))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| (is_condition_failed(&e), StoreError::backend(BACKEND, "advance cursor", e))),
        };
        match result {
            Ok(()) => Ok(()),
            Err((true, _)) => Err(StoreError::condition(format!("cursor {system}/{object} moved"))),
            Err((false, e)) => Err(e),
        }
    }
}
