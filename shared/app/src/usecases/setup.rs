//! Checking a pair of accounts before the sync runs, and creating what the
//! APIs can create (`crm-sync setup`, alias `doctor`).
//!
//! [`setup_check`] reads both CRMs and answers item by item: the integration
//! user's access to each synced object, the `HubSpot_Id__c` External ID
//! (unique) on each, field-level security of every mapped field, the
//! outbound messages, the HubSpot token's scopes, crm-sync's own HubSpot
//! properties, the inclusion segment, and the webhook subscriptions (which a
//! private app cannot read: always a step to do by hand). Each item says how
//! to fix it; the ones an API can fix carry a [`SetupAction`], which
//! [`setup_apply`] performs. The caller prints; nothing here writes to the
//! terminal.
//!
//! Ready means no item is missing or wrong. Items to check by hand do not
//! stop readiness: the sync runs without webhooks (the sweep picks changes
//! up), only later.

use crate::ports::{HubspotSetup, ObjectAccess, OutboundMessage, SalesforceSetup};
use crm_sync_crm::error::CrmError;
use crm_sync_domain::config::{InclusionSegment, SpecialField, SyncConfig, SyncRule};
use crm_sync_domain::{ObjectPair, SfObject};
use std::collections::BTreeSet;

/// The External ID field crm-sync upserts Salesforce records by.
pub const HUBSPOT_ID_FIELD: &str = "HubSpot_Id__c";
/// Its label in Salesforce.
pub const HUBSPOT_ID_LABEL: &str = "HubSpot Id";
/// Its length: HubSpot record ids are numbers of at most 20 digits; room
/// is left for ids of other forms.
pub const HUBSPOT_ID_LENGTH: u32 = 255;
/// The HubSpot property holding a company's or deal's Salesforce id.
pub const SALESFORCE_ID_PROPERTY: &str = crm_sync_domain::plan::HUBSPOT_SALESFORCE_ID_PROPERTY;
/// The HubSpot contact property listing the Salesforce campaigns.
pub const CAMPAIGNS_PROPERTY: &str = crm_sync_domain::properties::SALESFORCE_CAMPAIGNS_PROPERTY;
/// The path outbound messages are sent to, under the public URL.
pub const OUTBOUND_PATH: &str = "/webhooks/salesforce";
/// The path HubSpot webhooks are sent to, under the public URL.
pub const WEBHOOK_PATH: &str = "/webhooks/hubspot";

/// What one item is like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupStatus {
    /// As the sync needs it.
    Ok,
    /// Not there.
    Missing,
    /// There, but not as the sync needs it (or it could not be read).
    Wrong,
    /// Cannot be checked through the APIs: the fix says what to do.
    Manual,
}

impl SetupStatus {
    /// The word the table prints.
    pub fn label(self) -> &'static str {
        match self {
            SetupStatus::Ok => "ok",
            SetupStatus::Missing => "missing",
            SetupStatus::Wrong => "wrong",
            SetupStatus::Manual => "check by hand",
        }
    }
}

/// Which CRM an item is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupSystem {
    Salesforce,
    HubSpot,
}

impl SetupSystem {
    pub fn label(self) -> &'static str {
        match self {
            SetupSystem::Salesforce => "Salesforce",
            SetupSystem::HubSpot => "HubSpot",
        }
    }
}

/// Something `setup --apply` creates through an API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupAction {
    /// The `HubSpot_Id__c` External ID (unique) text field on an object.
    CreateExternalIdField { object: String },
    /// The unique `salesforce_id` property on a HubSpot object.
    CreateSalesforceIdProperty { object: String },
    /// The contacts' `salesforce_campaigns` multi-line text property.
    CreateCampaignsProperty,
}

impl SetupAction {
    /// What it will do, in one line.
    pub fn describe(&self) -> String {
        match self {
            SetupAction::CreateExternalIdField { object } => format!(
                "Salesforce: create the field {HUBSPOT_ID_FIELD} (\"{HUBSPOT_ID_LABEL}\", text {HUBSPOT_ID_LENGTH}, External ID, unique) on {object} through the Tooling API"
            ),
            SetupAction::CreateSalesforceIdProperty { object } => format!(
                "HubSpot: create the property {SALESFORCE_ID_PROPERTY} (\"Salesforce ID\", single-line text, unique values) on {object}"
            ),
            SetupAction::CreateCampaignsProperty => format!(
                "HubSpot: create the property {CAMPAIGNS_PROPERTY} (\"Salesforce Campaigns\", multi-line text) on contacts"
            ),
        }
    }
}

