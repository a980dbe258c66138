//! The planner over hand-built records: no CRM, no store, no clock.

use super::*;
use crate::model::HubSpotId;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

const LEAD: &str = "00Q000000000001";
const CONTACT: &str = "003000000000001";
const ACCOUNT: &str = "001000000000001";
const OPPORTUNITY: &str = "006000000000001";
const HS: &str = "512";

fn t(minutes: i64) -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000) + Duration::minutes(minutes)
}

fn config(yaml: &str) -> SyncConfig {
    SyncConfig::from_yaml_str(yaml).unwrap()
}

fn sf(id: &str, object: SfObject, fields: Value, at: i64) -> RecordSnapshot {
    let fields = fields.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    RecordSnapshot::salesforce(SalesforceId::parse(id).unwrap(), object, fields, t(at))
}

fn hs(pair: ObjectPair, fields: Value, at: i64) -> RecordSnapshot {
    let fields = fields.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    RecordSnapshot::hubspot(HubSpotId::parse(HS).unwrap(), pair, fields, t(at))
}

fn batch(config: &SyncConfig, pair: ObjectPair) -> BatchInputs<'_> {
    BatchInputs { config, pair, owners: None, segment_members: None }
}

/// Plans a record, then plans it again as it would be read after the writes
/// of the first plan were applied and its link stored.
fn settle(batch: &BatchInputs<'_>, record: &PlanRecord<'_>, plan: &RecordPlan) -> RecordPlan {
    let mut sf_fields = record.salesforce.map(|s| s.fields.clone()).unwrap_or_default();
    let mut hs_fields = record.hubspot.map(|s| s.fields.clone()).unwrap_or_default();
    if let PlannedAction::Update { salesforce, hubspot, .. } = &plan.action {
        if let Some(update) = salesforce {
            sf_fields.extend(update.fields.clone());
        }
        if let Some(update) = hubspot {
            hs_fields.extend(update.properties.clone());
        }
    }
    let object = record.salesforce_object.unwrap_or(SfObject::Lead);
    let sf_id = record.salesforce_id.unwrap_or(LEAD);
    let sf_after = RecordSnapshot::salesforce(SalesforceId::parse(sf_id).unwrap(), object, sf_fields, t(10));
    let hs_after = RecordSnapshot::hubspot(HubSpotId::parse(HS).unwrap(), batch.pair, hs_fields, t(10));
    let again = PlanRecord { salesforce: Some(&sf_after), hubspot: Some(&hs_after), link: Some(&plan.link), ..*record };
    plan_record(batch, &again)
}

#[test]
fn a_title_changed_in_salesforce_is_planned_as_one_hubspot_update_with_its_reason() {
    let config = config("");
    let batch = batch(&config, ObjectPair::Contact);
    let sf = sf(LEAD, SfObject::Lead, json!({"Email": "ada@example.com", "Title": "CTO", "LastName": "L"}), 5);
    let hs = hs(ObjectPair::Contact, json!({"email": "ada@example.com", "lastname": "L"}), 1);
    let record = PlanRecord {
        salesforce_id: Some(LEAD),
        hubspot_id: Some(HS),
        salesforce_object: Some(SfObject::Lead),
        salesforce: Some(&sf),
        hubspot: Some(&hs),
        ..PlanRecord::default()
    };
    let plan = plan_record(&batch, &record);
    let PlannedAction::Update { salesforce, hubspot, opt_out } = &plan.action else {
        panic!("expected an update, got {:?}", plan.action)
    };
    assert_eq!(*salesforce, None);
    assert_eq!(*opt_out, None);
    let hubspot = hubspot.as_ref().unwrap();
    assert_eq!(hubspot.id, HS);
    assert_eq!(hubspot.properties.get("jobtitle"), Some(&json!("CTO")));
    assert_eq!(plan.reason("jobtitle<->Title"), Some(FieldReason::SalesforceValueWins));
    assert!(plan.store_link);
}

