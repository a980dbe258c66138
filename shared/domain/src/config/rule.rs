//! The four sync rules of SPEC section 3, by name.
//!
//! Owns the rule vocabulary and its YAML spelling only. What a rule does to a
//! pair of values is decided in [`crate::rules`]; which rule a mapping has is
//! decided by the config file or the defaults ([`super::defaults`]). This
//! module depends on nothing else in the crate, so every other config module
//! may use it.

use serde::{Deserialize, Serialize};

/// The four sync rules of SPEC section 3.
///
/// The YAML names are the `snake_case` forms listed in [`SyncRule::NAMES`];
/// [`SyncRule::parse`] and [`SyncRule::name`] are exact inverses of each
/// other, so an error message can always quote a rule the way a file spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncRule {
    /// HubSpot -> Salesforce only while the Salesforce field is blank;
    /// Salesforce -> HubSpot whenever Salesforce has a value. The default.
    PreferSalesforceUnlessBlank,
    /// Salesforce -> HubSpot always, never back.
    AlwaysUseSalesforce,
    /// The most recent change wins, in both directions.
    TwoWay,
    /// Never written either way.
    DontSync,
}

impl SyncRule {
    /// Every rule name, comma-separated, for "fix: use one of ..." messages.
    pub const NAMES: &'static str = "prefer_salesforce_unless_blank, always_use_salesforce, two_way, dont_sync";

    /// The rule a YAML name stands for; `None` for anything not in
    /// [`Self::NAMES`] (no trimming, no case folding: callers trim first).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "prefer_salesforce_unless_blank" => Some(Self::PreferSalesforceUnlessBlank),
            "always_use_salesforce" => Some(Self::AlwaysUseSalesforce),
            "two_way" => Some(Self::TwoWay),
            "dont_sync" => Some(Self::DontSync),
            _ => None,
        }
    }

    /// The YAML name of the rule, as accepted by [`Self::parse`].
    pub fn name(self) -> &'static str {
        match self {
            Self::PreferSalesforceUnlessBlank => "prefer_salesforce_unless_blank",
            Self::AlwaysUseSalesforce => "always_use_salesforce",
            Self::TwoWay => "two_way",
            Self::DontSync => "dont_sync",
        }
    }

    /// Whether the rule can ever write the Salesforce field.
    pub fn may_write_salesforce(self) -> bool {
        matches!(self, Self::PreferSalesforceUnlessBlank | Self::TwoWay)
    }
}
