//! The batch planner: the records of one object pair's batch, their links,
//! the config and what the IO stages read beforehand in, the writes for each
//! side and the link updates out, with the reason for every field.
//!
//! The planner owns every choice the sync makes about a record once both
//! sides have been read: whether it is created, updated, left alone or
//! skipped (and why), which fields travel (through [`decide`]), the special
//! fields that need facts from outside the record (campaigns, deal stages,
//! opt-outs, company associations, lifecycle stages, required fields of a new
//! Salesforce record), and the link state to store once the writes
//! succeeded.
//!
//! It must not do IO, await, read a clock or depend on the order of the
//! records beyond returning one plan per record, in input order. Facts it
//! cannot see in the records arrive as inputs ([`BatchInputs`],
//! [`PlanRecord`]); the caller reads them first and carries the plan out
//! after, so a plan can be tested without either CRM.
//!
//! Invariants:
//! - One plan per record, and at most one write per side per record: one
//!   user change gives one write.
//! - No echo: the link state of a plan fingerprints what each side holds
//!   after the writes, so the change does not come back as a new change.
//! - Nothing is written for a record its own side deleted: its link goes
//!   ([`PlannedAction::LinkGone`]), and the caller keeps or deletes the
//!   counterpart as `deleted_records` says.

mod stages;
#[cfg(test)]
mod tests;

pub use stages::{STAGE_FIELD, stage_to_hubspot, stage_to_salesforce};

use crate::config::{InclusionSegment, SyncConfig};
use crate::decision::{Action, DecisionContext, DecisionInput, FieldDecision, HUBSPOT_EMAIL_PROPERTY, LinkState};
use crate::decision::{SkipReason, decide};
use crate::model::{Email, FieldMap, ObjectPair, RecordSnapshot, SalesforceId, SfObject, System};
use crate::rules::{FieldReason, Fingerprint};
use crate::special::{
    CompanyAssociation, LIFECYCLE_STAGE, OwnerDirectory, SALESFORCE_CAMPAIGNS_PROPERTY, account_creates_company,
    company_association,
};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

/// The Salesforce External ID field holding the HubSpot id.
pub const SALESFORCE_HUBSPOT_ID_FIELD: &str = "HubSpot_Id__c";
/// The unique HubSpot property holding the Salesforce id (companies, deals).
pub const HUBSPOT_SALESFORCE_ID_PROPERTY: &str = "salesforce_id";
/// What a new Lead gets for its required fields when HubSpot has no value.
pub const NOT_PROVIDED: &str = "[not provided]";
/// The HubSpot contact property mirroring a Salesforce Contact's `AccountId`.
pub const ACCOUNT_ID_PROPERTY: &str = "salesforceaccountid";
/// HubSpot's read-only opt-out property: an opt-out travels through the
/// communication preferences API instead.
pub const HUBSPOT_OPT_OUT_PROPERTY: &str = "hs_email_optout";
/// The Salesforce lookup from a Contact or an Opportunity to its Account.
pub const ACCOUNT_ID_FIELD: &str = "AccountId";
/// The HubSpot deal property naming its pipeline.
pub const PIPELINE_PROPERTY: &str = "pipeline";
/// The pipeline a new HubSpot deal joins when the mapping gives none.
pub const DEFAULT_PIPELINE: &str = "default";

/// What holds for the whole batch.
#[derive(Debug, Clone, Copy)]
pub struct BatchInputs<'a> {
    pub config: &'a SyncConfig,
    pub pair: ObjectPair,
    /// Exact owner <-> user matches; `None` when the pair maps no owner or
    /// the directory could not be read (no owner is written then).
    pub owners: Option<&'a OwnerDirectory>,
    /// HubSpot ids of the inclusion segment list's members, when the
    /// segment is a list and was read; `None` counts nobody as a member.
    pub segment_members: Option<&'a HashSet<String>>,
}

