//! SPEC section 4, lifecycle stage: a contact's HubSpot lifecycle stage,
//! when it changed since its link was stored (the planner tells), is given to its associated
//! companies (never moved backwards; the rule is the domain's
//! `lifecycle_stage_for_company`).
//!
//! Runs after the contacts' own writes and only for contacts that synced.
//! A failure is counted in sync health and undoes nothing.

use crate::codec::category_name;
use crate::ports::{HUBSPOT_BATCH, WriteResult};
use crate::usecases::sync::{PairSync, RecordResult};
use crm_sync_crm::error::CrmError;
use crm_sync_domain::error::ErrorCategory;
use crm_sync_domain::special::{LIFECYCLE_STAGE, lifecycle_stage_for_company};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tracing::warn;

impl PairSync<'_> {
    /// SPEC section 4, lifecycle stage: contacts whose stage changed (and
    /// synced) give that stage to their associated companies. One call per
    /// 100 contacts for the associations, per 100 companies to read and to
    /// update. A failure is recorded in sync health and undoes nothing.
    pub(in crate::usecases::sync) async fn carry_lifecycle_stages(
        &mut self,
        changes: Vec<(usize, Option<String>, String)>,
    ) {
        let changes: Vec<(usize, Option<String>, String)> =
            changes.into_iter().filter(|(u, _, _)| matches!(self.units[*u].result, Some(RecordResult::Done))).collect();
        let config = self.app.config();
        let mut writes: BTreeMap<String, String> = BTreeMap::new();
        for chunk in changes.chunks(HUBSPOT_BATCH) {
            let ids: Vec<String> = chunk.iter().filter_map(|(u, _, _)| self.units[*u].hs_id.clone()).collect();
            let result = async {
                let associated = self.app.hubspot().associated_ids("contacts", "companies", &ids).await?;
                let companies: Vec<String> =
                    associated.values().flatten().cloned().collect::<BTreeSet<_>>().into_iter().collect();
                let mut current: HashMap<String, Option<String>> = HashMap::new();
                for part in companies.chunks(HUBSPOT_BATCH) {
                    let read =
                        self.app.hubspot().batch_read("companies", part, None, &[LIFECYCLE_STAGE.to_owned()]).await?;
                    for r in read {
                        let stage = r.properties.get(LIFECYCLE_STAGE).and_then(Value::as_str).map(str::to_owned);
                        current.insert(r.id, stage);
                    }
                }
                Ok::<_, CrmError>((associated, current))
            }
            .await;
            let (associated, current) = match result {
                Ok(found) => found,
                Err(error) => {
                    warn!(%error, "LifecycleStageNotCarried");
                    *self.stats.errors.entry(category_name(ErrorCategory::Associations)).or_default() += 1;
                    continue;
                }
            };
            for (u, previous, stage) in chunk {
                let Some(contact) = self.units[*u].hs_id.as_ref() else { continue };
                for company in associated.get(contact).into_iter().flatten() {
                    let company_stage =
                        writes.get(company).cloned().or_else(|| current.get(company).cloned().flatten());
                    if let Some((_, value)) =
                        lifecycle_stage_for_company(config, previous.as_deref(), Some(stage), company_stage.as_deref())
                    {
                        writes.insert(company.clone(), value);
                    }
                }
            }
        }
        let inputs: Vec<(String, Map<String, Value>)> = writes
            .into_iter()
            .map(|(company, stage)| {
                let mut props = Map::new();
                props.insert(LIFECYCLE_STAGE.to_owned(), Value::String(stage));
                (company, props)
            })
            .collect();
        for chunk in inputs.chunks(HUBSPOT_BATCH) {
            match self.app.hubspot().batch_update("companies", chunk).await {
                Ok(results) => {
                    let done = results.iter().filter(|r| matches!(r, WriteResult::Ok { .. })).count() as u64;
                    *self.stats.updated.entry("hubspot:company_lifecycle_stage".into()).or_default() += done;
                    let failed = results.len() as u64 - done;
                    if failed > 0 {
                        warn!(failed, "LifecycleStageNotCarried");
                        *self
                            .stats
                            .errors
                            .entry(category_name(ErrorCategory::PropertyValueOrValidation))
                            .or_default() += failed;
                    }
                }
                Err(error) => {
                    warn!(%error, "LifecycleStageNotCarried");
                    *self.stats.errors.entry(category_name(ErrorCategory::Other)).or_default() += 1;
                }
            }
        }
    }
}
