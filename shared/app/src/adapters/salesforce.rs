//! The Salesforce port ([`crate::ports::SalesforceApi`]) over
//! [`SalesforceClient`].
//!
//! Shape conversion only (client records and Bulk CSV rows to
//! [`SfRecord`], Collections answers to [`WriteResult`]), plus one piece of
//! the replication contract: a window holding more ids than getUpdated
//! serves is halved until it fits, and reported incomplete so that the
//! sweep resumes where it stopped. No sync decisions here.

use crate::ports::{
    ApiCalls, Changed, ChangedWindow, PackedRows, RowView, SalesforceIdentity, SalesforceQueries, SalesforceRecords,
    SalesforceReplication, SfRecord, WriteResult,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crm_sync_crm::error::CrmError;
use crm_sync_crm::salesforce::{CollectionRecord, SObject, SalesforceClient, Written};
use serde_json::{Map, Value};

/// A client record as the port's record: the type from `attributes` when
/// Salesforce sent them (a query over a relationship may return another
/// type), the `attributes` themselves dropped. A row without an `Id` is not a
/// record the sync can use and is left out.
fn record(sobject: &str, mut fields: SObject) -> Option<SfRecord> {
    let sobject =
        fields.get("attributes").and_then(|a| a.get("type")).and_then(Value::as_str).unwrap_or(sobject).to_owned();
    fields.remove("attributes");
    let id = fields.get("Id").and_then(Value::as_str)?.to_owned();
    Some(SfRecord { sobject, id, fields: fields.into_iter().collect() })
}

/// A Bulk CSV cell as JSON: empty is null, `true`/`false` are booleans,
/// everything else text (the core normalises numbers and dates from text).
fn cell(value: String) -> Value {
    match value.as_str() {
        "" => Value::Null,
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(value),
    }
}

/// Collections answers as per-record results, in input order. Salesforce
/// omits `created` on updates; that reads as "not created".
fn results(items: Vec<Result<Written, CrmError>>) -> Vec<WriteResult> {
    items
        .into_iter()
        .map(|item| match item {
            Ok(w) => WriteResult::Ok { id: w.id, created: w.created.unwrap_or(false) },
            Err(e) => WriteResult::Err { code: e.code, message: e.message },
        })
        .collect()
}

/// The object a query reads (the word after `FROM`), for rows that come
/// back without `attributes` (Bulk CSV).
fn object_of(soql: &str) -> String {
    let upper = soql.to_ascii_uppercase();
    upper.find(" FROM ").and_then(|i| soql[i + 6..].split_whitespace().next()).unwrap_or("").to_owned()
}

/// The client's own counter: every HTTP request it sent, retries included.
impl ApiCalls for SalesforceClient {
    fn calls_made(&self) -> u64 {
        SalesforceClient::calls_made(self)
    }

    fn install_gate(&self, gate: std::sync::Arc<dyn crm_sync_crm::gate::CallGate>) -> bool {
        SalesforceClient::install_gate(self, gate);
        true
    }
}

/// The org from the token answer's identity URL.
#[async_trait]
impl SalesforceIdentity for SalesforceClient {
    async fn organization_id(&self) -> Result<String, CrmError> {
        SalesforceClient::organization_id(self).await
    }
}

/// Records through the Collections API (200 per call).
#[async_trait]
impl SalesforceRecords for SalesforceClient {
    /// Ids Salesforce does not know come back as nulls and are left out.
    async fn retrieve(&self, sobject: &str, ids: &[String], fields: &[String]) -> Result<Vec<SfRecord>, CrmError> {
        let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        let found = self.retrieve_many(sobject, ids, &fields).await?;
        Ok(found.into_iter().flatten().filter_map(|r| record(sobject, r)).collect())
    }

    async fn update(
        &self,
        sobject: &str,
        records: &[(String, Map<String, Value>)],
    ) -> Result<Vec<WriteResult>, CrmError> {
        let records: Vec<CollectionRecord> = records
            .iter()
            .map(|(id, fields)| CollectionRecord {
                object: sobject.to_owned(),
                id: Some(id.clone()),
                fields: fields.clone(),
            })
            .collect();
        Ok(results(self.update_many(&records).await?))
    }

    /// The External ID field is the key; a key two records share comes back
    /// as that record's `DUPLICATE_EXTERNAL_ID`, not as a failed call.
    async fn upsert(
        &self,
        sobject: &str,
        external_id_field: &str,
        records: &[Map<String, Value>],
    ) -> Result<Vec<WriteResult>, CrmError> {
        Ok(results(self.upsert_many(sobject, external_id_field, records).await?))
    }

    async fn delete_records(&self, ids: &[String]) -> Result<Vec<WriteResult>, CrmError> {
        Ok(results(self.delete_many(ids).await?))
    }
}

/// SOQL through the REST query resource, and Bulk API 2.0 query jobs whose
/// CSV rows are turned into JSON fields with [`cell`].
#[async_trait]
impl SalesforceQueries for SalesforceClient {
    async fn query(&self, soql: &str) -> Result<Vec<SfRecord>, CrmError> {
        let object = object_of(soql);
        let rows = SalesforceClient::query(self, soql).await?;
        Ok(rows.into_iter().filter_map(|r| record(&object, r)).collect())
    }

    async fn query_all(&self, soql: &str) -> Result<Vec<SfRecord>, CrmError> {
        let object = object_of(soql);
        let rows = SalesforceClient::query_all(self, soql).await?;
        Ok(rows.into_iter().filter_map(|r| record(&object, r)).collect())
    }

    async fn count(&self, soql: &str) -> Result<u64, CrmError> {
        SalesforceClient::count(self, soql).await
    }

    /// Holds every row in memory: for id scans and small jobs; chunk reads
    /// use [`SalesforceQueries::bulk_query_filtered`].
    async fn bulk_query(&self, soql: &str) -> Result<Vec<SfRecord>, CrmError> {
        let object = object_of(soql);
        let result = SalesforceClient::bulk_query(self, soql, false, None).await?;
        let columns = result.columns;
        Ok(result
            .rows
            .into_iter()
            .filter_map(|row| {
                let fields: Map<String, Value> = columns.iter().cloned().zip(row.into_iter().map(cell)).collect();
                record(&object, fields)
            })
            .collect())
    }

    /// Reads the job's result page by page, keeping only the `Id` column.
    async fn bulk_ids(&self, soql: &str) -> Result<Vec<String>, CrmError> {
        let mut ids = Vec::new();
        each_bulk_page(self, soql, |page| {
            let Some(column) = page.columns.iter().position(|c| c == "Id") else { return Ok(()) };
            page.for_each_row(|row| {
                if let Some(id) = row.get(column).filter(|id| !id.is_empty()) {
                    ids.push(id.to_owned());
                }
            })
        })
        .await?;
        Ok(ids)
    }

    /// Reads the job's result page by page and keeps only the rows `keep`
    /// accepts, so that a chunk of a large object never holds the whole
    /// object's rows at once. Each row is looked at as the CSV read, and
    /// packed straight from it when kept: a row left out costs no record.
    async fn bulk_query_filtered(
        &self,
        soql: &str,
        keep: &(dyn for<'r> Fn(RowView<'r>) -> bool + Send + Sync),
    ) -> Result<PackedRows, CrmError> {
        let object = object_of(soql);
        let mut out = PackedRows::default();
        each_bulk_page(self, soql, |page| {
            // A row without an `Id` is not a record (as in [`record`]).
            let Some(id_column) = page.columns.iter().position(|c| c == "Id") else { return Ok(()) };
            let layout = out.csv_layout(&page.columns);
            page.for_each_row(|row| {
                let Some(id) = row.get(id_column).filter(|id| !id.is_empty()) else { return };
                if keep(RowView::of_cells(id, &page.columns, row)) {
                    out.push_csv(&object, id, &layout, row);
                }
            })
        })
        .await?;
        Ok(out)
    }
}