/// One record of the batch: what was read of each side, its link, and the
/// facts the IO stages gathered for it.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanRecord<'a> {
    /// The Salesforce id, when known (from the intent, the link or a match).
    pub salesforce_id: Option<&'a str>,
    /// The HubSpot id, when known.
    pub hubspot_id: Option<&'a str>,
    /// The Salesforce object the record is (or would be matched as).
    pub salesforce_object: Option<SfObject>,
    pub salesforce: Option<&'a RecordSnapshot>,
    pub hubspot: Option<&'a RecordSnapshot>,
    /// The stored link state; `None` before the first sync.
    pub link: Option<&'a LinkState>,
    /// The contact's lifecycle stage stored with its link.
    pub previous_lifecycle_stage: Option<&'a str>,
    /// The side that sent the intent no longer has the record.
    pub origin_missing: bool,
    /// An import or manual resync: every mapping applies in full.
    pub forced: bool,
    /// SPEC section 5 for a HubSpot company with no account: whether its
    /// contacts make it create one. `None` when not asked (counts as no).
    pub creates_account: Option<bool>,
    /// For a HubSpot deal about to create an Opportunity: the Salesforce
    /// account linked to the deal's first company.
    pub deal_account: Option<&'a str>,
    /// The "Salesforce Campaigns" value of the contact's Lead or Contact,
    /// when it was read.
    pub campaigns: Option<&'a str>,
}

/// An update of an existing Salesforce record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesforceUpdate {
    pub object: SfObject,
    pub id: String,
    pub fields: FieldMap,
}

/// An update of an existing HubSpot record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubSpotUpdate {
    pub id: String,
    pub properties: FieldMap,
}

/// What happens to one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedAction {
    /// Deleted on its own side: the link goes; the other side's record is
    /// kept or deleted as the config's `deleted_records` says.
    LinkGone,
    /// Nothing is written, for this reason.
    Skip { reason: SkipReason },
    /// Both records hold the same values; the link is stored again only when
    /// [`RecordPlan::store_link`] says so (new fingerprints, new stage).
    Unchanged,
    /// Updates of the existing records (at least one of the three is set).
    Update {
        salesforce: Option<SalesforceUpdate>,
        hubspot: Option<HubSpotUpdate>,
        /// The contact's email, when an opt-out travels to HubSpot (through
        /// the communication preferences API, not a property write).
        opt_out: Option<String>,
    },
    /// An upsert of a new Salesforce record keyed by its HubSpot id.
    CreateSalesforce { object: SfObject, fields: FieldMap },
    /// An upsert of a new HubSpot record keyed by `key` (the email for a
    /// contact, the Salesforce id for a company or deal).
    CreateHubSpot { key: String, properties: FieldMap },
    /// The decision needs an id the batch does not have (a create with no
    /// key): nothing happens and nothing is counted.
    Incomplete,
}

/// A contact's lifecycle stage change, to carry to its companies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleChange {
    /// The stage stored with the link; `None` before the first sync.
    pub previous: Option<String>,
    pub current: String,
}

/// The plan of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPlan {
    pub action: PlannedAction,
    /// Why each field was written or left alone: the decision's reasons,
    /// then the fields the planner added (campaigns, create keys, required
    /// placeholders, deal account, pipeline).
    pub fields: Vec<FieldDecision>,
    /// The link state to store once every write succeeded.
    pub link: LinkState,
    /// Store the link once the writes succeeded (always for a write).
    pub store_link: bool,
    /// Associate the HubSpot record with the company linked to this
    /// account, once the record synced.
    pub follow_account: Option<SalesforceId>,
    /// Owner fields not written for lack of an exact match.
    pub owners_not_matched: u64,
    /// The contact's lifecycle stage changed since its link was stored (and
    /// companies sync).
    pub lifecycle_change: Option<LifecycleChange>,
    /// The contact's current lifecycle stage, stored with its link.
    pub lifecycle_stage: Option<String>,
}

