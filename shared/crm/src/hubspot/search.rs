//! CRM search: one page, all pages, and the modified-in-a-window scan that
//! gets past HubSpot's 10,000-result cap by splitting the time window in
//! halves until each part fits.

use super::classify;
use super::objects::page;
use super::types::{Direction, Filter, FilterGroup, HsObject, Operator, Page, SearchRequest, Sort};
use super::HubSpotClient;
use crate::error::CrmError;
use chrono::{DateTime, Utc};
use reqwest::Method;

/// HubSpot serves at most this many results of one search.
pub const MAX_SEARCH_RESULTS: u64 = 10_000;
/// The largest search page.
pub const SEARCH_PAGE_SIZE: u32 = 200;

/// The last-modified property of an object type.
pub fn modified_property(object: &str) -> &'static str {
    match object {
        "contacts" | "0-1" => "lastmodifieddate",
        _ => "hs_lastmodifieddate",
    }
}

impl HubSpotClient {
    /// One search page (one call).
    pub async fn search_page(&self, object: &str, request: &SearchRequest) -> Result<Page, CrmError> {
        if request.limit > SEARCH_PAGE_SIZE {
            return Err(classify::invalid(format!("search limit {} is over {SEARCH_PAGE_SIZE}", request.limit)));
        }
        let body = serde_json::to_value(request).map_err(|e| classify::decode(0, e))?;
        let answer = self.call(Method::POST, &format!("/crm/v3/objects/{object}/search"), &[], Some(&body)).await?;
        page(&answer)
    }

    /// Every match, following `after`. Fails before paging when the search
    /// matches more than HubSpot will serve; use [`Self::modified_between`]
    /// or narrower filters then.
    pub async fn search_all(&self, object: &str, request: &SearchRequest) -> Result<Vec<HsObject>, CrmError> {
        let mut req = request.clone();
        req.limit = if req.limit == 0 { SEARCH_PAGE_SIZE } else { req.limit };
        req.after = None;
        let mut all = Vec::new();
        loop {
            let p = self.search_page(object, &req).await?;
            if let Some(total) = p.total.filter(|t| *t > MAX_SEARCH_RESULTS) {
                return Err(classify::invalid(format!(
                    "search matches {total} records; HubSpot serves at most {MAX_SEARCH_RESULTS}"
                )));
            }
            all.extend(p.results);
            match p.after {
                Some(a) => req.after = Some(a),
                None => return Ok(all),
            }
        }
    }

    /// Every record whose last-modified date is in `[start, end)`, oldest
    /// first, with `filters` AND-ed in. Windows matching more than 10,000
    /// records are split in half (by time) until each part fits.
    pub async fn modified_between(
        &self,
        object: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        filters: &[Filter],
        properties: &[String],
    ) -> Result<Vec<HsObject>, CrmError> {
        let prop = modified_property(object);
        let mut out = Vec::new();
        // Windows still to scan, earliest on top.
        let mut stack = vec![(start.timestamp_millis(), end.timestamp_millis())];
        while let Some((from, to)) = stack.pop() {
            if from >= to {
                continue;
            }
            let mut group = filters.to_vec();
            group.push(Filter::new(prop, Operator::Gte, from.to_string()));
            group.push(Filter::new(prop, Operator::Lt, to.to_string()));
            let mut req = SearchRequest {
                filter_groups: vec![FilterGroup { filters: group }],
                sorts: vec![Sort { property_name: prop.to_owned(), direction: Direction::Ascending }],
                properties: properties.to_vec(),
                limit: SEARCH_PAGE_SIZE,
                after: None,
            };
            let first = self.search_page(object, &req).await?;
            let total = first.total.unwrap_or(0);
            if total > MAX_SEARCH_RESULTS {
                if to - from <= 1 {
                    return Err(classify::invalid(format!(
                        "{total} records share one modification millisecond; the window cannot be split"
                    )));
                }
                let mid = from + (to - from) / 2;
                tracing::debug!(total, "search window over the cap, splitting");
                stack.push((mid, to));
                stack.push((from, mid));
                continue;
            }
            out.extend(first.results);
            let mut after = first.after;
            while let Some(a) = after {
                req.after = Some(a);
                let p = self.search_page(object, &req).await?;
                out.extend(p.results);
                after = p.after;
            }
        }
        Ok(out)
    }
}
