//! The built-in default mappings: the contact table of SPEC section 2 and the
//! fields a new Opportunity needs.
//!
//! Owns the tables only. Every default mapping is marked `builtin`: a config
//! file may change its rule (and its display name) but never delete it, its
//! types or its objects; the owner mapping stays two-way. Those checks live in
//! [`super::entry`]; this module does not parse anything.

use super::mapping::{FieldMapping, SpecialField};
use super::rule::SyncRule;
use super::types::{HubSpotType, SalesforceType};
use crate::model::SfObject;

/// One row of a default table, in `const` form; [`build_default`] turns it
/// into a [`FieldMapping`]. Rows made with [`dm`] are
/// `prefer_salesforce_unless_blank` and have no special role.
struct DefaultMapping {
    name: &'static str,
    hubspot: &'static str,
    hubspot_type: HubSpotType,
    salesforce: &'static str,
    salesforce_type: SalesforceType,
    objects: &'static [SfObject],
    rule: SyncRule,
    special: Option<SpecialField>,
}

/// The Salesforce objects a contact default serves.
const LEAD: &[SfObject] = &[SfObject::Lead];
const CONTACT: &[SfObject] = &[SfObject::Contact];
const BOTH: &[SfObject] = &[SfObject::Lead, SfObject::Contact];

/// A plain default row: the default rule, no special role.
const fn dm(
    name: &'static str,
    hubspot: &'static str,
    hubspot_type: HubSpotType,
    salesforce: &'static str,
    salesforce_type: SalesforceType,
    objects: &'static [SfObject],
) -> DefaultMapping {
    DefaultMapping {
        name,
        hubspot,
        hubspot_type,
        salesforce,
        salesforce_type,
        objects,
        rule: SyncRule::PreferSalesforceUnlessBlank,
        special: None,
    }
}

/// The contact defaults of SPEC section 2, in the spec's (alphabetical)
/// order. Lead and Contact share a row when the API names are the same.
const DEFAULT_CONTACT_MAPPINGS: &[DefaultMapping] = {
    use HubSpotType as H;
    use SalesforceType as S;
    &[
        DefaultMapping {
            rule: SyncRule::AlwaysUseSalesforce,
            special: Some(SpecialField::AccountId),
            ..dm("Account ID", "salesforceaccountid", H::SingleLineText, "AccountId", S::Reference, CONTACT)
        },
        dm("Annual Revenue", "annualrevenue", H::Number, "AnnualRevenue", S::Currency, LEAD),
        dm("Business Fax", "fax", H::SingleLineText, "Fax", S::Phone, BOTH),
        dm("Business Phone", "phone", H::SingleLineText, "Phone", S::Phone, BOTH),
        dm("City", "city", H::SingleLineText, "City", S::String, LEAD),
        dm("Company", "company", H::SingleLineText, "Company", S::String, LEAD),
        dm("Contact Description", "description", H::MultiLineText, "Description", S::Textarea, BOTH),
        dm("Country", "country", H::SingleLineText, "Country", S::String, LEAD),
        DefaultMapping {
            special: Some(SpecialField::EmailOptOut),
            ..dm("Email Opt Out", "hs_email_optout", H::SingleCheckbox, "HasOptedOutOfEmail", S::Boolean, BOTH)
        },
        dm("Employees", "numemployees", H::Number, "NumberOfEmployees", S::Int, LEAD),
        dm("First Name", "firstname", H::SingleLineText, "FirstName", S::String, BOTH),
        dm("Industry", "industry", H::Dropdown, "Industry", S::Picklist, LEAD),
        dm("Last Name", "lastname", H::SingleLineText, "LastName", S::String, BOTH),
        dm("Lead Source", "leadsource", H::Dropdown, "LeadSource", S::Picklist, BOTH),
        dm("Mailing City", "city", H::SingleLineText, "MailingCity", S::String, CONTACT),
        dm("Mailing Country", "country", H::SingleLineText, "MailingCountry", S::String, CONTACT),
        dm("Mailing State/Province", "state", H::SingleLineText, "MailingState", S::String, CONTACT),
        dm("Mailing Street", "address", H::SingleLineText, "MailingStreet", S::Textarea, CONTACT),
        dm("Mailing Zip/Postal Code", "zip", H::SingleLineText, "MailingPostalCode", S::String, CONTACT),
        DefaultMapping {
            rule: SyncRule::TwoWay,
            special: Some(SpecialField::Owner),
            ..dm("Owner ID", "hubspot_owner_id", H::Dropdown, "OwnerId", S::Reference, BOTH)
        },
        dm("Rating", "rating", H::Dropdown, "Rating", S::Picklist, LEAD),
        dm("Salutation", "salutation", H::Dropdown, "Salutation", S::Picklist, BOTH),
        dm("State/Province", "state", H::SingleLineText, "State", S::String, LEAD),
        dm("Status", "hs_lead_status", H::Dropdown, "Status", S::Picklist, LEAD),
        dm("Street", "address", H::SingleLineText, "Street", S::Textarea, LEAD),
        dm("Title", "jobtitle", H::SingleLineText, "Title", S::String, BOTH),
        dm("Website", "website", H::SingleLineText, "Website", S::Url, LEAD),
        dm("Zip/Postal Code", "zip", H::SingleLineText, "PostalCode", S::String, LEAD),
    ]
};

