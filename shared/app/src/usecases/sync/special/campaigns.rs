//! SPEC section 4, campaigns: the "Salesforce Campaigns" HubSpot contact
//! property, from the CampaignMember rows of the contact's Lead or Contact.
//!
//! Reads only (one SOQL query per 200 records); whether the value is written
//! is the planner's call (only when it differs from HubSpot's). The property
//! is created on first use.

use crate::codec::soql_escape;
use crate::ports::SALESFORCE_BATCH;
use crate::usecases::sync::PairSync;
use crm_sync_domain::special::campaigns_property_value;
use crm_sync_domain::{ObjectPair, SalesforceId, SfObject};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use tracing::warn;

impl PairSync<'_> {
    /// SPEC section 4, campaigns: the "Salesforce Campaigns" value of every
    /// contact unit with a Salesforce record, from its CampaignMember rows
    /// (one query per 200 Leads or Contacts). Units whose query fails are
    /// retried; no value is written for them.
    pub(in crate::usecases::sync) async fn campaign_names(&mut self) -> HashMap<usize, String> {
        let mut out = HashMap::new();
        if self.pair != ObjectPair::Contact {
            return out;
        }
        let mut by_object: BTreeMap<SfObject, Vec<(usize, String)>> = BTreeMap::new();
        for (u, unit) in self.units.iter().enumerate() {
            if let (None, false, Some(object), Some(_), Some(id)) =
                (&unit.result, unit.origin_missing, unit.sf_object, &unit.sf, &unit.sf_id)
            {
                by_object.entry(object).or_default().push((u, id.clone()));
            }
        }
        if by_object.is_empty() {
            return out;
        }
        if let Err(error) = self.app.ensure_campaigns_property().await {
            warn!(%error, "CampaignsPropertyNotReady");
            return out;
        }
        for (object, units) in by_object {
            let field = match object {
                SfObject::Lead => "LeadId",
                SfObject::Contact => "ContactId",
                _ => continue,
            };
            for chunk in units.chunks(SALESFORCE_BATCH) {
                let list = chunk.iter().map(|(_, id)| format!("'{}'", soql_escape(id))).collect::<Vec<_>>().join(",");
                let soql = format!("SELECT Id, {field}, Campaign.Name FROM CampaignMember WHERE {field} IN ({list})");
                match self.app.salesforce().query(&soql).await {
                    Ok(rows) => {
                        let mut names: HashMap<String, Vec<String>> = HashMap::new();
                        for row in rows {
                            let member =
                                row.fields.get(field).and_then(Value::as_str).and_then(|i| SalesforceId::parse(i).ok());
                            let name = row.fields.get("Campaign").and_then(|c| c.get("Name")).and_then(Value::as_str);
                            if let (Some(member), Some(name)) = (member, name) {
                                names.entry(member.as_str().to_owned()).or_default().push(name.to_owned());
                            }
                        }
                        for (u, id) in chunk {
                            let list = names.get(id).map(Vec::as_slice).unwrap_or_default();
                            out.insert(*u, campaigns_property_value(list.iter().map(String::as_str)));
                        }
                    }
                    Err(error) => {
                        let us: Vec<usize> = chunk.iter().map(|(u, _)| *u).collect();
                        self.fail_units(&us, &error);
                    }
                }
            }
        }
        out
    }
}
