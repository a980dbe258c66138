//! The deployment's sync settings file, kept in the state table and
//! versioned, so that a settings change needs no redeploy
//! (`crm-sync config push|pull`), and the functions pick it up.
//!
//! Layout (one partition, `pk = SETTINGS`):
//! - `sk = CURRENT`: `version` (a number, 1 for the first push), `text` (the
//!   file as pushed), `pushed_at` (ms);
//! - `sk = V#<version, zero-padded>`: the same attributes, one item per push,
//!   never changed: the history `config pull --version N` reads back.
//!
//! A push writes both items in one transaction, on the condition that the
//! current version is still the one the pusher read: two pushes at once
//! cannot both win, and the loser is told to pull again. Reading the version
//! alone is one small consistent `GetItem` (the functions' cheap check).
//!
//! This is not a port of `crm-sync-store`: the local deployment reads its
//! settings from the file it is given, so only the deployed store has them.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use crm_sync_store::{StoreError, StoreResult};

use super::DynamoStore;
use super::item::{Item, build_err, from_millis, get_n, get_s, key, millis, n, padded, s, sdk_err};

/// Partition of the settings items.
const PK: &str = "SETTINGS";
/// Sort key of the current settings.
const CURRENT: &str = "CURRENT";

/// The largest settings file a push accepts (a DynamoDB item holds at most
/// 400 KB; the history copy is the same size).
pub const MAX_SETTINGS_BYTES: usize = 300 * 1024;

/// One version of the settings file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSettings {
    /// 1 for the first push, one more for each push after it.
    pub version: u64,
    /// The file as pushed.
    pub text: String,
    /// When it was pushed.
    pub pushed_at: DateTime<Utc>,
}

fn history_key(version: u64) -> String {
    format!("V#{}", padded(i64::try_from(version).unwrap_or(i64::MAX)))
}

fn read(item: &Item) -> StoreResult<StoredSettings> {
    Ok(StoredSettings {
        version: u64::try_from(get_n(item, "version")?).unwrap_or_default(),
        text: get_s(item, "text")?,
        pushed_at: from_millis(get_n(item, "pushed_at")?),
    })
}

impl DynamoStore {
    /// The version of the current settings; `None` before the first push.
    /// One small consistent read: the functions' check for a change.
    pub async fn settings_version(&self) -> StoreResult<Option<u64>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.state)
            .set_key(Some(key(PK, CURRENT)))
            .projection_expression("version")
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err("get settings version"))?;
        match out.item {
            Some(item) => Ok(Some(u64::try_from(get_n(&item, "version")?).unwrap_or_default())),
            None => Ok(None),
        }
    }

    /// The current settings; `None` before the first push.
    pub async fn current_settings(&self) -> StoreResult<Option<StoredSettings>> {
        self.get_item("get settings", key(PK, CURRENT)).await?.as_ref().map(read).transpose()
    }

    /// One version of the settings, as it was pushed.
    pub async fn settings_at(&self, version: u64) -> StoreResult<Option<StoredSettings>> {
        self.get_item("get settings version", key(PK, history_key(version))).await?.as_ref().map(read).transpose()
    }

    /// Every pushed version, newest first, without its text.
    pub async fn settings_history(&self) -> StoreResult<Vec<(u64, DateTime<Utc>)>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.tables.state)
                .key_condition_expression("pk = :pk AND begins_with(sk, :v)")
                .expression_attribute_values(":pk", s(PK))
                .expression_attribute_values(":v", s("V#"))
                .projection_expression("version, pushed_at")
                .scan_index_forward(false)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_err("list settings versions"))?;
            for item in page.items() {
                let version = u64::try_from(get_n(item, "version")?).unwrap_or_default();
                out.push((version, from_millis(get_n(item, "pushed_at")?)));
            }
            match page.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => break,
            }
        }
        Ok(out)
    }

    /// Makes `text` the current settings, as the version after `expected`
    /// (`None`: there must be no settings yet). Returns the new version.
    /// [`StoreError::ConditionFailed`] when another push came first.
    pub async fn push_settings(&self, text: &str, expected: Option<u64>) -> StoreResult<u64> {
        if text.len() > MAX_SETTINGS_BYTES {
            return Err(StoreError::Invalid(format!(
                "the settings file has {} bytes; at most {MAX_SETTINGS_BYTES} are kept",
                text.len()
            )));
        }
        let version = expected.unwrap_or(0) + 1;
        let now = millis(self.clock.now());
        let attributes = |sk: String| -> Item {
            let mut item = key(PK, sk);
            item.insert("version".into(), n(version));
            item.insert("text".into(), s(text));
            item.insert("pushed_at".into(), n(now));
            item
        };
        let current = match expected {
            None => Put::builder()
                .table_name(&self.tables.state)
                .set_item(Some(attributes(CURRENT.into())))
                .condition_expression("attribute_not_exists(pk)"),
            Some(seen) => Put::builder()
                .table_name(&self.tables.state)
                .set_item(Some(attributes(CURRENT.into())))
                .condition_expression("version = :seen")
                .expression_attribute_values(":seen", AttributeValue::N(seen.to_string())),
        }
        .build()
        .map_err(build_err("push settings"))?;
        let history = Put::builder()
            .table_name(&self.tables.state)
            .set_item(Some(attributes(history_key(version))))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_err("push settings"))?;
        self.transact(
            "push settings",
            vec![TransactWriteItem::builder().put(current).build(), TransactWriteItem::builder().put(history).build()],
            format!("settings version {} is no longer the current one", expected.unwrap_or(0)),
        )
        .await?;
        Ok(version)
    }
}
