//! What happens to a deleted record's linked counterpart (SPEC section 1: "a
//! deleted record's link is dropped, and what happens to its counterpart is
//! a setting (kept by default)").
//!
//! Owns the setting's values, their names in the file and the refusal of
//! any other name. One value per object pair, under the same keys as
//! `mappings:` (`contact`, `company`, `deal`), each optional. A deletion is
//! a record gone to its CRM's recycle bin; merges and Lead conversions are
//! moves, never deletions, whatever the setting says.

use crate::model::ObjectPair;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

/// What a deletion does to the record linked to the deleted one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletedRecords {
    /// The link is dropped and the counterpart stays (the default).
    #[default]
    KeepCounterpart,
    /// The link is dropped and the counterpart is deleted too (HubSpot:
    /// archived; Salesforce: moved to the Recycle Bin).
    DeleteCounterpart,
}

impl DeletedRecords {
    /// The values as the file writes them.
    pub const NAMES: &'static str = "keep_counterpart, delete_counterpart";

    /// A value by its name in the file.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "keep_counterpart" => Some(DeletedRecords::KeepCounterpart),
            "delete_counterpart" => Some(DeletedRecords::DeleteCounterpart),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for DeletedRecords {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        DeletedRecords::parse(&name).ok_or_else(|| {
            de::Error::custom(format!(
                "unknown value `{name}` for what happens to a deleted record's counterpart; fix: use one of {} \
                 (default: keep_counterpart)",
                DeletedRecords::NAMES
            ))
        })
    }
}

/// The `deleted_records:` section: one [`DeletedRecords`] per object pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeletedRecordsSettings {
    pub contact: DeletedRecords,
    pub company: DeletedRecords,
    pub deal: DeletedRecords,
}

impl DeletedRecordsSettings {
    /// The setting of one object pair.
    pub fn of(&self, pair: ObjectPair) -> DeletedRecords {
        match pair {
            ObjectPair::Contact => self.contact,
            ObjectPair::Company => self.company,
            ObjectPair::Deal => self.deal,
        }
    }

    /// Whether a deletion of a record of `pair` deletes its counterpart.
    pub fn deletes_counterpart(&self, pair: ObjectPair) -> bool {
        self.of(pair) == DeletedRecords::DeleteCounterpart
    }
}