#[test]
fn a_record_planned_again_after_its_writes_plans_nothing_so_no_echo_travels_back() {
    let config = config("");
    let batch = batch(&config, ObjectPair::Contact);
    let sf = sf(LEAD, SfObject::Lead, json!({"Email": "ada@example.com", "Title": "CTO", "LastName": "L"}), 5);
    let hs = hs(ObjectPair::Contact, json!({"email": "ada@example.com", "jobtitle": "VP", "lastname": "L"}), 1);
    let record = PlanRecord {
        salesforce_id: Some(LEAD),
        hubspot_id: Some(HS),
        salesforce_object: Some(SfObject::Lead),
        salesforce: Some(&sf),
        hubspot: Some(&hs),
        ..PlanRecord::default()
    };
    let first = plan_record(&batch, &record);
    assert!(matches!(first.action, PlannedAction::Update { .. }));
    let second = settle(&batch, &record, &first);
    assert_eq!(second.action, PlannedAction::Unchanged);
    assert_eq!(second.written().count(), 0, "nothing travels back: {:?}", second.fields);
}

#[test]
fn a_record_deleted_on_its_own_side_only_loses_its_link() {
    let config = config("");
    let batch = batch(&config, ObjectPair::Contact);
    let hs = hs(ObjectPair::Contact, json!({"email": "ada@example.com"}), 1);
    let record = PlanRecord { hubspot: Some(&hs), origin_missing: true, ..PlanRecord::default() };
    let plan = plan_record(&batch, &record);
    assert_eq!(plan.action, PlannedAction::LinkGone);
    assert!(!plan.store_link);
    assert!(plan.fields.is_empty());
}

#[test]
fn a_new_hubspot_contact_creates_a_lead_keyed_by_its_hubspot_id_with_placeholders_for_required_fields() {
    let config = config("");
    let batch = batch(&config, ObjectPair::Contact);
    let hs = hs(ObjectPair::Contact, json!({"email": "ada@example.com", "firstname": "Ada"}), 1);
    let record = PlanRecord { hubspot_id: Some(HS), hubspot: Some(&hs), ..PlanRecord::default() };
    let plan = plan_record(&batch, &record);
    let PlannedAction::CreateSalesforce { object, fields } = &plan.action else {
        panic!("expected a Salesforce create, got {:?}", plan.action)
    };
    assert_eq!(*object, SfObject::Lead);
    assert_eq!(fields.get(SALESFORCE_HUBSPOT_ID_FIELD), Some(&json!(HS)));
    assert_eq!(fields.get("LastName"), Some(&json!(NOT_PROVIDED)));
    assert_eq!(fields.get("Company"), Some(&json!(NOT_PROVIDED)));
    assert_eq!(plan.reason("LastName"), Some(FieldReason::RequiredPlaceholder));
    assert_eq!(plan.reason(SALESFORCE_HUBSPOT_ID_FIELD), Some(FieldReason::CreateKey));
    let print = plan.link.fingerprints.get("lastname<->LastName").unwrap();
    assert_eq!(print.salesforce, Fingerprint::of("lastname<->LastName", &Some(NOT_PROVIDED.to_owned())));
}

#[test]
fn a_create_with_no_key_is_incomplete_and_stores_no_link() {
    let config = config("");
    let batch = batch(&config, ObjectPair::Contact);
    let hs = hs(ObjectPair::Contact, json!({"email": "ada@example.com"}), 1);
    let record = PlanRecord { hubspot_id: None, hubspot: Some(&hs), ..PlanRecord::default() };
    let plan = plan_record(&batch, &record);
    assert_eq!(plan.action, PlannedAction::Incomplete);
    assert!(!plan.store_link);
}

#[test]
fn a_new_opportunity_carries_the_account_of_its_deals_company_and_the_stage_as_a_label() {
    let config = config("objects: {companies: true, deals: true}\n");
    let batch = batch(&config, ObjectPair::Deal);
    let hs = hs(ObjectPair::Deal, json!({"dealname": "Big", "dealstage": "closedwon"}), 1);
    let record =
        PlanRecord { hubspot_id: Some(HS), hubspot: Some(&hs), deal_account: Some(ACCOUNT), ..PlanRecord::default() };
    let plan = plan_record(&batch, &record);
    let PlannedAction::CreateSalesforce { object, fields } = &plan.action else {
        panic!("expected a Salesforce create, got {:?}", plan.action)
    };
    assert_eq!(*object, SfObject::Opportunity);
    assert_eq!(fields.get(ACCOUNT_ID_FIELD), Some(&json!(ACCOUNT)));
    assert_eq!(fields.get(STAGE_FIELD), Some(&json!("Closed Won")));
    assert_eq!(plan.reason(ACCOUNT_ID_FIELD), Some(FieldReason::AccountFromDealCompany));
}

