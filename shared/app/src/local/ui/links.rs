//! Links from a sync-health entry to its records in each CRM's own user
//! interface, when the operator said where that is: the Salesforce instance
//! (`https://example.my.salesforce.com`) and the HubSpot account (portal)
//! id. Without them the page shows the ids alone.

use crm_sync_domain::{ObjectPair, SalesforceId};

/// Where the CRMs' record pages are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordLinks {
    /// The Salesforce instance URL; `None`: Salesforce ids are not linked.
    pub salesforce_instance_url: Option<String>,
    /// The HubSpot account id; `None`: HubSpot ids are not linked.
    pub hubspot_portal_id: Option<String>,
    /// HubSpot's app address.
    pub hubspot_app_url: String,
}

impl Default for RecordLinks {
    fn default() -> Self {
        RecordLinks {
            salesforce_instance_url: None,
            hubspot_portal_id: None,
            hubspot_app_url: "https://app.hubspot.com".to_owned(),
        }
    }
}

/// An `http(s)` base URL without its trailing slash; anything else is not
/// used as a link.
fn web_base(url: &str) -> Option<&str> {
    let url = url.trim().trim_end_matches('/');
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    (!rest.is_empty() && !rest.contains(['"', '<', '>', ' ', '?', '#'])).then_some(url)
}

impl RecordLinks {
    /// `<instance>/lightning/r/<Object>/<id>/view`, the object named by the
    /// id's key prefix.
    pub fn salesforce(&self, id: &str) -> Option<String> {
        let base = web_base(self.salesforce_instance_url.as_deref()?)?;
        let id = SalesforceId::parse(id).ok()?;
        let object = id.object()?;
        Some(format!("{base}/lightning/r/{}/{}/view", object.api_name(), id.as_str()))
    }

    /// `https://app.hubspot.com/contacts/<portal>/record/<objectTypeId>/<id>`.
    pub fn hubspot(&self, pair: ObjectPair, id: &str) -> Option<String> {
        let base = web_base(&self.hubspot_app_url)?;
        let portal = self.hubspot_portal_id.as_deref().map(str::trim).filter(|p| is_digits(p))?;
        let id = id.trim();
        if !is_digits(id) {
            return None;
        }
        let type_id = match pair {
            ObjectPair::Contact => "0-1",
            ObjectPair::Company => "0-2",
            ObjectPair::Deal => "0-3",
        };
        Some(format!("{base}/contacts/{portal}/record/{type_id}/{id}"))
    }
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn links() -> RecordLinks {
        RecordLinks {
            salesforce_instance_url: Some("https://acme.my.salesforce.com/".into()),
            hubspot_portal_id: Some("4455".into()),
            ..RecordLinks::default()
        }
    }

    #[test]
    fn records_link_to_each_crm_s_record_page() {
        let id = SalesforceId::parse("00Q000000000001").unwrap();
        assert_eq!(
            links().salesforce("00Q000000000001"),
            Some(format!("https://acme.my.salesforce.com/lightning/r/Lead/{}/view", id.as_str()))
        );
        assert_eq!(
            links().hubspot(ObjectPair::Deal, "901").as_deref(),
            Some("https://app.hubspot.com/contacts/4455/record/0-3/901")
        );
    }

    #[test]
    fn without_the_crm_s_address_or_with_an_odd_id_there_is_no_link() {
        assert_eq!(RecordLinks::default().salesforce("00Q000000000001"), None);
        assert_eq!(RecordLinks::default().hubspot(ObjectPair::Contact, "1"), None);
        assert_eq!(links().salesforce("500000000000001"), None, "a case is not a synced object");
        assert_eq!(links().hubspot(ObjectPair::Contact, "1 or x"), None);
        let odd = RecordLinks { salesforce_instance_url: Some("javascript:alert(1)".into()), ..links() };
        assert_eq!(odd.salesforce("00Q000000000001"), None);
    }
}