impl RecordPlan {
    /// Per mapping key the plan writes: the side written and the
    /// fingerprint of the value written there. Stored with the link before
    /// the writes go out ([`LinkState::writing`]), it tells the sync's own
    /// values from users' changes should the worker stop between its writes
    /// and the link's store.
    pub fn writing(&self) -> BTreeMap<String, (System, Fingerprint)> {
        crate::decision::writing_of(&self.fields, &self.link)
    }

    fn new(action: PlannedAction) -> Self {
        Self {
            action,
            fields: Vec::new(),
            link: LinkState::default(),
            store_link: false,
            follow_account: None,
            owners_not_matched: 0,
            lifecycle_change: None,
            lifecycle_stage: None,
        }
    }

    /// The field decisions that wrote a side.
    pub fn written(&self) -> impl Iterator<Item = &FieldDecision> {
        self.fields.iter().filter(|f| f.wrote.is_some())
    }

    /// The reason given for `field` (a mapping key, or a field or property
    /// name the planner added).
    pub fn reason(&self, field: &str) -> Option<FieldReason> {
        self.fields.iter().find(|f| f.mapping == field).map(|f| f.reason)
    }
}

/// Plans every record of a batch, in input order.
pub fn plan_batch(batch: &BatchInputs<'_>, records: &[PlanRecord<'_>]) -> Vec<RecordPlan> {
    records.iter().map(|record| plan_record(batch, record)).collect()
}