#[test]
fn a_new_hubspot_deal_is_keyed_by_its_salesforce_id_joins_the_default_pipeline_and_follows_its_account() {
    let config = config("objects: {companies: true, deals: true}\n");
    let batch = batch(&config, ObjectPair::Deal);
    let sf = sf(OPPORTUNITY, SfObject::Opportunity, json!({"Name": "Big", "AccountId": ACCOUNT}), 1);
    let record = PlanRecord {
        salesforce_id: Some(OPPORTUNITY),
        salesforce_object: Some(SfObject::Opportunity),
        salesforce: Some(&sf),
        ..PlanRecord::default()
    };
    let plan = plan_record(&batch, &record);
    let PlannedAction::CreateHubSpot { key, properties } = &plan.action else {
        panic!("expected a HubSpot create, got {:?}", plan.action)
    };
    assert_eq!(key, OPPORTUNITY);
    assert_eq!(properties.get(HUBSPOT_SALESFORCE_ID_PROPERTY), Some(&json!(OPPORTUNITY)));
    assert_eq!(properties.get(PIPELINE_PROPERTY), Some(&json!(DEFAULT_PIPELINE)));
    assert_eq!(plan.follow_account, Some(SalesforceId::parse(ACCOUNT).unwrap()));
    assert_eq!(plan.reason(PIPELINE_PROPERTY), Some(FieldReason::DefaultPipeline));
}

#[test]
fn a_new_hubspot_contact_is_keyed_by_email_and_carries_no_opt_out() {
    let config = config("");
    let batch = batch(&config, ObjectPair::Contact);
    let sf = sf(LEAD, SfObject::Lead, json!({"Email": "ada@example.com", "HasOptedOutOfEmail": true}), 1);
    let record = PlanRecord {
        salesforce_id: Some(LEAD),
        salesforce_object: Some(SfObject::Lead),
        salesforce: Some(&sf),
        ..PlanRecord::default()
    };
    let plan = plan_record(&batch, &record);
    let PlannedAction::CreateHubSpot { key, properties } = &plan.action else {
        panic!("expected a HubSpot create, got {:?}", plan.action)
    };
    assert_eq!(key, "ada@example.com");
    assert!(!properties.contains_key(HUBSPOT_OPT_OUT_PROPERTY));
    assert!(!properties.contains_key(HUBSPOT_SALESFORCE_ID_PROPERTY));
}

#[test]
fn an_opt_out_travels_as_the_contacts_email_not_as_a_property_write() {
    let config = config("");
    let batch = batch(&config, ObjectPair::Contact);
    let key = "hs_email_optout<->HasOptedOutOfEmail";
    let mut link = LinkState::default();
    link.fingerprints.insert(key.into(), crate::rules::FieldFingerprint::of(key, &None, &None));
    let sf = sf(LEAD, SfObject::Lead, json!({"Email": "ada@example.com", "HasOptedOutOfEmail": true}), 5);
    let hs = hs(ObjectPair::Contact, json!({"email": "Ada@Example.com"}), 1);
    let record = PlanRecord {
        salesforce_id: Some(LEAD),
        hubspot_id: Some(HS),
        salesforce_object: Some(SfObject::Lead),
        salesforce: Some(&sf),
        hubspot: Some(&hs),
        link: Some(&link),
        ..PlanRecord::default()
    };
    let plan = plan_record(&batch, &record);
    let PlannedAction::Update { hubspot, opt_out, .. } = &plan.action else {
        panic!("expected an update, got {:?}", plan.action)
    };
    assert_eq!(opt_out.as_deref(), Some("ada@example.com"));
    assert!(hubspot.as_ref().is_none_or(|h| !h.properties.contains_key(HUBSPOT_OPT_OUT_PROPERTY)));
    assert_eq!(plan.reason(key), Some(FieldReason::OptOutTravels));
}

