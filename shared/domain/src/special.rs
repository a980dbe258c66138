//! The special fields of SPEC section 4 and the account-creation rules of
//! SPEC section 5, as pure helpers the use cases call around [`decide`].
//!
//! Owns: exact owner matching, the contact-to-company association (Lead
//! `Company` text vs Contact `AccountId`), lifecycle stage carried to the
//! company, the read-only "Salesforce Campaigns" property, which Salesforce
//! changes may trigger a sync (never formula fields alone), and when a HubSpot
//! company creates a Salesforce Account. Opt-out is applied inside the
//! decision itself.
//!
//! [`decide`]: crate::decision::decide

use crate::config::{NewContactObject, SyncConfig};
use crate::model::{Email, SalesforceId, SfObject};
pub use crate::properties::{LIFECYCLE_STAGE, SALESFORCE_CAMPAIGNS_PROPERTY, is_read_only_hubspot_property};
use std::collections::{BTreeMap, BTreeSet};

/// A person as seen by one CRM: a HubSpot owner or a Salesforce user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// The HubSpot owner id or the Salesforce user id.
    pub id: String,
    /// The full name as the CRM shows it; compared with spaces collapsed.
    pub name: String,
    /// The normalised email; compared exactly.
    pub email: Email,
}

/// HubSpot owner id <-> Salesforce user id, for owners that matched exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnerDirectory {
    to_salesforce: BTreeMap<String, String>,
    to_hubspot: BTreeMap<String, String>,
}

impl OwnerDirectory {
    /// The HubSpot owner matched to a Salesforce user id.
    pub fn hubspot_owner_for(&self, salesforce_user: &str) -> Option<&str> {
        self.to_hubspot.get(salesforce_user).map(String::as_str)
    }

    /// The Salesforce user matched to a HubSpot owner id.
    pub fn salesforce_user_for(&self, hubspot_owner: &str) -> Option<&str> {
        self.to_salesforce.get(hubspot_owner).map(String::as_str)
    }

    /// How many owners matched a user.
    pub fn len(&self) -> usize {
        self.to_hubspot.len()
    }

    /// Whether no owner matched.
    pub fn is_empty(&self) -> bool {
        self.to_hubspot.is_empty()
    }
}

/// Matches HubSpot owners to Salesforce users: same email (normalised) and
/// same name (trimmed, inner spaces collapsed, case kept). A person with two
/// candidates on the other side matches neither: an owner is never guessed.
pub fn match_owners(hubspot_owners: &[Person], salesforce_users: &[Person]) -> OwnerDirectory {
    fn key(p: &Person) -> (String, String) {
        let name = p.name.split_whitespace().collect::<Vec<_>>().join(" ");
        (p.email.as_str().to_owned(), name)
    }
    let mut users: BTreeMap<(String, String), Vec<&Person>> = BTreeMap::new();
    for u in salesforce_users {
        users.entry(key(u)).or_default().push(u);
    }
    let mut owners: BTreeMap<(String, String), Vec<&Person>> = BTreeMap::new();
    for o in hubspot_owners {
        owners.entry(key(o)).or_default().push(o);
    }
    let mut dir = OwnerDirectory::default();
    for (k, os) in owners {
        if let (Some(us), [owner]) = (users.get(&k), os.as_slice())
            && let [user] = us.as_slice()
        {
            dir.to_salesforce.insert(owner.id.clone(), user.id.clone());
            dir.to_hubspot.insert(user.id.clone(), owner.id.clone());
        }
    }
    dir
}

/// How a HubSpot contact's company association follows Salesforce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompanyAssociation {
    /// A Lead: the company is the `Company` text, synced by its mapping; no
    /// association is derived.
    FromLeadCompanyText,
    /// A Contact with an account: associate the HubSpot contact with the
    /// company linked to this Account.
    FollowAccount(SalesforceId),
    /// A Contact without an account: remove nothing, add nothing.
    NoAccount,
    /// Company sync is off: associations are left alone.
    CompanySyncOff,
}

/// SPEC section 4, company name: Lead `Company` text syncs with the HubSpot
/// company-name property; for a Contact the association follows `AccountId`
/// (only when company sync is on).
pub fn company_association(
    config: &SyncConfig,
    object: SfObject,
    account_id: Option<&SalesforceId>,
) -> CompanyAssociation {
    match object {
        SfObject::Lead => CompanyAssociation::FromLeadCompanyText,
        _ if !config.objects.companies => CompanyAssociation::CompanySyncOff,
        _ => match account_id {
            Some(id) => CompanyAssociation::FollowAccount(id.clone()),
            None => CompanyAssociation::NoAccount,
        },
    }
}

/// SPEC section 4, lifecycle stage: when companies sync and a contact's
/// lifecycle stage changed, the associated company gets the same stage.
/// Returns the company write (property, value), or `None`.
pub fn lifecycle_stage_for_company(
    config: &SyncConfig,
    previous_contact_stage: Option<&str>,
    contact_stage: Option<&str>,
    company_stage: Option<&str>,
) -> Option<(&'static str, String)> {
    if !config.objects.companies {
        return None;
    }
    let stage = contact_stage.filter(|s| !s.is_empty())?;
    if previous_contact_stage == Some(stage) || company_stage == Some(stage) {
        return None;
    }
    Some((LIFECYCLE_STAGE, stage.to_owned()))
}

