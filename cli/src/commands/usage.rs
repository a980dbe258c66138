//! `crm-sync usage`: API calls counted in the last 24 hours, per system,
//! against the Salesforce cap of the settings file and the HubSpot budget
//! the local deployment runs with. Reads the state file only.

use anyhow::Context;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use crm_sync_app::store::{StateStore, System};

/// Usage of both systems at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub salesforce: u64,
    pub hubspot: u64,
    pub salesforce_cap: u64,
    /// The HubSpot daily budget the local deployment runs with.
    pub hubspot_cap: u64,
}

impl Usage {
    /// Reads both counters from the store.
    pub async fn read(store: &dyn StateStore, salesforce_cap: u64) -> anyhow::Result<Self> {
        let salesforce = store.api_calls_last_24h(System::Salesforce).await.context("reading Salesforce API usage")?;
        let hubspot = store.api_calls_last_24h(System::HubSpot).await.context("reading HubSpot API usage")?;
        let hubspot_cap = crm_sync_app::AppSettings::default().hubspot_cap_per_24h;
        Ok(Usage { salesforce, hubspot, salesforce_cap, hubspot_cap })
    }

    /// The share of the cap used, in percent (may exceed 100 when the cap was
    /// lowered after the calls were made).
    pub fn salesforce_percent(&self) -> f64 {
        percent(self.salesforce, self.salesforce_cap)
    }

    pub fn table(&self) -> Table {
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED).set_header(["system", "calls (24 h)", "cap", "used", "left"]);
        table.add_row([
            "salesforce".to_owned(),
            self.salesforce.to_string(),
            self.salesforce_cap.to_string(),
            format!("{:.1}%", self.salesforce_percent()),
            self.salesforce_cap.saturating_sub(self.salesforce).to_string(),
        ]);
        table.add_row([
            "hubspot".to_owned(),
            self.hubspot.to_string(),
            self.hubspot_cap.to_string(),
            format!("{:.1}%", percent(self.hubspot, self.hubspot_cap)),
            self.hubspot_cap.saturating_sub(self.hubspot).to_string(),
        ]);
        table
    }
}

fn percent(used: u64, cap: u64) -> f64 {
    if cap == 0 {
        return 100.0;
    }
    used as f64 * 100.0 / cap as f64
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn usage_shows_the_share_of_the_cap_and_what_is_left() {
        let usage = Usage { salesforce: 2_500, hubspot: 40, salesforce_cap: 10_000, hubspot_cap: 500_000 };
        assert!((usage.salesforce_percent() - 25.0).abs() < 1e-9);
        let rendered = usage.table().to_string();
        assert!(rendered.contains("25.0%"), "{rendered}");
        assert!(rendered.contains("7500"), "{rendered}");
    }

    #[test]
    fn calls_above_a_lowered_cap_leave_nothing() {
        let usage = Usage { salesforce: 120, hubspot: 0, salesforce_cap: 100, hubspot_cap: 500_000 };
        assert!(usage.table().to_string().contains("120.0%"));
        assert!(usage.salesforce_percent() > 100.0);
    }
}