#[test]
fn changed_campaigns_are_written_to_hubspot_and_equal_ones_are_not() {
    let config = config("");
    let batch = batch(&config, ObjectPair::Contact);
    let sf = sf(LEAD, SfObject::Lead, json!({"Email": "ada@example.com", "LastName": "L"}), 1);
    let hs =
        hs(ObjectPair::Contact, json!({"email": "ada@example.com", "lastname": "L", "salesforce_campaigns": "A"}), 1);
    let mut record = PlanRecord {
        salesforce_id: Some(LEAD),
        hubspot_id: Some(HS),
        salesforce_object: Some(SfObject::Lead),
        salesforce: Some(&sf),
        hubspot: Some(&hs),
        campaigns: Some("A; B"),
        ..PlanRecord::default()
    };
    let plan = plan_record(&batch, &record);
    let PlannedAction::Update { hubspot: Some(update), .. } = &plan.action else {
        panic!("expected a HubSpot update, got {:?}", plan.action)
    };
    assert_eq!(update.properties.get(SALESFORCE_CAMPAIGNS_PROPERTY), Some(&json!("A; B")));
    assert_eq!(plan.reason(SALESFORCE_CAMPAIGNS_PROPERTY), Some(FieldReason::CampaignMembershipChanged));
    record.campaigns = Some("A");
    let plan = plan_record(&batch, &record);
    assert_eq!(plan.reason(SALESFORCE_CAMPAIGNS_PROPERTY), None);
    assert!(
        !matches!(&plan.action, PlannedAction::Update { hubspot: Some(h), .. } if h.properties.contains_key(SALESFORCE_CAMPAIGNS_PROPERTY))
    );
}

#[test]
fn a_hubspot_company_creates_an_account_only_when_its_contacts_say_so_or_when_forced() {
    let config = config("objects: {companies: true}\n");
    let batch = batch(&config, ObjectPair::Company);
    let hs = hs(ObjectPair::Company, json!({"name": "Acme"}), 1);
    let mut record = PlanRecord { hubspot_id: Some(HS), hubspot: Some(&hs), ..PlanRecord::default() };
    let refused = plan_record(&batch, &record);
    assert_eq!(refused.action, PlannedAction::Skip { reason: SkipReason::CreateNotAllowed });
    record.creates_account = Some(true);
    assert!(matches!(plan_record(&batch, &record).action, PlannedAction::CreateSalesforce { .. }));
    record.creates_account = Some(false);
    record.forced = true;
    assert!(matches!(plan_record(&batch, &record).action, PlannedAction::CreateSalesforce { .. }));
}

#[test]
fn a_contact_outside_the_segment_list_is_skipped_and_a_member_is_not() {
    let config = config("inclusion_segment: {hubspot_list: \"7\"}\n");
    let sf = sf(LEAD, SfObject::Lead, json!({"Email": "ada@example.com", "Title": "CTO"}), 5);
    let hs = hs(ObjectPair::Contact, json!({"email": "ada@example.com"}), 1);
    let record = PlanRecord {
        salesforce_id: Some(LEAD),
        hubspot_id: Some(HS),
        salesforce_object: Some(SfObject::Lead),
        salesforce: Some(&sf),
        hubspot: Some(&hs),
        ..PlanRecord::default()
    };
    let outside = batch(&config, ObjectPair::Contact);
    assert_eq!(
        plan_record(&outside, &record).action,
        PlannedAction::Skip { reason: SkipReason::NotInInclusionSegment }
    );
    let members: HashSet<String> = [HS.to_owned()].into();
    let inside = BatchInputs { segment_members: Some(&members), ..outside };
    assert!(matches!(plan_record(&inside, &record).action, PlannedAction::Update { .. }));
}

#[test]
fn a_contact_with_an_account_follows_it_on_first_sync_but_not_once_linked_and_unchanged() {
    let config = config("objects: {companies: true}\n");
    let batch = batch(&config, ObjectPair::Contact);
    let sf = sf(CONTACT, SfObject::Contact, json!({"Email": "ada@example.com", "AccountId": ACCOUNT}), 1);
    let record = PlanRecord {
        salesforce_id: Some(CONTACT),
        salesforce_object: Some(SfObject::Contact),
        salesforce: Some(&sf),
        ..PlanRecord::default()
    };
    let first = plan_record(&batch, &record);
    assert_eq!(first.follow_account, Some(SalesforceId::parse(ACCOUNT).unwrap()));
    let linked_hs = hs(ObjectPair::Contact, json!({"email": "ada@example.com", "salesforceaccountid": ACCOUNT}), 1);
    let linked = PlanRecord { hubspot_id: Some(HS), hubspot: Some(&linked_hs), ..record };
    let settled = settle(&batch, &linked, &plan_record(&batch, &linked));
    assert_eq!(settled.follow_account, None);
}