/// A default row as a checked, `builtin` mapping.
fn build_default(d: &DefaultMapping) -> FieldMapping {
    FieldMapping {
        name: d.name.to_owned(),
        hubspot_property: d.hubspot.to_owned(),
        hubspot_type: d.hubspot_type,
        salesforce_field: d.salesforce.to_owned(),
        salesforce_type: d.salesforce_type,
        rule: d.rule,
        salesforce_objects: d.objects.iter().copied().collect(),
        salesforce_formula: false,
        builtin: true,
        special: d.special,
    }
}

const OPPORTUNITY: &[SfObject] = &[SfObject::Opportunity];

/// Deal <-> Opportunity defaults: what a new Opportunity requires (`Name`,
/// `StageName`, `CloseDate`) and the amount. The stage travels as HubSpot's
/// stage id in HubSpot and as the Salesforce stage label in Salesforce
/// (the use cases translate the default pipeline's stages).
const DEFAULT_DEAL_MAPPINGS: &[DefaultMapping] = {
    use HubSpotType as H;
    use SalesforceType as S;
    &[
        DefaultMapping {
            rule: SyncRule::TwoWay,
            ..dm("Deal Name", "dealname", H::SingleLineText, "Name", S::String, OPPORTUNITY)
        },
        DefaultMapping {
            rule: SyncRule::TwoWay,
            ..dm("Deal Stage", "dealstage", H::Dropdown, "StageName", S::Picklist, OPPORTUNITY)
        },
        DefaultMapping {
            rule: SyncRule::TwoWay,
            ..dm("Close Date", "closedate", H::DatePicker, "CloseDate", S::Date, OPPORTUNITY)
        },
        DefaultMapping {
            rule: SyncRule::TwoWay,
            ..dm("Amount", "amount", H::Number, "Amount", S::Currency, OPPORTUNITY)
        },
    ]
};

/// The built-in default deal mappings: dealname, dealstage, closedate and
/// amount with the Opportunity's Name, StageName, CloseDate and Amount.
pub fn default_deal_mappings() -> Vec<FieldMapping> {
    DEFAULT_DEAL_MAPPINGS.iter().map(build_default).collect()
}

/// The built-in default contact mappings of SPEC section 2.
pub fn default_contact_mappings() -> Vec<FieldMapping> {
    DEFAULT_CONTACT_MAPPINGS.iter().map(build_default).collect()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::config::SyncConfig;
    use crate::config::types::types_compatible;
    use crate::model::ObjectPair;

    /// The names of SPEC section 2's default contact mappings, in order.
    pub(in crate::config) const SPEC_DEFAULT_NAMES: [&str; 28] = [
        "Account ID",
        "Annual Revenue",
        "Business Fax",
        "Business Phone",
        "City",
        "Company",
        "Contact Description",
        "Country",
        "Email Opt Out",
        "Employees",
        "First Name",
        "Industry",
        "Last Name",
        "Lead Source",
        "Mailing City",
        "Mailing Country",
        "Mailing State/Province",
        "Mailing Street",
        "Mailing Zip/Postal Code",
        "Owner ID",
        "Rating",
        "Salutation",
        "State/Province",
        "Status",
        "Street",
        "Title",
        "Website",
        "Zip/Postal Code",
    ];

    #[test]
    fn every_default_contact_mapping_of_the_spec_is_built_in() {
        let config = SyncConfig::default();
        let names: Vec<&str> = config.mappings(ObjectPair::Contact).iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, SPEC_DEFAULT_NAMES);
        assert!(config.mappings(ObjectPair::Contact).iter().all(|m| m.builtin));
    }

    #[test]
    fn every_built_in_mapping_passes_the_type_compatibility_table() {
        for m in default_contact_mappings() {
            assert!(types_compatible(m.hubspot_type, m.salesforce_type, m.rule), "{}", m.name);
        }
    }

    #[test]
    fn one_mapping_serves_lead_and_contact_when_they_share_an_api_name() {
        let config = SyncConfig::default();
        let lead: Vec<String> = config.mappings_for(SfObject::Lead).map(FieldMapping::key).collect();
        let contact: Vec<String> = config.mappings_for(SfObject::Contact).map(FieldMapping::key).collect();
        assert!(lead.contains(&"firstname<->FirstName".to_owned()));
        assert!(contact.contains(&"firstname<->FirstName".to_owned()));
        assert!(lead.contains(&"city<->City".to_owned()) && !contact.contains(&"city<->City".to_owned()));
        assert!(contact.contains(&"city<->MailingCity".to_owned()) && !lead.contains(&"city<->MailingCity".to_owned()));
    }
}