/// One checked item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupItem {
    pub system: SetupSystem,
    /// What was checked ("Lead: HubSpot_Id__c").
    pub item: String,
    pub status: SetupStatus,
    /// What was found, when there is more to say than the status.
    pub detail: String,
    /// How to fix it (empty when ok).
    pub fix: String,
    /// What `--apply` does about it, when an API can.
    pub action: Option<SetupAction>,
}

impl SetupItem {
    fn new(system: SetupSystem, item: impl Into<String>, status: SetupStatus) -> Self {
        SetupItem { system, item: item.into(), status, detail: String::new(), fix: String::new(), action: None }
    }
    fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }
    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = fix.into();
        self
    }
    fn action(mut self, action: SetupAction) -> Self {
        self.action = Some(action);
        self
    }
}

/// Every item, in the order they were checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SetupReport {
    pub items: Vec<SetupItem>,
}

impl SetupReport {
    /// No item is missing or wrong.
    pub fn ready(&self) -> bool {
        self.items.iter().all(|i| matches!(i.status, SetupStatus::Ok | SetupStatus::Manual))
    }

    /// What `--apply` would do, in order.
    pub fn actions(&self) -> Vec<SetupAction> {
        self.items.iter().filter_map(|i| i.action.clone()).collect()
    }

    /// The item about `item` of `system`, if it was checked.
    pub fn item(&self, system: SetupSystem, item: &str) -> Option<&SetupItem> {
        self.items.iter().find(|i| i.system == system && i.item == item)
    }
}

/// What one action came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedAction {
    pub action: SetupAction,
    /// `Err` says why it failed.
    pub outcome: Result<(), String>,
}

/// The Salesforce objects the config syncs, in a fixed order.
pub fn synced_objects(config: &SyncConfig) -> Vec<SfObject> {
    let mut out = vec![SfObject::Lead, SfObject::Contact];
    if config.objects.companies {
        out.push(SfObject::Account);
    }
    if config.objects.deals {
        out.push(SfObject::Opportunity);
    }
    out
}

/// The HubSpot scopes the sync needs under this config.
pub fn required_scopes(config: &SyncConfig) -> Vec<&'static str> {
    let mut scopes = vec![
        "crm.objects.contacts.read",
        "crm.objects.contacts.write",
        "crm.schemas.contacts.read",
        "crm.schemas.contacts.write",
    ];
    if config.mappings(ObjectPair::Contact).iter().any(|m| m.special == Some(SpecialField::Owner))
        || config
            .mappings(ObjectPair::Company)
            .iter()
            .chain(config.mappings(ObjectPair::Deal))
            .any(|m| m.special == Some(SpecialField::Owner) || m.hubspot_property == "hubspot_owner_id")
    {
        scopes.push("crm.objects.owners.read");
    }
    if config.objects.companies {
        scopes.extend([
            "crm.objects.companies.read",
            "crm.objects.companies.write",
            "crm.schemas.companies.read",
            "crm.schemas.companies.write",
        ]);
    }
    if config.objects.deals {
        scopes.extend([
            "crm.objects.deals.read",
            "crm.objects.deals.write",
            "crm.schemas.deals.read",
            "crm.schemas.deals.write",
        ]);
    }
    if matches!(config.inclusion_segment, Some(InclusionSegment::HubspotList(_))) {
        scopes.push("crm.lists.read");
    }
    if config
        .mappings(ObjectPair::Contact)
        .iter()
        .any(|m| m.special == Some(SpecialField::EmailOptOut) && m.rule != SyncRule::DontSync)
    {
        scopes.push("communication_preferences.read_write");
    }
    scopes
}

fn error_text(error: &CrmError) -> String {
    format!("{} {}: {}", error.status, error.code, error.message)
}

/// Checks both accounts against the config. `public_url` is where the
/// deployment receives webhooks (`https://...`, without the path); without
/// it the outbound messages' endpoints cannot be checked.
pub async fn setup_check(
    salesforce: &dyn SalesforceSetup,
    hubspot: &dyn HubspotSetup,
    config: &SyncConfig,
    public_url: Option<&str>,
) -> SetupReport {
    let public_url = public_url.map(|u| u.trim().trim_end_matches('/')).filter(|u| !u.is_empty());
    let mut items = Vec::new();
    check_salesforce(salesforce, config, public_url, &mut items).await;
    check_hubspot(hubspot, config, public_url, &mut items).await;
    SetupReport { items }
}