#[test]
fn a_lifecycle_stage_that_moved_since_the_link_is_a_change_to_carry_and_is_remembered() {
    let config = config("objects: {companies: true}\n");
    let batch = batch(&config, ObjectPair::Contact);
    let sf = sf(LEAD, SfObject::Lead, json!({"Email": "ada@example.com", "LastName": "L"}), 1);
    let hs =
        hs(ObjectPair::Contact, json!({"email": "ada@example.com", "lastname": "L", "lifecyclestage": "customer"}), 1);
    let record = PlanRecord {
        salesforce_id: Some(LEAD),
        hubspot_id: Some(HS),
        salesforce_object: Some(SfObject::Lead),
        salesforce: Some(&sf),
        hubspot: Some(&hs),
        previous_lifecycle_stage: Some("lead"),
        ..PlanRecord::default()
    };
    let plan = plan_record(&batch, &record);
    assert_eq!(
        plan.lifecycle_change,
        Some(LifecycleChange { previous: Some("lead".into()), current: "customer".into() })
    );
    assert_eq!(plan.lifecycle_stage.as_deref(), Some("customer"));
    let same = PlanRecord { previous_lifecycle_stage: Some("customer"), ..record };
    assert_eq!(plan_record(&batch, &same).lifecycle_change, None);
}

#[test]
fn an_unmatched_owner_is_counted_and_not_written() {
    let config = config("");
    let batch = batch(&config, ObjectPair::Contact);
    let sf = sf(LEAD, SfObject::Lead, json!({"Email": "ada@example.com", "OwnerId": "005000000000001"}), 5);
    let hs = hs(ObjectPair::Contact, json!({"email": "ada@example.com"}), 1);
    let record = PlanRecord {
        salesforce_id: Some(LEAD),
        hubspot_id: Some(HS),
        salesforce_object: Some(SfObject::Lead),
        salesforce: Some(&sf),
        hubspot: Some(&hs),
        ..PlanRecord::default()
    };
    let plan = plan_record(&batch, &record);
    assert_eq!(plan.owners_not_matched, 1);
    assert_eq!(plan.reason("hubspot_owner_id<->OwnerId"), Some(FieldReason::OwnerNotMatched));
    assert!(
        !matches!(&plan.action, PlannedAction::Update { hubspot: Some(h), .. } if h.properties.contains_key("hubspot_owner_id"))
    );
}

#[test]
fn a_batch_gives_one_plan_per_record_in_input_order() {
    let config = config("");
    let batch = batch(&config, ObjectPair::Contact);
    let hs = hs(ObjectPair::Contact, json!({"email": "ada@example.com"}), 1);
    let records = [
        PlanRecord { hubspot: Some(&hs), origin_missing: true, ..PlanRecord::default() },
        PlanRecord { hubspot_id: Some(HS), hubspot: Some(&hs), ..PlanRecord::default() },
        PlanRecord::default(),
    ];
    let plans = plan_batch(&batch, &records);
    assert_eq!(plans.len(), 3);
    assert_eq!(plans[0].action, PlannedAction::LinkGone);
    assert!(matches!(plans[1].action, PlannedAction::CreateSalesforce { .. }));
    assert_eq!(plans[2].action, PlannedAction::Skip { reason: SkipReason::NoRecord });
}

/// The link an email-only import stores: decided as a forced create, then
/// narrowed to what the upsert sent (the email only).
fn email_only_import_link(config: &SyncConfig, sf: &RecordSnapshot, created: bool) -> LinkState {
    let decision = decide(&DecisionInput {
        config,
        pair: ObjectPair::Contact,
        salesforce: Some(sf),
        hubspot: None,
        link: None,
        owners: None,
        context: DecisionContext { forced: true, in_inclusion_segment: true, create_allowed: true },
    });
    let sent: FieldMap = decision
        .hubspot_writes
        .iter()
        .filter(|(k, _)| *k == HUBSPOT_EMAIL_PROPERTY)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    decision.link_for_upsert(config, ObjectPair::Contact, |p| sent.contains_key(p), created)
}

const TITLE_TWO_WAY: &str =
    "mappings:\n  contact:\n    - hubspot: jobtitle\n      salesforce: Title\n      rule: two_way\n";

