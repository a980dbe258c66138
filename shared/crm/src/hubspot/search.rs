//! CRM search: one page, all pages, and the modified-in-a-window scan that
//! gets past HubSpot's 10,000-result cap by splitting the time window in
//! halves until each part fits.

use super::classify;
use super::client::HubSpotClient;
use super::objects::page;
use super::types::{Direction, Filter, FilterGroup, HsObject, Operator, Page, SearchRequest, Sort};
use crate::error::CrmError;
use chrono::{DateTime, Utc};
use reqwest::Method;
use std::collections::HashSet;

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
    /// first, with `filters` AND-ed in. Past 10,000 matches the window is
    /// split at the last modification time served, and the later part is
    /// searched again (records at that exact millisecond are not repeated).
    pub async fn modified_between(
        &self,
        object: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        filters: &[Filter],
        properties: &[String],
    ) -> Result<Vec<HsObject>, CrmError> {
        Ok(self.modified_between_bounded(object, start, end, filters, properties, usize::MAX).await?.records)
    }

    /// As [`Self::modified_between`], but stops at a page boundary once
    /// `max_records` are in hand: `covered_to` then says up to when the
    /// window is complete (every record modified before it was served; the
    /// ones at that millisecond may repeat in the next call). It is `end`
    /// when the whole window was served.
    pub async fn modified_between_bounded(
        &self,
        object: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        filters: &[Filter],
        properties: &[String],
        max_records: usize,
    ) -> Result<ModifiedWindow, CrmError> {
        let prop = modified_property(object);
        let mut props = properties.to_vec();
        if !props.iter().any(|p| p == prop) {
            props.push(prop.to_owned());
        }
        let mut out = Vec::new();
        let mut from = start.timestamp_millis();
        let to = end.timestamp_millis();
        // Ids already taken at exactly `from` (the previous split point).
        let mut taken_at_from: HashSet<String> = HashSet::new();
        loop {
            let mut group = filters.to_vec();
            group.push(Filter::new(prop, Operator::Gte, from.to_string()));
            group.push(Filter::new(prop, Operator::Lt, to.to_string()));
            let mut req = SearchRequest {
                filter_groups: vec![FilterGroup { filters: group }],
                sorts: vec![Sort { property_name: prop.to_owned(), direction: Direction::Ascending }],
                properties: props.clone(),
                limit: SEARCH_PAGE_SIZE,
                after: None,
            };
            let mut last: Option<i64> = None;
            let mut at_last: HashSet<String> = HashSet::new();
            loop {
                let page = self.search_page(object, &req).await?;
                for record in page.results {
                    let modified = record.property(prop).and_then(parse_time);
                    if modified == Some(from) && taken_at_from.contains(&record.id) {
                        continue;
                    }
                    if modified.is_some() && modified == last {
                        at_last.insert(record.id.clone());
                    } else if modified.is_some() {
                        last = modified;
                        at_last = HashSet::from([record.id.clone()]);
                    }
                    out.push(record);
                }
                let Some(after) = page.after else {
                    return Ok(ModifiedWindow { records: out, covered_to: end });
                };
                if out.len() >= max_records
                    && let Some(covered) =
                        last.filter(|l| *l > start.timestamp_millis()).and_then(DateTime::from_timestamp_millis)
                {
                    return Ok(ModifiedWindow { records: out, covered_to: covered });
                }
                if after.parse::<u64>().is_ok_and(|n| n >= MAX_SEARCH_RESULTS) {
                    break;
                }
                req.after = Some(after);
            }
            // The cap was reached: continue from the last time served.
            let split = last.ok_or_else(|| classify::invalid("search results carry no modification date"))?;
            if split == from {
                return Err(classify::invalid(format!(
                    "over {MAX_SEARCH_RESULTS} records share one modification millisecond; the window cannot be split"
                )));
            }
            tracing::debug!(records = out.len(), "search window over the cap, split");
            from = split;
            taken_at_from = at_last;
        }
    }
}

/// What [`HubSpotClient::modified_between_bounded`] served.
#[derive(Debug, Clone, PartialEq)]
pub struct ModifiedWindow {
    /// The records modified within the covered part of the window.
    pub records: Vec<HsObject>,
    /// The window is complete up to here (`end` when whole).
    pub covered_to: DateTime<Utc>,
}

/// A HubSpot datetime value: ISO-8601 or epoch milliseconds.
fn parse_time(value: &str) -> Option<i64> {
    value.parse::<i64>().ok().or_else(|| DateTime::parse_from_rfc3339(value).ok().map(|t| t.timestamp_millis()))
}