/// Plans one record.
pub fn plan_record(batch: &BatchInputs<'_>, record: &PlanRecord<'_>) -> RecordPlan {
    let config = batch.config;
    let pair = batch.pair;
    if record.origin_missing {
        return RecordPlan::new(PlannedAction::LinkGone);
    }
    let in_segment = match (&config.inclusion_segment, record.hubspot) {
        (Some(InclusionSegment::HubspotList(_)), Some(_)) => {
            let id = record.hubspot_id.unwrap_or_default();
            batch.segment_members.is_some_and(|m| m.contains(id))
        }
        (Some(segment), Some(hs)) => segment.admits(hs).unwrap_or(true),
        // A record not yet in HubSpot joins as it is created.
        _ => true,
    };
    let create_allowed = match pair {
        ObjectPair::Company if record.hubspot.is_some() && record.salesforce.is_none() => {
            // SPEC section 5; a resync or import forces it.
            record.forced || record.creates_account.unwrap_or(false)
        }
        ObjectPair::Company => account_creates_company(config),
        ObjectPair::Contact | ObjectPair::Deal => true,
    };
    let mut decision = decide(&DecisionInput {
        config,
        pair,
        salesforce: record.salesforce,
        hubspot: record.hubspot,
        link: record.link,
        owners: batch.owners,
        context: DecisionContext { forced: record.forced, in_inclusion_segment: in_segment, create_allowed },
    });
    let mut extra = Vec::new();
    if let Some(value) = record.campaigns
        && matches!(decision.action, Action::Update | Action::CreateHubSpot { .. })
    {
        let current = hubspot_text(record, SALESFORCE_CAMPAIGNS_PROPERTY).unwrap_or_default();
        if current != value {
            decision.hubspot_writes.insert(SALESFORCE_CAMPAIGNS_PROPERTY.into(), Value::String(value.to_owned()));
            extra.push(added(SALESFORCE_CAMPAIGNS_PROPERTY, System::HubSpot, FieldReason::CampaignMembershipChanged));
        }
    }
    if let Some(Value::String(stage)) = decision.salesforce_writes.get_mut(STAGE_FIELD) {
        *stage = stage_to_salesforce(stage).to_owned();
    }
    let mut plan = RecordPlan::new(PlannedAction::Incomplete);
    let account = record
        .salesforce
        .and_then(|sf| sf.field(ACCOUNT_ID_FIELD))
        .and_then(Value::as_str)
        .and_then(|a| SalesforceId::parse(a).ok());
    if pair == ObjectPair::Deal
        && let Some(account) = &account
        && (matches!(decision.action, Action::CreateHubSpot { .. }) || record.link.is_none())
    {
        plan.follow_account = Some(account.clone());
    }
    // SPEC section 2: an owner with no exact match is not written.
    plan.owners_not_matched =
        decision.fields.iter().filter(|f| f.reason == FieldReason::OwnerNotMatched).count() as u64;
    if pair == ObjectPair::Contact
        && let (Some(object), Some(_)) = (record.salesforce_object, record.salesforce)
    {
        let account_travels = decision.hubspot_writes.contains_key(ACCOUNT_ID_PROPERTY)
            || matches!(decision.action, Action::CreateHubSpot { .. })
            || record.link.is_none();
        if account_travels
            && let CompanyAssociation::FollowAccount(account) = company_association(config, object, account.as_ref())
        {
            plan.follow_account = Some(account);
        }
    }
    plan.lifecycle_change = lifecycle_change(batch, record);
    plan.lifecycle_stage = hubspot_text(record, LIFECYCLE_STAGE)
        .filter(|s| !s.is_empty() && pair == ObjectPair::Contact)
        .map(str::to_owned);
    let mut link = decision.link.clone();
    plan.action = match &decision.action {
        Action::Skip { reason } => PlannedAction::Skip { reason: *reason },
        Action::Update => match (record.salesforce_id, record.hubspot_id) {
            (Some(_), Some(_)) if decision.writes_nothing() => {
                // Keep the fingerprints current (first match, new mappings).
                plan.store_link = record.link != Some(&link) || plan.lifecycle_change.is_some();
                PlannedAction::Unchanged
            }
            (Some(sf_id), Some(hs_id)) => {
                plan.store_link = true;
                let salesforce = (!decision.salesforce_writes.is_empty()).then(|| SalesforceUpdate {
                    object: record.salesforce_object.unwrap_or(SfObject::Lead),
                    id: sf_id.to_owned(),
                    fields: decision.salesforce_writes.clone(),
                });
                let mut opt_out = None;
                let mut hubspot = None;
                if !decision.hubspot_writes.is_empty() {
                    let mut properties = decision.hubspot_writes.clone();
                    opt_out = take_opt_out(&mut properties, record.hubspot);
                    if !properties.is_empty() {
                        hubspot = Some(HubSpotUpdate { id: hs_id.to_owned(), properties });
                    }
                }
                PlannedAction::Update { salesforce, hubspot, opt_out }
            }
            _ => PlannedAction::Incomplete,
        },
        Action::CreateSalesforce { object } => match record.hubspot_id {
            Some(hs_id) => {
                plan.store_link = true;
                let mut fields = decision.salesforce_writes.clone();
                fields.insert(SALESFORCE_HUBSPOT_ID_FIELD.into(), Value::String(hs_id.to_owned()));
                extra.push(added(SALESFORCE_HUBSPOT_ID_FIELD, System::Salesforce, FieldReason::CreateKey));
                if let Some(account) = record.deal_account {
                    fields.insert(ACCOUNT_ID_FIELD.into(), Value::String(account.to_owned()));
                    extra.push(added(ACCOUNT_ID_FIELD, System::Salesforce, FieldReason::AccountFromDealCompany));
                }
                for field in fill_required(config, *object, &mut fields, &mut link) {
                    extra.push(added(field, System::Salesforce, FieldReason::RequiredPlaceholder));
                }
                PlannedAction::CreateSalesforce { object: *object, fields }
            }
            None => PlannedAction::Incomplete,
        },
        Action::CreateHubSpot { .. } => {
            let mut properties = decision.hubspot_writes.clone();
            let key = if pair == ObjectPair::Contact {
                properties.get(HUBSPOT_EMAIL_PROPERTY).and_then(Value::as_str).map(str::to_owned)
            } else {
                record.salesforce_id.map(str::to_owned)
            };
            match key {
                Some(key) => {
                    plan.store_link = true;
                    // A first sync carries no opt-out (SPEC section 4).
                    properties.remove(HUBSPOT_OPT_OUT_PROPERTY);
                    if pair != ObjectPair::Contact {
                        properties.insert(HUBSPOT_SALESFORCE_ID_PROPERTY.into(), Value::String(key.clone()));
                        extra.push(added(HUBSPOT_SALESFORCE_ID_PROPERTY, System::HubSpot, FieldReason::CreateKey));
                    }
                    if pair == ObjectPair::Deal && !properties.contains_key(PIPELINE_PROPERTY) {
                        properties.insert(PIPELINE_PROPERTY.into(), Value::String(DEFAULT_PIPELINE.into()));
                        extra.push(added(PIPELINE_PROPERTY, System::HubSpot, FieldReason::DefaultPipeline));
                    }
                    PlannedAction::CreateHubSpot { key, properties }
                }
                None => PlannedAction::Incomplete,
            }
        }
    };
    plan.link = link;
    plan.fields = decision.fields;
    plan.fields.extend(extra);
    plan
}

