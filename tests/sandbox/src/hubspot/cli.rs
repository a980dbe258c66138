//! The `crm-sandbox` command-line options of the fake HubSpot.

use super::{DEFAULT_CLIENT_SECRET, DEFAULT_TOKEN, HubSpotOptions};
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct HubSpotArgs {
    /// HubSpot contacts to generate (emails from the shared pool).
    #[arg(long, default_value_t = 0)]
    pub hs_contacts: u64,
    /// HubSpot companies to generate.
    #[arg(long, default_value_t = 0)]
    pub hs_companies: u64,
    /// HubSpot deals to generate.
    #[arg(long, default_value_t = 0)]
    pub hs_deals: u64,
    /// The private-app token the fake accepts.
    #[arg(long, env = "SANDBOX_HUBSPOT_TOKEN", default_value = DEFAULT_TOKEN)]
    pub hs_token: String,
    /// Where to POST webhook deliveries; none are sent when unset.
    #[arg(long, env = "SANDBOX_HUBSPOT_WEBHOOK_URL")]
    pub hs_webhook_url: Option<String>,
    /// The app's client secret that signs webhook deliveries.
    #[arg(long, env = "SANDBOX_HUBSPOT_CLIENT_SECRET", default_value = DEFAULT_CLIENT_SECRET)]
    pub hs_client_secret: String,
    /// Requests allowed per rolling 10 seconds.
    #[arg(long, default_value_t = 190)]
    pub hs_rate_limit: u32,
    /// Requests allowed per day.
    #[arg(long, default_value_t = 1_000_000)]
    pub hs_daily_limit: u64,
    /// Search requests allowed per second.
    #[arg(long, default_value_t = 5)]
    pub hs_search_rate: u32,
    /// Milliseconds before a write shows in search (indexing lag).
    #[arg(long)]
    pub hs_search_lag_ms: Option<u64>,
    /// Deliver every webhook batch twice.
    #[arg(long)]
    pub hs_webhook_duplicates: bool,
    /// HubSpot's "automatically create and associate companies with
    /// contacts" setting: a new contact joins (or makes) the company of its
    /// email domain.
    #[arg(long)]
    pub hs_auto_create_companies: bool,
    /// A HubSpot user who may own records, as `First Last <email>`
    /// (repeatable), so that owner mappings can be tried.
    #[arg(long = "hs-owner", value_parser = parse_owner)]
    pub hs_owners: Vec<(String, String, String)>,
}

/// `First Last <email>` as (first name, last name, email).
fn parse_owner(raw: &str) -> Result<(String, String, String), String> {
    let wrong = || format!("`{raw}` is not `First Last <email>`, e.g. `Sam Seller <sam@example.com>`");
    let (names, rest) = raw.split_once('<').ok_or_else(wrong)?;
    let email = rest.strip_suffix('>').ok_or_else(wrong)?.trim();
    let (first, last) = names.trim().split_once(' ').ok_or_else(wrong)?;
    if email.is_empty() || !email.contains('@') || first.is_empty() || last.trim().is_empty() {
        return Err(wrong());
    }
    Ok((first.to_owned(), last.trim().to_owned(), email.to_owned()))
}

impl HubSpotArgs {
    pub fn options(&self, seed: u64) -> HubSpotOptions {
        HubSpotOptions {
            token: self.hs_token.clone(),
            seed_contacts: self.hs_contacts,
            seed_companies: self.hs_companies,
            seed_deals: self.hs_deals,
            seed,
            webhook_url: self.hs_webhook_url.clone(),
            client_secret: self.hs_client_secret.clone(),
            rate_limit_per_10s: self.hs_rate_limit,
            daily_limit: self.hs_daily_limit,
            search_per_second: self.hs_search_rate,
            search_indexing_lag: self.hs_search_lag_ms.map(Duration::from_millis),
            webhook_duplicates: self.hs_webhook_duplicates,
            auto_create_companies: self.hs_auto_create_companies,
            owners: self.hs_owners.clone(),
            ..HubSpotOptions::default()
        }
    }

    /// The `KEY=VALUE` lines the sandbox prints for clients.
    pub fn env_lines(&self) -> Vec<String> {
        vec![
            format!("HUBSPOT_TOKEN={}", self.hs_token),
            format!("HUBSPOT_CLIENT_SECRET={}", self.hs_client_secret),
            format!("HUBSPOT_APP_ID={}", super::DEFAULT_APP_ID),
            format!("HUBSPOT_PORTAL_ID={}", super::DEFAULT_PORTAL_ID),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::parse_owner;

    #[test]
    fn an_owner_is_first_last_and_email() {
        assert_eq!(
            parse_owner("Sam Seller <sam@example.com>"),
            Ok(("Sam".to_owned(), "Seller".to_owned(), "sam@example.com".to_owned()))
        );
        assert!(parse_owner("Sam <sam@example.com>").is_err_and(|e| e.contains("First Last <email>")));
        assert!(parse_owner("Sam Seller sam@example.com").is_err());
    }
}
