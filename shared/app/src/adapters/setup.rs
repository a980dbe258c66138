//! The setup ports ([`SalesforceSetup`], [`HubspotSetup`]) over the
//! clients: describe and the Tooling API on one side, token info,
//! properties and lists on the other. Shape conversion and query text only.

use crate::ports::{
    FieldAccess, HubspotAccount, HubspotSetup, ListSummary, ObjectAccess, OutboundMessage, PropertyInfo,
    SalesforceSetup,
};
use async_trait::async_trait;
use crm_sync_crm::error::CrmError;
use crm_sync_crm::hubspot::HubSpotClient;
use crm_sync_crm::salesforce::{CustomTextField, SalesforceClient, text_of};

/// A SOQL string literal.
fn quoted(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[async_trait]
impl SalesforceSetup for SalesforceClient {
    async fn sign_in(&self) -> Result<(), CrmError> {
        self.authenticate().await
    }

    async fn object_access(&self, object: &str) -> Result<ObjectAccess, CrmError> {
        let describe = self.describe(object).await?;
        Ok(ObjectAccess {
            queryable: describe.queryable,
            createable: describe.createable,
            updateable: describe.updateable,
            fields: describe
                .fields
                .into_iter()
                .map(|f| FieldAccess {
                    name: f.name,
                    createable: f.createable,
                    updateable: f.updateable,
                    calculated: f.calculated,
                    external_id: f.external_id,
                    unique: f.unique,
                })
                .collect(),
        })
    }

    async fn objects_with_custom_field(&self, field: &str, objects: &[&str]) -> Result<Vec<String>, CrmError> {
        if objects.is_empty() {
            return Ok(Vec::new());
        }
        let developer_name = field.strip_suffix("__c").unwrap_or(field);
        let list: Vec<String> = objects.iter().map(|o| quoted(o)).collect();
        let soql = format!(
            "SELECT Id, DeveloperName, TableEnumOrId FROM CustomField WHERE DeveloperName = {} AND TableEnumOrId IN ({})",
            quoted(developer_name),
            list.join(", ")
        );
        let rows = self.tooling_query(&soql).await?;
        Ok(rows.iter().filter_map(|r| text_of(r, "TableEnumOrId")).map(str::to_owned).collect())
    }

    async fn outbound_messages(&self) -> Result<Vec<OutboundMessage>, CrmError> {
        let rows = self.tooling_query("SELECT Id, Name, EntityDefinitionId FROM WorkflowOutboundMessage").await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(id) = text_of(&row, "Id") else { continue };
            // The endpoint lives in the metadata, which is read one record at a time.
            let full = self.tooling_get("WorkflowOutboundMessage", id).await?;
            let endpoint_url = full
                .get("Metadata")
                .and_then(|m| m.get("endpointUrl"))
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned();
            out.push(OutboundMessage {
                name: text_of(&row, "Name").unwrap_or_default().to_owned(),
                object: text_of(&row, "EntityDefinitionId").unwrap_or_default().to_owned(),
                endpoint_url,
            });
        }
        Ok(out)
    }

    async fn create_external_id_field(
        &self,
        object: &str,
        field: &str,
        label: &str,
        length: u32,
    ) -> Result<(), CrmError> {
        let spec = CustomTextField {
            label: label.to_owned(),
            length,
            external_id: true,
            unique: true,
            description: Some("The id of the HubSpot record this one syncs with (crm-sync)".to_owned()),
        };
        self.create_custom_text_field(object, field, &spec).await.map(|_| ())
    }
}

#[async_trait]
impl HubspotSetup for HubSpotClient {
    async fn token_scopes(&self) -> Result<Vec<String>, CrmError> {
        Ok(self.token_info().await?.scopes)
    }

    async fn property(&self, object: &str, name: &str) -> Result<Option<PropertyInfo>, CrmError> {
        Ok(self.get_property(object, name).await?.map(|p| PropertyInfo {
            kind: p.kind,
            field_type: p.field_type,
            unique: p.has_unique_value,
        }))
    }

    async fn list(&self, list_id: &str) -> Result<Option<ListSummary>, CrmError> {
        Ok(self.list_info(list_id).await?.map(|l| ListSummary { name: l.name, object_type_id: l.object_type_id }))
    }

    async fn create_unique_property(&self, object: &str, name: &str) -> Result<(), CrmError> {
        HubspotAccount::ensure_unique_property(self, object, name).await
    }

    async fn create_text_property(&self, object: &str, name: &str, label: &str) -> Result<(), CrmError> {
        HubspotAccount::ensure_text_property(self, object, name, label).await
    }
}