/// A field the planner wrote on top of the decision's mappings.
fn added(field: &str, side: System, reason: FieldReason) -> FieldDecision {
    FieldDecision { mapping: field.to_owned(), wrote: Some(side), reason }
}

/// A HubSpot property of the record as text.
fn hubspot_text<'a>(record: &PlanRecord<'a>, property: &str) -> Option<&'a str> {
    record.hubspot?.field(property)?.as_str()
}

/// The contact's (previous, current) HubSpot lifecycle stage when it changed
/// since its link was stored, and companies sync.
fn lifecycle_change(batch: &BatchInputs<'_>, record: &PlanRecord<'_>) -> Option<LifecycleChange> {
    if batch.pair != ObjectPair::Contact || !batch.config.objects.companies {
        return None;
    }
    let stage = hubspot_text(record, LIFECYCLE_STAGE).filter(|s| !s.is_empty())?;
    let previous = record.previous_lifecycle_stage;
    (previous != Some(stage)).then(|| LifecycleChange { previous: previous.map(str::to_owned), current: stage.into() })
}

/// Takes HubSpot's read-only opt-out property out of a write; returns the
/// contact's email when the write was an opt-out (opt-ins never travel).
fn take_opt_out(properties: &mut FieldMap, contact: Option<&RecordSnapshot>) -> Option<String> {
    let value = properties.remove(HUBSPOT_OPT_OUT_PROPERTY)?;
    if value.as_str() != Some("true") {
        return None;
    }
    let email = contact?.field(HUBSPOT_EMAIL_PROPERTY)?.as_str()?;
    Email::parse(email).ok().map(|e| e.as_str().to_owned())
}

/// A new Salesforce record needs its required fields (a Lead `LastName` and
/// `Company`); when HubSpot has none, [`NOT_PROVIDED`] goes in and the
/// fingerprint records it, so that the placeholder does not travel back.
/// Returns the fields filled.
fn fill_required(
    config: &SyncConfig,
    object: SfObject,
    fields: &mut FieldMap,
    link: &mut LinkState,
) -> Vec<&'static str> {
    let required: &[&'static str] = match object {
        SfObject::Lead => &["LastName", "Company"],
        SfObject::Contact => &["LastName"],
        SfObject::Account => &["Name"],
        SfObject::Opportunity => &["Name"],
    };
    let mut filled = Vec::new();
    for &field in required {
        let blank = fields.get(field).is_none_or(|v| v.is_null() || v.as_str() == Some(""));
        if !blank {
            continue;
        }
        fields.insert(field.to_owned(), Value::String(NOT_PROVIDED.to_owned()));
        filled.push(field);
        for mapping in config.mappings_for(object) {
            if mapping.salesforce_field == field {
                let key = mapping.key();
                if let Some(print) = link.fingerprints.get_mut(&key) {
                    print.salesforce = Fingerprint::of(&key, &Some(NOT_PROVIDED.to_owned()));
                }
            }
        }
    }
    filled
}
