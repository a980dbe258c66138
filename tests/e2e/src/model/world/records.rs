//! The world's part of shared emails and HubSpot merges: a person's other
//! Salesforce records (users create, edit and delete them), which record a
//! person syncs with (the oracle decides it and the world follows), the
//! Salesforce records a step named, and HubSpot merges and their webhooks.

use super::{Delivery, Named, World, api, email, sf};
use crate::model::actions::Action;
use crate::model::oracle::{Field, Rank, Sys};
use crm_sandbox::hubspot::{ObjectType, UserEdit};
use crm_sync_domain::SfObject;
use serde_json::{Value, json};

/// A Salesforce id in the 18-character form.
pub fn norm(id: &str) -> String {
    crm_sync_domain::SalesforceId::parse(id).map(|i| i.as_str().to_owned()).unwrap_or_else(|_| id.to_owned())
}

impl World {
    /// Applies a shared-email or HubSpot-merge action (see [`World::apply`]).
    pub(super) async fn apply_shared(&mut self, action: &Action) -> anyhow::Result<Option<Named>> {
        match action {
            Action::CreateDuplicate { person, contact, values } => {
                if !self.salesforce.contains_key(person) {
                    return Ok(None);
                }
                super::next_ms().await;
                let object = if *contact { SfObject::Contact } else { SfObject::Lead };
                let mut fields = json!({"Email": email(*person), "LastName": format!("Other{person}")});
                if !*contact {
                    fields["Company"] = json!("Acme");
                }
                for (f, v) in values {
                    fields[f.salesforce()] = if *f == Field::Owner {
                        self.owners.write(Sys::Salesforce, v)
                    } else {
                        v.clone().map_or(Value::Null, Value::String)
                    };
                }
                let id = self.h.sandbox.salesforce().create_as_user(object.api_name(), fields).map_err(sf)?;
                let id = norm(&id);
                self.note_born(&id);
                self.others.entry(*person).or_default().push((object, id.clone()));
                self.touched = Some(id);
                super::next_ms().await;
            }
            Action::EditDuplicate { person, nth, field, value } => {
                let Some((object, id)) = self.other(*person, *nth) else { return Ok(None) };
                super::next_ms().await;
                let v = if *field == Field::OptOut {
                    json!(value.is_some())
                } else if *field == Field::Owner {
                    self.owners.write(Sys::Salesforce, value)
                } else {
                    value.clone().map_or(Value::Null, Value::String)
                };
                let fields = json!({ field.salesforce(): v });
                self.h.sandbox.salesforce().update_as_user(object.api_name(), &id, fields).map_err(sf)?;
                self.touched = Some(id);
                super::next_ms().await;
            }
            Action::DeleteDuplicate { person, nth } => {
                let Some((object, id)) = self.other(*person, *nth) else { return Ok(None) };
                super::next_ms().await;
                self.h.sandbox.salesforce().delete_as_user(object.api_name(), &id).map_err(sf)?;
                if let Some(list) = self.others.get_mut(person) {
                    list.retain(|(_, i)| *i != id);
                }
                self.gone_salesforce.insert(id.clone(), *person);
                self.touched = Some(id);
                super::next_ms().await;
            }
            Action::MergeHubSpot { survivor, loser } => {
                let (Some(primary), Some(merged)) = (self.hubspot_id(*survivor), self.hubspot_id(*loser)) else {
                    return Ok(None);
                };
                if survivor == loser {
                    return Ok(None);
                }
                super::next_ms().await;
                let edit = UserEdit::Merge { object: ObjectType::Contacts, primary, merged };
                self.h.sandbox.hubspot().user_edit(edit).map_err(api)?;
                self.hubspot.remove(loser);
                self.gone_hubspot.insert(merged, *loser);
                super::next_ms().await;
            }
            _ => return Ok(None),
        }
        Ok(Some(Named::new()))
    }

    /// The person's `nth` other record (modulo how many there are).
    fn other(&self, person: usize, nth: usize) -> Option<(SfObject, String)> {
        let list = self.others.get(&person).filter(|l| !l.is_empty())?;
        list.get(nth % list.len()).cloned()
    }

    /// The ids of the person's other records.
    pub fn other_ids(&self, person: usize) -> Vec<(SfObject, String)> {
        self.others.get(&person).cloned().unwrap_or_default()
    }

    /// The person whose other records hold this id.
    pub(super) fn owner_of_other(&self, id: &str) -> Option<usize> {
        let id = norm(id);
        self.others.iter().find(|(_, list)| list.iter().any(|(_, i)| *i == id)).map(|(p, _)| *p)
    }

