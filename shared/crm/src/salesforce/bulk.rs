//! Bulk API 2.0 query jobs (crm-api.md A12): create, poll, abort, delete,
//! and read the CSV results page by page.
//!
//! Owns the job lifecycle and the CSV decoding. A job that fails, is aborted
//! or outlives `bulk_timeout` becomes a classified error; reading results
//! follows the `Sforce-Locator` header until it is empty.

use super::client::{SalesforceClient, path_url};
use super::error;
use super::types::{BulkJob, BulkPage, BulkQueryResult, bad_csv};
use crate::error::CrmError;
use reqwest::Method;
use serde_json::json;
use std::time::Instant;

impl SalesforceClient {
    /// Creates a Bulk query job (`all` = queryAll) with CSV, comma, LF.
    pub async fn bulk_query_create(&self, soql: &str, all: bool) -> Result<BulkJob, CrmError> {
        let url_for = |instance: &str| path_url(instance, &self.data_segments(&["jobs", "query"]));
        let body = json!({
            "operation": if all { "queryAll" } else { "query" },
            "query": soql,
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        });
        self.send(Method::POST, &url_for, Some(&body), false, &[]).await?.json()
    }

    /// The job's current state.
    pub async fn bulk_job(&self, job_id: &str) -> Result<BulkJob, CrmError> {
        let url_for = |instance: &str| path_url(instance, &self.data_segments(&["jobs", "query", job_id]));
        self.get_json(&url_for).await
    }

    /// Stops a job that has not completed.
    pub async fn bulk_abort(&self, job_id: &str) -> Result<BulkJob, CrmError> {
        let url_for = |instance: &str| path_url(instance, &self.data_segments(&["jobs", "query", job_id]));
        self.send(Method::PATCH, &url_for, Some(&json!({"state": "Aborted"})), false, &[]).await?.json()
    }

    /// Deletes a finished job and its results.
    pub async fn bulk_delete(&self, job_id: &str) -> Result<(), CrmError> {
        let url_for = |instance: &str| path_url(instance, &self.data_segments(&["jobs", "query", job_id]));
        self.send(Method::DELETE, &url_for, None, false, &[]).await.map(|_| ())
    }

    /// Polls with growing waits until the job completes, fails or times out.
    pub async fn bulk_wait(&self, job_id: &str) -> Result<BulkJob, CrmError> {
        let started = Instant::now();
        let mut wait = self.config.bulk_poll_initial;
        loop {
            let job = self.bulk_job(job_id).await?;
            match job.state.as_str() {
                "JobComplete" => return Ok(job),
                "Failed" | "Aborted" => {
                    let message = job.error_message.clone().unwrap_or_else(|| format!("bulk job {}", job.state));
                    return Err(error::from_answer(200, "BULK_JOB_FAILED", &message, None));
                }
                _ => {}
            }
            if started.elapsed() >= self.config.bulk_timeout {
                return Err(error::from_answer(
                    0,
                    "BULK_JOB_TIMEOUT",
                    &format!("bulk job {job_id} still {}", job.state),
                    None,
                ));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(self.config.bulk_poll_max);
        }
    }

    /// One page of a completed job's CSV results.
    pub async fn bulk_results_page(
        &self,
        job_id: &str,
        locator: Option<&str>,
        max_records: Option<u64>,
    ) -> Result<BulkPage, CrmError> {
        let url_for = |instance: &str| {
            let mut url = path_url(instance, &self.data_segments(&["jobs", "query", job_id, "results"]))?;
            {
                let mut q = url.query_pairs_mut();
                if let Some(locator) = locator {
                    q.append_pair("locator", locator);
                }
                if let Some(max) = max_records {
                    q.append_pair("maxRecords", &max.to_string());
                }
            }
            Ok(url)
        };
        let answer = self.send(Method::GET, &url_for, None, false, &[("Accept", "text/csv".to_owned())]).await?;
        let next_locator = answer
            .headers
            .get("sforce-locator")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && *v != "null")
            .map(str::to_owned);
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(answer.body.as_slice());
        let columns = reader.headers().map_err(|e| bad_csv(answer.status, e))?.iter().map(str::to_owned).collect();
        Ok(BulkPage { columns, next_locator, body: answer.body, status: answer.status })
    }

    /// A whole Bulk query: create, wait, and read every result page.
    pub async fn bulk_query(
        &self,
        soql: &str,
        all: bool,
        max_records: Option<u64>,
    ) -> Result<BulkQueryResult, CrmError> {
        let job = self.bulk_query_create(soql, all).await?;
        self.bulk_wait(&job.id).await?;
        let mut result = BulkQueryResult { job_id: job.id.clone(), columns: Vec::new(), rows: Vec::new(), pages: 0 };
        let mut locator: Option<String> = None;
        loop {
            let mut page = self.bulk_results_page(&job.id, locator.as_deref(), max_records).await?;
            result.pages += 1;
            if result.columns.is_empty() {
                result.columns = std::mem::take(&mut page.columns);
            }
            result.rows.append(&mut page.rows()?);
            match page.next_locator {
                Some(next) => locator = Some(next),
                None => return Ok(result),
            }
        }
    }
}