async fn check_salesforce(
    sf: &dyn SalesforceSetup,
    config: &SyncConfig,
    public_url: Option<&str>,
    items: &mut Vec<SetupItem>,
) {
    use SetupStatus::*;
    use SetupSystem::Salesforce;
    if let Err(error) = sf.sign_in().await {
        items.push(SetupItem::new(Salesforce, "API access", Wrong).detail(error_text(&error)).fix(
            "check the connected app and the credentials; the integration user needs the \"API Enabled\" permission",
        ));
        return;
    }
    items.push(SetupItem::new(Salesforce, "API access", Ok).detail("the integration user signed in"));

    let objects = synced_objects(config);
    let mut access: Vec<(SfObject, ObjectAccess)> = Vec::new();
    for object in &objects {
        let name = object.api_name();
        match sf.object_access(name).await {
            Result::Ok(a) => {
                let mut lacking = Vec::new();
                for (has, what) in [(a.queryable, "read"), (a.createable, "create"), (a.updateable, "edit")] {
                    if !has {
                        lacking.push(what);
                    }
                }
                let item = if lacking.is_empty() {
                    SetupItem::new(Salesforce, format!("{name}: object permissions"), Ok).detail("read, create, edit")
                } else {
                    SetupItem::new(Salesforce, format!("{name}: object permissions"), Wrong)
                        .detail(format!("the integration user cannot {} {name} records", lacking.join(", ")))
                        .fix(format!(
                            "give the integration user's profile or a permission set Read, Create and Edit on {name}"
                        ))
                };
                items.push(item);
                access.push((*object, a));
            }
            Err(error) => items.push(
                SetupItem::new(Salesforce, format!("{name}: object permissions"), Wrong)
                    .detail(error_text(&error))
                    .fix(format!(
                        "give the integration user's profile or a permission set Read, Create and Edit on {name}"
                    )),
            ),
        }
    }

    // The External ID field: visible in describe, or hidden by field-level
    // security, or not there at all (only then can setup create it).
    let invisible: Vec<&str> =
        access.iter().filter(|(_, a)| a.field(HUBSPOT_ID_FIELD).is_none()).map(|(o, _)| o.api_name()).collect();
    let existing = match sf.objects_with_custom_field(HUBSPOT_ID_FIELD, &invisible).await {
        Result::Ok(found) => Result::Ok(found),
        Err(error) => Err(error_text(&error)),
    };
    for (object, a) in &access {
        let name = object.api_name();
        let label = format!("{name}: {HUBSPOT_ID_FIELD}");
        let item = match a.field(HUBSPOT_ID_FIELD) {
            Some(f) if f.external_id && f.unique && f.createable && f.updateable => {
                SetupItem::new(Salesforce, label, Ok).detail("External ID, unique")
            }
            Some(f) if !(f.external_id && f.unique) => {
                let mut not = Vec::new();
                if !f.external_id {
                    not.push("an External ID");
                }
                if !f.unique {
                    not.push("unique");
                }
                SetupItem::new(Salesforce, label, Wrong).detail(format!("the field is not {}", not.join(" and "))).fix(
                    format!(
                        "Setup > Object Manager > {name} > Fields > {HUBSPOT_ID_FIELD} > Edit: tick \"External ID\" and \"Unique\""
                    ),
                )
            }
            Some(_) => SetupItem::new(Salesforce, label, Wrong).detail("the integration user cannot edit it").fix(
                format!("field-level security: give the integration user Edit access to {name}.{HUBSPOT_ID_FIELD}"),
            ),
            None => match &existing {
                Result::Ok(found) if found.iter().any(|o| o.eq_ignore_ascii_case(name)) => {
                    SetupItem::new(Salesforce, label, Wrong)
                        .detail("the field exists but the integration user cannot see it")
                        .fix(format!(
                            "field-level security: give the integration user Read and Edit access to {name}.{HUBSPOT_ID_FIELD}"
                        ))
                }
                Result::Ok(_) => SetupItem::new(Salesforce, label, Missing)
                    .detail("no such field")
                    .fix(format!(
                        "run `crm-sync setup --apply`, or create it by hand: text({HUBSPOT_ID_LENGTH}), External ID, Unique, on {name}"
                    ))
                    .action(SetupAction::CreateExternalIdField { object: name.to_owned() }),
                Err(error) => SetupItem::new(Salesforce, label, Missing)
                    .detail(format!("not visible; the Tooling API could not say whether it exists ({error})"))
                    .fix(format!(
                        "create it (text({HUBSPOT_ID_LENGTH}), External ID, Unique) on {name}, or give the integration user access to it"
                    )),
            },
        };
        items.push(item);
    }

    for (object, a) in &access {
        items.push(field_security(config, *object, a));
    }

    items.extend(outbound_items(sf, &objects, public_url).await);
}