    /// The person a Salesforce record (live or gone) belongs to now.
    pub fn person_of_salesforce(&self, id: &str) -> Option<usize> {
        let id = norm(id);
        self.salesforce
            .iter()
            .find(|(_, (_, i))| norm(i) == id)
            .map(|(p, _)| *p)
            .or_else(|| self.owner_of_other(&id))
            .or_else(|| self.gone_salesforce.iter().find(|(i, _)| norm(i) == id).map(|(_, p)| *p))
    }

    pub(super) fn note_born(&mut self, id: &str) {
        let next = self.born.len() as u64;
        self.born.entry(norm(id)).or_insert(next);
    }

    /// What the pick rule reads of the record the person syncs with (a
    /// record first seen now, such as a conversion's Contact, counts as
    /// made now).
    pub fn main_rank(&mut self, person: usize) -> Option<(String, Rank)> {
        let (object, id) = self.salesforce.get(&person).cloned()?;
        self.note_born(&id);
        let id = norm(&id);
        let born = self.born.get(&id).copied().unwrap_or(u64::MAX);
        Some((id, (object == SfObject::Lead, born)))
    }

    /// The rank of one of the person's other records.
    pub fn rank_of(&self, id: &str) -> Option<Rank> {
        let id = norm(id);
        let object = self.others.values().flatten().find(|(_, i)| *i == id).map(|(o, _)| *o)?;
        Some((object == SfObject::Lead, self.born.get(&id).copied().unwrap_or(u64::MAX)))
    }

    /// Makes `id` the record the person syncs with, as the oracle decided;
    /// the one it replaces (if any) becomes one of the person's others.
    pub fn set_main(&mut self, person: usize, id: &str) {
        if self.salesforce.get(&person).is_some_and(|(_, i)| norm(i) == id) {
            return;
        }
        let from_main = self.salesforce.iter().find(|(_, (_, i))| norm(i) == id).map(|(p, _)| *p);
        let record = match from_main {
            Some(p) => self.salesforce.remove(&p),
            None => self.others.values_mut().find_map(|list| {
                let i = list.iter().position(|(_, i)| i == id)?;
                Some(list.remove(i))
            }),
        };
        let Some(record) = record else { return };
        if let Some(old) = self.salesforce.insert(person, record) {
            self.others.entry(person).or_default().push((old.0, norm(&old.1)));
        }
    }

    /// Names every Salesforce record of the sequence (a sweep's window
    /// covers the whole sequence).
    pub(super) fn name_every_salesforce_record(&mut self, named: &mut Named) {
        let mut ids: Vec<String> = self.salesforce.values().map(|(_, id)| norm(id)).collect();
        ids.extend(self.others.values().flatten().map(|(_, id)| id.clone()));
        ids.extend(self.gone_salesforce.keys().map(|id| norm(id)));
        for (&person, _) in self.others.iter().filter(|(_, l)| !l.is_empty()) {
            named.entry(person).or_default().insert(Sys::Salesforce);
        }
        self.named_salesforce.extend(ids);
    }

    /// Notes what a delivery names beyond its people: the Salesforce
    /// records of an outbound message, the merges of a HubSpot batch.
    pub(super) fn note_sent(&mut self, delivery: &Delivery) {
        match delivery {
            Delivery::Salesforce { body, .. } => {
                let ids = body.split("<sf:Id>").skip(1).filter_map(|rest| rest.split('<').next()).map(norm);
                self.named_salesforce.extend(ids);
            }
            Delivery::HubSpot { body, .. } => {
                let events: Vec<Value> = serde_json::from_str(body).unwrap_or_default();
                for event in events.iter().filter(|e| e["subscriptionType"] == "contact.merge") {
                    let person = |id: Option<u64>| {
                        let id = id?;
                        let live = self.hubspot.iter().find(|(_, v)| **v == id).map(|(p, _)| *p);
                        live.or_else(|| self.gone_hubspot.get(&id).copied())
                    };
                    let Some(survivor) = person(event["objectId"].as_u64()) else { continue };
                    let merged = event["mergedObjectIds"].as_array().cloned().unwrap_or_default();
                    for loser in merged.iter().filter_map(|v| person(v.as_u64())) {
                        self.merges.push((survivor, loser));
                    }
                }
            }
        }
    }

    /// The person's Salesforce ids a step named, live or gone.
    pub fn named_ids_of(&self, person: usize) -> std::collections::BTreeSet<String> {
        self.named_salesforce.iter().filter(|id| self.person_of_salesforce(id) == Some(person)).cloned().collect()
    }

    /// The HubSpot ids of the person's contacts that are gone.
    pub fn gone_hubspot(&self, person: usize) -> Vec<u64> {
        self.gone_hubspot.iter().filter(|(_, p)| **p == person).map(|(id, _)| *id).collect()
    }
}