#[test]
fn a_link_after_an_email_only_upsert_has_no_fingerprint_for_the_fields_left_out() {
    let config = config(TITLE_TWO_WAY);
    let sf = sf(
        LEAD,
        SfObject::Lead,
        json!({"Email": "grace@example.com", "Title": "Rear Admiral", "LastName": "Hopper"}),
        1,
    );
    let link = email_only_import_link(&config, &sf, true);
    assert!(!link.fingerprints.contains_key("jobtitle<->Title"), "{:?}", link.fingerprints);
    assert!(!link.fingerprints.contains_key("lastname<->LastName"), "{:?}", link.fingerprints);
    // Blank on both sides of a record the upsert created: known equal.
    assert!(link.fingerprints.contains_key("phone<->Phone"), "{:?}", link.fingerprints);
    // An upsert that met an existing HubSpot contact says nothing of its
    // other properties.
    let link = email_only_import_link(&config, &sf, false);
    assert!(!link.fingerprints.contains_key("phone<->Phone"), "{:?}", link.fingerprints);
}

#[test]
fn a_contact_imported_with_its_email_only_that_joins_the_segment_fills_hubspot_and_never_blanks_salesforce() {
    let config = config(TITLE_TWO_WAY);
    let batch = batch(&config, ObjectPair::Contact);
    let sf = sf(
        LEAD,
        SfObject::Lead,
        json!({"Email": "grace@example.com", "Title": "Rear Admiral", "LastName": "Hopper"}),
        1,
    );
    let link = email_only_import_link(&config, &sf, true);
    // Later, in HubSpot: the email and whatever the user changed, newer.
    let hs = hs(ObjectPair::Contact, json!({"email": "grace@example.com", "lifecyclestage": "customer"}), 5);
    let record = PlanRecord {
        salesforce_id: Some(LEAD),
        hubspot_id: Some(HS),
        salesforce_object: Some(SfObject::Lead),
        salesforce: Some(&sf),
        hubspot: Some(&hs),
        link: Some(&link),
        ..PlanRecord::default()
    };
    let plan = plan_record(&batch, &record);
    let PlannedAction::Update { salesforce, hubspot, .. } = &plan.action else {
        panic!("expected an update, got {:?}", plan.action)
    };
    assert_eq!(*salesforce, None, "nothing is cleared in Salesforce");
    let hubspot = hubspot.as_ref().unwrap();
    assert_eq!(hubspot.properties.get("jobtitle"), Some(&json!("Rear Admiral")));
    assert_eq!(hubspot.properties.get("lastname"), Some(&json!("Hopper")));
    assert_eq!(plan.reason("jobtitle<->Title"), Some(FieldReason::HubSpotBlankFilled));
    assert_eq!(settle(&batch, &record, &plan).action, PlannedAction::Unchanged);
}

#[test]
fn a_field_an_import_left_out_is_synced_by_the_first_sync_rules_not_kept_as_a_new_mapping() {
    let config = config(TITLE_TWO_WAY);
    let batch = batch(&config, ObjectPair::Contact);
    let sf = sf(LEAD, SfObject::Lead, json!({"Email": "grace@example.com", "LastName": "Hopper"}), 1);
    // The upsert met an existing HubSpot contact with its own last name.
    let link = email_only_import_link(&config, &sf, false);
    assert!(link.never_written.contains("lastname<->LastName"), "{link:?}");
    let hs = hs(ObjectPair::Contact, json!({"email": "grace@example.com", "lastname": "Smith"}), 5);
    let record = PlanRecord {
        salesforce_id: Some(LEAD),
        hubspot_id: Some(HS),
        salesforce_object: Some(SfObject::Lead),
        salesforce: Some(&sf),
        hubspot: Some(&hs),
        link: Some(&link),
        ..PlanRecord::default()
    };
    let plan = plan_record(&batch, &record);
    // Prefer Salesforce unless blank, on a first sync: Salesforce's value
    // wins (a new mapping would have kept both).
    assert_eq!(plan.reason("lastname<->LastName"), Some(FieldReason::SalesforceValueWins));
    let PlannedAction::Update { hubspot: Some(hubspot), .. } = &plan.action else {
        panic!("expected a HubSpot update, got {:?}", plan.action)
    };
    assert_eq!(hubspot.properties.get("lastname"), Some(&json!("Hopper")));
    assert!(!plan.link.never_written.contains("lastname<->LastName"), "synced now: {:?}", plan.link);
    assert_eq!(settle(&batch, &record, &plan).action, PlannedAction::Unchanged);
}