/// Field-level security of the mapped fields of one object: each must be
/// visible, and writable when its rule can write Salesforce.
fn field_security(config: &SyncConfig, object: SfObject, access: &ObjectAccess) -> SetupItem {
    use SetupStatus::*;
    let name = object.api_name();
    let label = format!("{name}: field access");
    let mut hidden = BTreeSet::new();
    let mut read_only = BTreeSet::new();
    let mut checked = 0;
    for mapping in config.mappings_for(object).filter(|m| m.rule != SyncRule::DontSync) {
        checked += 1;
        let field = mapping.salesforce_field.as_str();
        match access.field(field) {
            None => {
                hidden.insert(field);
            }
            Some(f) => {
                let writes = mapping.rule.may_write_salesforce() && !mapping.salesforce_formula && !f.calculated;
                if writes && !f.updateable {
                    read_only.insert(field);
                }
            }
        }
    }
    if hidden.is_empty() && read_only.is_empty() {
        return SetupItem::new(SetupSystem::Salesforce, label, Ok).detail(format!("{checked} mapped fields"));
    }
    let mut detail = Vec::new();
    if !hidden.is_empty() {
        detail.push(format!("not visible: {}", hidden.iter().copied().collect::<Vec<_>>().join(", ")));
    }
    if !read_only.is_empty() {
        detail.push(format!("read-only: {}", read_only.iter().copied().collect::<Vec<_>>().join(", ")));
    }
    SetupItem::new(SetupSystem::Salesforce, label, Wrong).detail(detail.join("; ")).fix(format!(
        "field-level security on {name}: give the integration user Read access to every mapped field and Edit access to those it writes (or fix the field names in the settings file)"
    ))
}

async fn outbound_items(sf: &dyn SalesforceSetup, objects: &[SfObject], public_url: Option<&str>) -> Vec<SetupItem> {
    use SetupStatus::*;
    let expected = public_url.map(|u| format!("{u}{OUTBOUND_PATH}"));
    let endpoint = expected.clone().unwrap_or_else(|| format!("<public URL>{OUTBOUND_PATH}"));
    let steps = |name: &str| {
        format!(
            "Setup > Process Automation > Outbound Messages > New: object {name}, Endpoint URL {endpoint}, fields: Id and every mapped field; send it from a flow or workflow rule when a {name} is created or edited"
        )
    };
    let messages: Result<Vec<OutboundMessage>, String> = sf.outbound_messages().await.map_err(|e| error_text(&e));
    let mut items = Vec::new();
    for object in objects {
        let name = object.api_name();
        let label = format!("{name}: outbound message");
        let item = match (&messages, &expected) {
            (Err(error), _) => SetupItem::new(SetupSystem::Salesforce, label, Manual)
                .detail(format!("could not be read ({error}); the user needs \"View Setup and Configuration\""))
                .fix(steps(name)),
            (Result::Ok(all), expected) => {
                let here: Vec<&OutboundMessage> = all.iter().filter(|m| m.object.eq_ignore_ascii_case(name)).collect();
                match expected {
                    None => SetupItem::new(SetupSystem::Salesforce, label, Manual)
                        .detail(match here.len() {
                            0 => "none; the public URL is not set, so where they point cannot be checked".to_owned(),
                            _ => format!(
                                "to {}; set the public URL (--public-url) to check it",
                                here.iter().map(|m| m.endpoint_url.as_str()).collect::<Vec<_>>().join(", ")
                            ),
                        })
                        .fix(steps(name)),
                    Some(url) if here.iter().any(|m| m.endpoint_url.trim_end_matches('/') == url) => {
                        SetupItem::new(SetupSystem::Salesforce, label, Ok).detail(format!("to {url}"))
                    }
                    Some(_) if here.is_empty() => {
                        SetupItem::new(SetupSystem::Salesforce, label, Missing).detail("none").fix(steps(name))
                    }
                    Some(url) => SetupItem::new(SetupSystem::Salesforce, label, Wrong)
                        .detail(format!(
                            "points at {}, not {url}",
                            here.iter().map(|m| m.endpoint_url.as_str()).collect::<Vec<_>>().join(", ")
                        ))
                        .fix(format!("edit the outbound message's Endpoint URL to {url}")),
                }
            }
        };
        items.push(item);
    }
    items
}