/// Runs a Bulk query job and hands each result page to `take` as it
/// arrives, so that no caller holds the whole result.
async fn each_bulk_page(
    client: &SalesforceClient,
    soql: &str,
    mut take: impl FnMut(crm_sync_crm::salesforce::BulkPage) -> Result<(), CrmError> + Send,
) -> Result<(), CrmError> {
    let job = client.bulk_query_create(soql, false).await?;
    client.bulk_wait(&job.id).await?;
    let mut locator: Option<String> = None;
    loop {
        let mut page = client.bulk_results_page(&job.id, locator.as_deref(), None).await?;
        let next = page.next_locator.take();
        take(page)?;
        match next {
            Some(next) => locator = Some(next),
            None => return Ok(()),
        }
    }
}

/// The replication API (getUpdated, getDeleted) behind the sweep.
#[async_trait]
impl SalesforceReplication for SalesforceClient {
    /// Halves an over-large window (see the module docs) and reports how far
    /// both listings got: the earlier of their `latestDateCovered`.
    async fn changed_since(
        &self,
        sobject: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<ChangedWindow, CrmError> {
        // Over 600,000 ids in the window: halve it until it fits (whole
        // minutes; a window of two minutes that still does not fit fails).
        let requested = end;
        let mut end = end;
        let updated = loop {
            match self.get_updated(sobject, start, end).await {
                Ok(updated) => break updated,
                Err(error) if error.code == "EXCEEDED_ID_LIMIT" && end - start > chrono::Duration::minutes(2) => {
                    end = start + (end - start) / 2;
                    tracing::info!(sobject, %end, "ReplicationWindowHalved");
                }
                Err(error) => return Err(error),
            }
        };
        let deleted = self.get_deleted(sobject, start, end).await?;
        // Both calls cover whole minutes; the earlier of their ends holds for both.
        let covered_to = [&updated.latest_date_covered, &deleted.latest_date_covered]
            .into_iter()
            .map(|t| crate::codec::parse_time(Some(&Value::String(t.clone()))))
            .try_fold(end, |acc, t| t.map(|t| acc.min(t)))
            .unwrap_or(end);
        let mut changes: Vec<Changed> = updated.ids.into_iter().map(|id| Changed { id, deleted: false }).collect();
        changes.extend(deleted.deleted_records.into_iter().map(|d| Changed { id: d.id, deleted: true }));
        Ok(ChangedWindow { changes, covered_to, complete: end == requested })
    }
}