/// SPEC section 4, campaigns: the value of the read-only "Salesforce
/// Campaigns" property for a membership list: names de-duplicated, sorted,
/// `;`-separated (HubSpot's multi-value form), `""` when none. It is only
/// ever written to HubSpot; no mapping may write it back.
pub fn campaigns_property_value<'a>(campaign_names: impl IntoIterator<Item = &'a str>) -> String {
    let names: BTreeSet<&str> = campaign_names.into_iter().map(str::trim).filter(|n| !n.is_empty()).collect();
    names.into_iter().collect::<Vec<_>>().join(";")
}

/// SPEC section 4, formula fields: whether a set of changed Salesforce
/// fields is worth a sync. Formula fields alone never are; any other mapped
/// field is (it may feed a formula, whose value then travels with it).
pub fn salesforce_change_triggers_sync<'a>(
    config: &SyncConfig,
    object: SfObject,
    changed_fields: impl IntoIterator<Item = &'a str>,
) -> bool {
    let mappings: Vec<_> = config.mappings_for(object).collect();
    changed_fields.into_iter().any(|field| {
        match mappings.iter().find(|m| m.salesforce_field.eq_ignore_ascii_case(field)) {
            Some(m) => !m.salesforce_formula,
            // A change to an unmapped field may feed a mapped formula.
            None => true,
        }
    })
}

/// HubSpot's read-only "Record source" property: which tool or process
/// created a record.
pub const HUBSPOT_OBJECT_SOURCE_PROPERTY: &str = "hs_object_source";

/// The record source HubSpot gives a company its "automatically create and
/// associate companies with contacts" setting made from a contact's email
/// domain ("CRM Setting" in the UI).
pub const CREATED_BY_CRM_SETTING: &str = "CRM_SETTING";

/// SPEC section 5: whether HubSpot created a company automatically from a
/// contact, read from the company's record source.
pub fn company_created_from_contact(record_source: Option<&str>) -> bool {
    record_source.is_some_and(|s| s.trim().eq_ignore_ascii_case(CREATED_BY_CRM_SETTING))
}

/// One HubSpot contact associated with a company, as the account-creation
/// rule needs to see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssociatedContact {
    /// The Salesforce object the contact syncs with, if linked.
    pub synced_with: Option<SfObject>,
    /// For a linked Salesforce Contact: whether it has an account.
    pub salesforce_contact_has_account: bool,
    /// Whether the contact is in the inclusion segment (with no segment
    /// configured, every contact is).
    pub in_inclusion_segment: bool,
}

/// Why a company does or does not create a Salesforce Account.
///
/// The first four create an Account, the last four do not; the variant is
/// the reason, logged with the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountCreation {
    /// An import or manual resync forces the creation.
    ForcedByResync,
    /// HubSpot made the company from a contact, and new records are Contacts.
    CreatedFromContactAndNewRecordsAreContacts,
    /// An associated contact syncs with a Salesforce Contact that has no account.
    ContactSyncsWithAccountlessSalesforceContact,
    /// An associated contact (not synced with a Lead) is in the inclusion segment.
    ContactInInclusionSegment,
    /// Company sync is switched off.
    CompanySyncOff,
    /// The company has no associated contacts.
    NoAssociatedContacts,
    /// Every associated contact syncs with a Lead (Leads have no account).
    AllContactsSyncWithLeads,
    /// None of the rules above applies.
    NoContactQualifies,
}

impl AccountCreation {
    /// Whether the company creates a Salesforce Account.
    pub fn creates(self) -> bool {
        matches!(
            self,
            Self::ForcedByResync
                | Self::CreatedFromContactAndNewRecordsAreContacts
                | Self::ContactSyncsWithAccountlessSalesforceContact
                | Self::ContactInInclusionSegment
        )
    }
}

/// SPEC section 5: whether a new HubSpot company creates a Salesforce Account.
///
/// `created_from_contact`: HubSpot created the company automatically from a
/// contact. With no inclusion segment configured, "in the segment" holds for
/// every contact, so any associated contact qualifies unless all sync with
/// Leads.
pub fn company_creates_account(
    config: &SyncConfig,
    created_from_contact: bool,
    contacts: &[AssociatedContact],
    forced_by_resync: bool,
) -> AccountCreation {
    use AccountCreation as A;
    if !config.objects.companies {
        return A::CompanySyncOff;
    }
    if forced_by_resync {
        return A::ForcedByResync;
    }
    if created_from_contact && config.new_contact_object == NewContactObject::Contact && !contacts.is_empty() {
        return A::CreatedFromContactAndNewRecordsAreContacts;
    }
    if contacts.is_empty() {
        return A::NoAssociatedContacts;
    }
    if contacts.iter().any(|c| c.synced_with == Some(SfObject::Contact) && !c.salesforce_contact_has_account) {
        return A::ContactSyncsWithAccountlessSalesforceContact;
    }
    if contacts.iter().all(|c| c.synced_with == Some(SfObject::Lead)) {
        return A::AllContactsSyncWithLeads;
    }
    if contacts.iter().any(|c| c.in_inclusion_segment && c.synced_with != Some(SfObject::Lead)) {
        return A::ContactInInclusionSegment;
    }
    A::NoContactQualifies
}

/// SPEC section 5: a Salesforce Account needs no contacts to create a
/// HubSpot company; only the company switch matters.
pub fn account_creates_company(config: &SyncConfig) -> bool {
    config.objects.companies
}