async fn check_hubspot(
    hs: &dyn HubspotSetup,
    config: &SyncConfig,
    public_url: Option<&str>,
    items: &mut Vec<SetupItem>,
) {
    use SetupStatus::*;
    use SetupSystem::HubSpot;
    match hs.token_scopes().await {
        Result::Ok(granted) => {
            let missing: Vec<&str> =
                required_scopes(config).into_iter().filter(|s| !granted.iter().any(|g| g == s)).collect();
            items.push(if missing.is_empty() {
                SetupItem::new(HubSpot, "token scopes", Ok).detail(format!("{} scopes granted", granted.len()))
            } else {
                SetupItem::new(HubSpot, "token scopes", Wrong).detail(format!("missing: {}", missing.join(", "))).fix(
                    "Settings > Integrations > Private Apps > the app > Scopes: add them, then use the app's token",
                )
            });
        }
        Err(error) => {
            items.push(
                SetupItem::new(HubSpot, "token scopes", Wrong)
                    .detail(error_text(&error))
                    .fix("check the private app's access token (credentials: hubspot_access_token)"),
            );
            return;
        }
    }

    items.push(property_item(hs, "contacts", CAMPAIGNS_PROPERTY, false).await);
    for (on, object) in [(config.objects.companies, "companies"), (config.objects.deals, "deals")] {
        if on {
            items.push(property_item(hs, object, SALESFORCE_ID_PROPERTY, true).await);
        }
    }

    match &config.inclusion_segment {
        None => {}
        Some(InclusionSegment::HubspotList(id)) => {
            let label = format!("inclusion list {id}");
            items.push(match hs.list(id).await {
                Result::Ok(Some(list)) if list.object_type_id == "0-1" => {
                    SetupItem::new(HubSpot, label, Ok).detail(format!("\"{}\"", list.name))
                }
                Result::Ok(Some(list)) => SetupItem::new(HubSpot, label, Wrong)
                    .detail(format!("\"{}\" is not a contact list (object {})", list.name, list.object_type_id))
                    .fix("use the id of a contact list in inclusion_segment.hubspot_list"),
                Result::Ok(None) => SetupItem::new(HubSpot, label, Missing)
                    .detail("no such list")
                    .fix("create a contact list in HubSpot and put its id in inclusion_segment.hubspot_list"),
                Err(error) => SetupItem::new(HubSpot, label, Wrong)
                    .detail(error_text(&error))
                    .fix("grant the crm.lists.read scope to the private app"),
            });
        }
        Some(InclusionSegment::PropertyFilter { property, .. }) => {
            let label = format!("inclusion filter property {property}");
            items.push(match hs.property("contacts", property).await {
                Result::Ok(Some(_)) => SetupItem::new(HubSpot, label, Ok),
                Result::Ok(None) => SetupItem::new(HubSpot, label, Missing)
                    .detail("no such contact property")
                    .fix("create the property in HubSpot or fix inclusion_segment.property_filter.property"),
                Err(error) => SetupItem::new(HubSpot, label, Wrong).detail(error_text(&error)),
            });
        }
    }

    items.push(webhook_item(config, public_url));
}

async fn property_item(hs: &dyn HubspotSetup, object: &str, name: &str, unique: bool) -> SetupItem {
    use SetupStatus::*;
    let label = format!("{object}: {name}");
    let action = if unique {
        SetupAction::CreateSalesforceIdProperty { object: object.to_owned() }
    } else {
        SetupAction::CreateCampaignsProperty
    };
    match hs.property(object, name).await {
        Result::Ok(Some(p)) if unique && !p.unique => SetupItem::new(SetupSystem::HubSpot, label, Wrong)
            .detail("the property does not have unique values")
            .fix(format!(
                "HubSpot cannot make an existing property unique: archive {name} on {object}, then run `crm-sync setup --apply`"
            )),
        Result::Ok(Some(p)) if p.kind != "string" => SetupItem::new(SetupSystem::HubSpot, label, Wrong)
            .detail(format!("the property is of type {}, not text", p.kind))
            .fix(format!("archive {name} on {object}, then run `crm-sync setup --apply`")),
        Result::Ok(Some(_)) => SetupItem::new(SetupSystem::HubSpot, label, Ok),
        Result::Ok(None) => SetupItem::new(SetupSystem::HubSpot, label, Missing)
            .detail("no such property")
            .fix("run `crm-sync setup --apply` (the sync also creates it on first use)")
            .action(action),
        Err(error) => SetupItem::new(SetupSystem::HubSpot, label, Wrong)
            .detail(error_text(&error))
            .fix(format!("grant the crm.schemas.{object}.read and .write scopes to the private app")),
    }
}

