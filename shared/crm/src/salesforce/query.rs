//! SOQL queries: `query` and `queryAll`, one page at a time, every page,
//! or as a stream (crm-api.md A3).
//!
//! Owns paging (`nextRecordsUrl`, the `batchSize` hint) only; it builds no
//! SOQL. Callers write their queries and escape their values.

use super::client::{SalesforceClient, path_url};
use super::error;
use super::types::{QueryPage, SObject};
use crate::error::CrmError;
use futures::Stream;
use reqwest::Method;
use url::Url;

impl SalesforceClient {
    async fn query_first(&self, soql: &str, all: bool, batch_size: Option<u32>) -> Result<QueryPage, CrmError> {
        let resource = if all { "queryAll" } else { "query" };
        let headers: Vec<(&str, String)> =
            batch_size.map(|b| vec![("Sforce-Query-Options", format!("batchSize={b}"))]).unwrap_or_default();
        let url_for = |instance: &str| {
            let mut url = path_url(instance, &self.data_segments(&[resource]))?;
            url.query_pairs_mut().append_pair("q", soql);
            Ok(url)
        };
        self.send(Method::GET, &url_for, None, false, &headers).await?.json()
    }

    /// The first page of a query (`batch_size` within 200..=2000 is a hint).
    pub async fn query_page(&self, soql: &str, batch_size: Option<u32>) -> Result<QueryPage, CrmError> {
        self.query_first(soql, false, batch_size).await
    }

    /// The first page of a queryAll (deleted and merged records included).
    pub async fn query_all_page(&self, soql: &str, batch_size: Option<u32>) -> Result<QueryPage, CrmError> {
        self.query_first(soql, true, batch_size).await
    }

    /// The page behind a `nextRecordsUrl`.
    pub async fn query_more(&self, next_records_url: &str) -> Result<QueryPage, CrmError> {
        let url_for = |instance: &str| {
            Url::parse(instance)
                .and_then(|u| u.join(next_records_url))
                .map_err(|e| error::config(format!("bad nextRecordsUrl {next_records_url}"), Some(Box::new(e))))
        };
        self.get_json(&url_for).await
    }

    async fn collect(&self, mut page: QueryPage) -> Result<Vec<SObject>, CrmError> {
        let mut records = std::mem::take(&mut page.records);
        while let (false, Some(next)) = (page.done, page.next_records_url.clone()) {
            page = self.query_more(&next).await?;
            records.append(&mut page.records);
        }
        Ok(records)
    }

    /// Every record of a query, following `nextRecordsUrl`.
    pub async fn query(&self, soql: &str) -> Result<Vec<SObject>, CrmError> {
        let first = self.query_first(soql, false, None).await?;
        self.collect(first).await
    }

    /// Every record of a queryAll, following `nextRecordsUrl`.
    pub async fn query_all(&self, soql: &str) -> Result<Vec<SObject>, CrmError> {
        let first = self.query_first(soql, true, None).await?;
        self.collect(first).await
    }

    /// The records of a query as a stream, one page fetched at a time.
    pub fn query_stream<'a>(
        &'a self,
        soql: &'a str,
        batch_size: Option<u32>,
    ) -> impl Stream<Item = Result<SObject, CrmError>> + 'a {
        use futures::StreamExt;
        enum Next {
            First,
            More(String),
            Done,
        }
        futures::stream::try_unfold(Next::First, move |next| async move {
            let page = match next {
                Next::First => self.query_first(soql, false, batch_size).await?,
                Next::More(url) => self.query_more(&url).await?,
                Next::Done => return Ok(None),
            };
            let following = match (page.done, page.next_records_url) {
                (false, Some(url)) => Next::More(url),
                _ => Next::Done,
            };
            Ok(Some((futures::stream::iter(page.records.into_iter().map(Ok)), following)))
        })
        .flat_map(|page: Result<_, CrmError>| match page {
            Ok(records) => records.left_stream(),
            Err(e) => futures::stream::once(async move { Err(e) }).right_stream(),
        })
    }

    /// `totalSize` of a `SELECT COUNT() ...` query.
    pub async fn count(&self, soql: &str) -> Result<u64, CrmError> {
        Ok(self.query_first(soql, false, None).await?.total_size)
    }
}