/// The webhook subscriptions, as steps: a private app's subscriptions can
/// be neither read nor changed through the API.
fn webhook_item(config: &SyncConfig, public_url: Option<&str>) -> SetupItem {
    let target = public_url.map_or_else(|| format!("<public URL>{WEBHOOK_PATH}"), |u| format!("{u}{WEBHOOK_PATH}"));
    let mut subscriptions = Vec::new();
    for pair in [ObjectPair::Contact, ObjectPair::Company, ObjectPair::Deal] {
        if !config.objects.syncs(pair) {
            continue;
        }
        let object = match pair {
            ObjectPair::Contact => "contact",
            ObjectPair::Company => "company",
            ObjectPair::Deal => "deal",
        };
        let properties: BTreeSet<&str> = config
            .mappings(pair)
            .iter()
            .filter(|m| m.rule != SyncRule::DontSync && m.rule != SyncRule::AlwaysUseSalesforce)
            .map(|m| m.hubspot_property.as_str())
            .collect();
        subscriptions.push(format!(
            "{object}.creation, {object}.deletion, {object}.merge, {object}.propertyChange for {}",
            properties.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    SetupItem::new(SetupSystem::HubSpot, "webhook subscriptions", SetupStatus::Manual)
        .detail("a private app's subscriptions cannot be read through the API")
        .fix(format!("the app's Webhooks settings: target URL {target}; subscribe to {}", subscriptions.join("; ")))
}

/// Performs the actions in order, each on its own: one failing does not
/// stop the others.
pub async fn setup_apply(
    salesforce: &dyn SalesforceSetup,
    hubspot: &dyn HubspotSetup,
    actions: &[SetupAction],
) -> Vec<AppliedAction> {
    let mut out = Vec::with_capacity(actions.len());
    for action in actions {
        let outcome = match action {
            SetupAction::CreateExternalIdField { object } => {
                salesforce.create_external_id_field(object, HUBSPOT_ID_FIELD, HUBSPOT_ID_LABEL, HUBSPOT_ID_LENGTH).await
            }
            SetupAction::CreateSalesforceIdProperty { object } => {
                hubspot.create_unique_property(object, SALESFORCE_ID_PROPERTY).await
            }
            SetupAction::CreateCampaignsProperty => {
                hubspot.create_text_property("contacts", CAMPAIGNS_PROPERTY, "Salesforce Campaigns").await
            }
        };
        match &outcome {
            Result::Ok(()) => tracing::debug!(action = ?action, "setup action done"),
            Err(error) => tracing::warn!(action = ?action, %error, "setup action failed"),
        }
        out.push(AppliedAction { action: action.clone(), outcome: outcome.map_err(|e| error_text(&e)) });
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::ports::{FieldAccess, ListSummary, PropertyInfo};
    use async_trait::async_trait;
    use crm_sync_domain::System;
    use crm_sync_domain::error::{ErrorCategory, Verdict};
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    fn refused(status: u16, code: &str) -> CrmError {
        CrmError {
            system: System::Salesforce,
            status,
            code: code.into(),
            message: "refused".into(),
            category: ErrorCategory::PermissionsOrAccess,
            verdict: Verdict::Permanent,
            source: None,
        }
    }

    /// An org whose objects show every mapped field, editable, and no
    /// `HubSpot_Id__c` unless told.
    struct Org {
        sign_in: Result<(), u16>,
        objects: Mutex<BTreeMap<String, ObjectAccess>>,
        /// Objects where the field exists but describe does not show it.
        hidden: Vec<String>,
        outbound: Vec<OutboundMessage>,
    }

    impl Org {
        fn new(config: &SyncConfig) -> Org {
            let mut objects = BTreeMap::new();
            for object in synced_objects(config) {
                let fields = config
                    .mappings_for(object)
                    .map(|m| FieldAccess {
                        name: m.salesforce_field.clone(),
                        createable: !m.salesforce_formula,
                        updateable: !m.salesforce_formula,
                        calculated: m.salesforce_formula,
                        ..FieldAccess::default()
                    })
                    .collect();
                objects.insert(
                    object.api_name().to_owned(),
                    ObjectAccess { queryable: true, createable: true, updateable: true, fields },
                );
            }
            Org { sign_in: Ok(()), objects: Mutex::new(objects), hidden: Vec::new(), outbound: Vec::new() }
        }

        fn field(&self, object: &str, field: FieldAccess) {
            self.objects.lock().unwrap().get_mut(object).unwrap().fields.push(field);
        }

        fn with_messages(mut self, url: &str) -> Self {
            for object in ["Lead", "Contact", "Account", "Opportunity"] {
                self.outbound.push(OutboundMessage {
                    name: format!("to {object}"),
                    object: object.into(),
                    endpoint_url: url.into(),
                });
            }
            self
        }
    }

    #[async_trait]
    impl SalesforceSetup for Org {
        async fn sign_in(&self) -> Result<(), CrmError> {
            self.sign_in.map_err(|status| refused(status, "invalid_grant"))
        }
        async fn object_access(&self, object: &str) -> Result<ObjectAccess, CrmError> {
            self.objects.lock().unwrap().get(object).cloned().ok_or_else(|| refused(404, "NOT_FOUND"))
        }
        async fn objects_with_custom_field(&self, _field: &str, objects: &[&str]) -> Result<Vec<String>, CrmError> {
            Ok(self.hidden.iter().filter(|h| objects.contains(&h.as_str())).cloned().collect())
        }
        async fn outbound_messages(&self) -> Result<Vec<OutboundMessage>, CrmError> {
            Ok(self.outbound.clone())
        }
        async fn create_external_id_field(
            &self,
            object: &str,
            field: &str,
            _label: &str,
            _length: u32,
        ) -> Result<(), CrmError> {
            self.field(object, external_id(field));
            Ok(())
        }
    }

    fn external_id(name: &str) -> FieldAccess {
        FieldAccess {
            name: name.into(),
            createable: true,
            updateable: true,
            external_id: true,
            unique: true,
            calculated: false,
        }
    }

    struct Account {
        scopes: Vec<String>,
        properties: Mutex<BTreeMap<(String, String), PropertyInfo>>,
        lists: BTreeMap<String, ListSummary>,
    }

    impl Account {
        fn new() -> Account {
            Account {
                scopes: [
                    "crm.objects.contacts.read",
                    "crm.objects.contacts.write",
                    "crm.schemas.contacts.read",
                    "crm.schemas.contacts.write",
                    "crm.objects.owners.read",
                    "communication_preferences.read_write",
                ]
                .map(str::to_owned)
                .to_vec(),
                properties: Mutex::new(BTreeMap::new()),
                lists: BTreeMap::new(),
            }
        }
    }

    #[async_trait]
    impl HubspotSetup for Account {
        async fn token_scopes(&self) -> Result<Vec<String>, CrmError> {
            Ok(self.scopes.clone())
        }
        async fn property(&self, object: &str, name: &str) -> Result<Option<PropertyInfo>, CrmError> {
            Ok(self.properties.lock().unwrap().get(&(object.to_owned(), name.to_owned())).cloned())
        }
        async fn list(&self, list_id: &str) -> Result<Option<ListSummary>, CrmError> {
            Ok(self.lists.get(list_id).cloned())
        }
        async fn create_unique_property(&self, object: &str, name: &str) -> Result<(), CrmError> {
            let info = PropertyInfo { kind: "string".into(), field_type: "text".into(), unique: true };
            self.properties.lock().unwrap().insert((object.into(), name.into()), info);
            Ok(())
        }
        async fn create_text_property(&self, object: &str, name: &str, _label: &str) -> Result<(), CrmError> {
            let info = PropertyInfo { kind: "string".into(), field_type: "textarea".into(), unique: false };
            self.properties.lock().unwrap().insert((object.into(), name.into()), info);
            Ok(())
        }
    }

    const URL: &str = "https://sync.example";

    fn status(report: &SetupReport, system: SetupSystem, item: &str) -> SetupStatus {
        report.item(system, item).unwrap_or_else(|| panic!("no item {item}: {report:#?}")).status
    }

    #[tokio::test]
    async fn a_bare_pair_is_missing_the_fields_and_apply_creates_them_until_it_is_ready() {
        let config = SyncConfig::default();
        let org = Org::new(&config).with_messages(&format!("{URL}/webhooks/salesforce"));
        let account = Account::new();
        let report = setup_check(&org, &account, &config, Some("https://sync.example/")).await;
        assert!(!report.ready());
        assert_eq!(status(&report, SetupSystem::Salesforce, "Lead: HubSpot_Id__c"), SetupStatus::Missing);
        assert_eq!(status(&report, SetupSystem::Salesforce, "Lead: outbound message"), SetupStatus::Ok);
        assert_eq!(status(&report, SetupSystem::HubSpot, "token scopes"), SetupStatus::Ok);
        assert_eq!(
            report.actions(),
            [
                SetupAction::CreateExternalIdField { object: "Lead".into() },
                SetupAction::CreateExternalIdField { object: "Contact".into() },
                SetupAction::CreateCampaignsProperty,
            ]
        );
        let applied = setup_apply(&org, &account, &report.actions()).await;
        assert!(applied.iter().all(|a| a.outcome.is_ok()));
        let again = setup_check(&org, &account, &config, Some(URL)).await;
        assert!(again.ready(), "{again:#?}");
        assert_eq!(status(&again, SetupSystem::HubSpot, "webhook subscriptions"), SetupStatus::Manual);
        let webhooks = again.item(SetupSystem::HubSpot, "webhook subscriptions").unwrap();
        assert!(webhooks.fix.contains("https://sync.example/webhooks/hubspot"), "{webhooks:?}");
        assert!(webhooks.fix.contains("contact.propertyChange for "), "{webhooks:?}");
    }

    #[tokio::test]
    async fn a_field_hidden_by_field_level_security_or_not_unique_is_wrong_and_not_created_again() {
        let config = SyncConfig::default();
        let mut org = Org::new(&config);
        org.hidden.push("Lead".into());
        org.field("Contact", FieldAccess { unique: false, ..external_id(HUBSPOT_ID_FIELD) });
        let report = setup_check(&org, &Account::new(), &config, None).await;
        let lead = report.item(SetupSystem::Salesforce, "Lead: HubSpot_Id__c").unwrap();
        assert_eq!(lead.status, SetupStatus::Wrong);
        assert!(lead.fix.contains("field-level security"), "{lead:?}");
        let contact = report.item(SetupSystem::Salesforce, "Contact: HubSpot_Id__c").unwrap();
        assert_eq!((contact.status, contact.detail.as_str()), (SetupStatus::Wrong, "the field is not unique"));
        assert!(!report.actions().iter().any(|a| matches!(a, SetupAction::CreateExternalIdField { .. })));
        assert_eq!(status(&report, SetupSystem::Salesforce, "Lead: outbound message"), SetupStatus::Manual);
    }

    #[tokio::test]
    async fn mapped_fields_the_user_cannot_see_or_edit_are_named() {
        let config = SyncConfig::default();
        let org = Org::new(&config);
        {
            let mut objects = org.objects.lock().unwrap();
            let lead = objects.get_mut("Lead").unwrap();
            lead.fields.retain(|f| f.name != "Phone");
            lead.fields.iter_mut().filter(|f| f.name == "Title").for_each(|f| f.updateable = false);
            lead.createable = false;
        }
        let report = setup_check(&org, &Account::new(), &config, None).await;
        let access = report.item(SetupSystem::Salesforce, "Lead: field access").unwrap();
        assert_eq!(access.status, SetupStatus::Wrong);
        assert_eq!(access.detail, "not visible: Phone; read-only: Title");
        let object = report.item(SetupSystem::Salesforce, "Lead: object permissions").unwrap();
        assert_eq!(
            (object.status, object.detail.as_str()),
            (SetupStatus::Wrong, "the integration user cannot create Lead records")
        );
        assert_eq!(status(&report, SetupSystem::Salesforce, "Contact: field access"), SetupStatus::Ok);
    }

    #[tokio::test]
    async fn a_salesforce_sign_in_failure_is_the_only_salesforce_item() {
        let config = SyncConfig::default();
        let mut org = Org::new(&config);
        org.sign_in = Err(400);
        let report = setup_check(&org, &Account::new(), &config, Some(URL)).await;
        let salesforce: Vec<&SetupItem> = report.items.iter().filter(|i| i.system == SetupSystem::Salesforce).collect();
        assert_eq!(salesforce.len(), 1);
        assert_eq!((salesforce[0].item.as_str(), salesforce[0].status), ("API access", SetupStatus::Wrong));
        assert!(!report.ready());
    }

    #[tokio::test]
    async fn companies_deals_and_a_list_segment_need_their_scopes_properties_and_list() {
        let config = SyncConfig::from_yaml_str(
            "objects:\n  companies: true\n  deals: true\ninclusion_segment:\n  hubspot_list: \"7\"\n",
        )
        .unwrap();
        let scopes = required_scopes(&config);
        for scope in ["crm.objects.companies.write", "crm.schemas.deals.write", "crm.lists.read"] {
            assert!(scopes.contains(&scope), "{scope}");
        }
        let org = Org::new(&config);
        let mut account = Account::new();
        account.lists.insert("7".into(), ListSummary { name: "Companies".into(), object_type_id: "0-2".into() });
        account.properties.lock().unwrap().insert(
            ("deals".into(), SALESFORCE_ID_PROPERTY.into()),
            PropertyInfo { kind: "string".into(), field_type: "text".into(), unique: false },
        );
        let report = setup_check(&org, &account, &config, None).await;
        assert_eq!(status(&report, SetupSystem::HubSpot, "token scopes"), SetupStatus::Wrong);
        assert_eq!(status(&report, SetupSystem::HubSpot, "inclusion list 7"), SetupStatus::Wrong);
        assert_eq!(status(&report, SetupSystem::HubSpot, "companies: salesforce_id"), SetupStatus::Missing);
        assert_eq!(status(&report, SetupSystem::HubSpot, "deals: salesforce_id"), SetupStatus::Wrong);
        assert_eq!(status(&report, SetupSystem::Salesforce, "Opportunity: HubSpot_Id__c"), SetupStatus::Missing);
        assert!(report.actions().contains(&SetupAction::CreateSalesforceIdProperty { object: "companies".into() }));
        assert!(!report.actions().contains(&SetupAction::CreateSalesforceIdProperty { object: "deals".into() }));
    }
}
