//! The fake CRM search: filter groups (AND within a group, OR across),
//! operators, one sort, `limit` <= 200, offset paging, `total`, and the
//! 10,000-result cap.
//!
//! Owns request parsing and evaluation over a [`Db`]; it knows nothing about
//! HTTP or rate limits.

use super::model::{ApiError, Db, ObjectType, Record, Table};
use chrono::{DateTime, NaiveDate};
use serde::Deserialize;
use serde_json::{Value, json};
use std::cmp::Ordering;
use std::collections::BTreeSet;

/// Results past this offset are never served.
pub const RESULT_CAP: usize = 10_000;
const MAX_GROUPS: usize = 5;
const MAX_FILTERS_PER_GROUP: usize = 10;
const MAX_FILTERS: usize = 25;

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    #[serde(default)]
    pub filter_groups: Vec<FilterGroup>,
    #[serde(default)]
    pub sorts: Vec<Value>,
    #[serde(default)]
    pub properties: Vec<String>,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub after: Option<Value>,
    #[serde(default)]
    pub query: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub struct FilterGroup {
    #[serde(default)]
    pub filters: Vec<Filter>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    pub property_name: String,
    pub operator: String,
    #[serde(default)]
    pub value: Option<Value>,
    #[serde(default)]
    pub high_value: Option<Value>,
    #[serde(default)]
    pub values: Option<Vec<Value>>,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A number for numeric and date comparison: plain numbers, epoch-ms
/// strings, ISO datetimes and dates (midnight UTC).
fn numeric(s: &str) -> Option<f64> {
    if let Ok(n) = s.trim().parse::<f64>() {
        return Some(n);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis() as f64);
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp_millis() as f64)
}

fn tokens(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '-' | '_' | '/' | '(' | ')'))
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
}

fn contains_token(value: &str, token: &str) -> bool {
    let token = token.to_lowercase();
    if value.to_lowercase() == token {
        return true;
    }
    match token.strip_prefix('*').map(|t| t.strip_suffix('*').unwrap_or(t)) {
        Some(inner) => value.to_lowercase().contains(inner),
        None => match token.strip_suffix('*') {
            Some(prefix) => tokens(value).any(|t| t.starts_with(prefix)),
            None => tokens(value).any(|t| t == token),
        },
    }
}

/// A value prepared once for comparing: as a number (numbers, epoch ms,
/// dates) when it reads as one, and lower-cased text.
struct Key {
    num: Option<f64>,
    text: String,
}

impl Key {
    fn new(s: &str) -> Self {
        Self { num: numeric(s), text: s.to_lowercase() }
    }
}

/// A record's value of a property, with the system dates read from the
/// record itself rather than parsed.
fn record_num(ty: ObjectType, r: &Record, prop: &str, raw: &str) -> Option<f64> {
    if prop == "createdate" {
        Some(r.created_ms as f64)
    } else if prop == ty.modified_property() {
        Some(r.updated_ms as f64)
    } else if prop == "hs_object_id" {
        Some(r.id as f64)
    } else {
        numeric(raw)
    }
}

fn compare_key(ty: ObjectType, r: &Record, prop: &str, raw: &str, key: &Key) -> Ordering {
    match (key.num, key.num.and_then(|_| record_num(ty, r, prop, raw))) {
        (Some(k), Some(v)) => v.partial_cmp(&k).unwrap_or(Ordering::Equal),
        _ => raw.to_lowercase().cmp(&key.text),
    }
}

/// A filter with its values prepared.
struct Compiled<'a> {
    filter: &'a Filter,
    value: Key,
    high: Key,
    values: Vec<Key>,
}

impl Filter {
    fn validate(&self) -> Result<(), ApiError> {
        let needs_value = ["EQ", "NEQ", "LT", "LTE", "GT", "GTE", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"];
        let op = self.operator.as_str();
        if needs_value.contains(&op) && self.value.is_none() {
            return Err(ApiError::validation(format!(
                "Filter on {} with operator {op} requires a value",
                self.property_name
            )));
        }
        if op == "BETWEEN" && (self.value.is_none() || self.high_value.is_none()) {
            return Err(ApiError::validation("BETWEEN requires value and highValue"));
        }
        if matches!(op, "IN" | "NOT_IN") && self.values.is_none() {
            return Err(ApiError::validation(format!("Filter operator {op} requires values")));
        }
        if !needs_value.contains(&op)
            && !matches!(op, "BETWEEN" | "IN" | "NOT_IN" | "HAS_PROPERTY" | "NOT_HAS_PROPERTY")
        {
            return Err(ApiError::validation(format!("Unknown filter operator {op}")));
        }
        Ok(())
    }

    fn compile(&self) -> Compiled<'_> {
        Compiled {
            filter: self,
            value: Key::new(&self.value.as_ref().map(text).unwrap_or_default()),
            high: Key::new(&self.high_value.as_ref().map(text).unwrap_or_default()),
            values: self.values.iter().flatten().map(|v| Key::new(&text(v))).collect(),
        }
    }
}

impl Compiled<'_> {
    fn matches(&self, ty: ObjectType, record: &Record) -> bool {
        let prop = self.filter.property_name.as_str();
        let actual = record.props.get(prop).filter(|v| !v.is_empty());
        let cmp = |a: &String, k: &Key| compare_key(ty, record, prop, a, k);
        let v = &self.value;
        match self.filter.operator.as_str() {
            "HAS_PROPERTY" => actual.is_some(),
            "NOT_HAS_PROPERTY" => actual.is_none(),
            "EQ" => actual.is_some_and(|a| cmp(a, v) == Ordering::Equal),
            "NEQ" => actual.is_none_or(|a| cmp(a, v) != Ordering::Equal),
            "LT" => actual.is_some_and(|a| cmp(a, v) == Ordering::Less),
            "LTE" => actual.is_some_and(|a| cmp(a, v) != Ordering::Greater),
            "GT" => actual.is_some_and(|a| cmp(a, v) == Ordering::Greater),
            "GTE" => actual.is_some_and(|a| cmp(a, v) != Ordering::Less),
            "BETWEEN" => actual.is_some_and(|a| cmp(a, v) != Ordering::Less && cmp(a, &self.high) != Ordering::Greater),
            "IN" => actual.is_some_and(|a| self.values.iter().any(|k| cmp(a, k) == Ordering::Equal)),
            "NOT_IN" => actual.is_none_or(|a| !self.values.iter().any(|k| cmp(a, k) == Ordering::Equal)),
            "CONTAINS_TOKEN" => actual.is_some_and(|a| contains_token(a, &v.text)),
            "NOT_CONTAINS_TOKEN" => actual.is_none_or(|a| !contains_token(a, &v.text)),
            _ => false,
        }
    }
}

/// The one honoured sort: `{propertyName, direction}` or `"-prop"`/`"prop"`.
fn sort_key(sorts: &[Value]) -> Result<Option<(String, bool)>, ApiError> {
    let Some(first) = sorts.first() else { return Ok(None) };
    match first {
        Value::String(s) => Ok(Some(match s.strip_prefix('-') {
            Some(p) => (p.to_owned(), false),
            None => (s.clone(), true),
        })),
        Value::Object(o) => {
            let name = o
                .get("propertyName")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::validation("sort requires propertyName"))?;
            let asc = !matches!(o.get("direction").and_then(Value::as_str), Some("DESCENDING"));
            Ok(Some((name.to_owned(), asc)))
        }
        _ => Err(ApiError::validation("Invalid sort")),
    }
}

/// The ids (in id order, as a scan finds them) of a superset of the live
/// records `groups` can match, read from the table's indexes; `None` when a
/// group has no filter an index serves. A group narrows by a numeric range
/// on the modification time or by `EQ`/`IN` on a unique property; the
/// ranges are widened by a millisecond each way, and every filter is still
/// applied to each candidate.
fn narrowed(db: &Db, ty: ObjectType, table: &Table, groups: &[FilterGroup]) -> Option<BTreeSet<u64>> {
    if groups.is_empty() {
        return None;
    }
    let mut ids = BTreeSet::new();
    for group in groups {
        let served = group.filters.iter().find_map(|f| by_index(db, ty, table, f))?;
        ids.extend(served);
    }
    Some(ids)
}

/// The candidates of one filter from an index, if one serves it.
fn by_index(db: &Db, ty: ObjectType, table: &Table, f: &Filter) -> Option<Vec<u64>> {
    let ms = |v: &Option<Value>| v.as_ref().map(text).and_then(|t| numeric(&t));
    if f.property_name == ty.modified_property() {
        let (low, high) = match f.operator.as_str() {
            "GT" | "GTE" => (ms(&f.value)?, f64::MAX),
            "LT" | "LTE" => (f64::MIN, ms(&f.value)?),
            "EQ" => (ms(&f.value)?, ms(&f.value)?),
            "BETWEEN" => (ms(&f.value)?, ms(&f.high_value)?),
            _ => return None,
        };
        let from = (low.floor() as i64).saturating_sub(1);
        let to = (high.ceil() as i64).saturating_add(1);
        return Some(table.modified_within(from, to).collect());
    }
    let values: Vec<String> = match f.operator.as_str() {
        "EQ" => vec![f.value.as_ref().map(text)?],
        "IN" => f.values.as_ref()?.iter().map(text).collect(),
        _ => return None,
    };
    // Numbers compare as numbers ("7" = "07"), which the index does not.
    if values.iter().any(|v| numeric(v).is_some()) || db.unique_def(ty, &f.property_name).is_err() {
        return None;
    }
    Some(values.iter().filter_map(|v| table.unique_holder(&f.property_name, v)).collect())
}

/// Runs a search; `hidden_after_ms` hides records modified after it
/// (the optional indexing lag).
pub fn run(db: &Db, ty: ObjectType, req: &SearchRequest, hidden_after_ms: Option<i64>) -> Result<Value, ApiError> {
    let limit = req.limit.unwrap_or(10);
    if limit > 200 {
        return Err(ApiError::validation(format!("limit must be at most 200, got {limit}")));
    }
    if req.filter_groups.len() > MAX_GROUPS {
        return Err(ApiError::validation(format!(
            "Too many filter groups ({}); the limit is {MAX_GROUPS}",
            req.filter_groups.len()
        )));
    }
    let total_filters: usize = req.filter_groups.iter().map(|g| g.filters.len()).sum();
    if req.filter_groups.iter().any(|g| g.filters.len() > MAX_FILTERS_PER_GROUP) || total_filters > MAX_FILTERS {
        return Err(ApiError::validation("Too many filters in the request"));
    }
    for f in req.filter_groups.iter().flat_map(|g| &g.filters) {
        f.validate()?;
    }
    let offset: usize = match &req.after {
        None => 0,
        Some(v) => text(v).parse().map_err(|_| ApiError::validation(format!("Invalid after value {}", text(v))))?,
    };
    if offset >= RESULT_CAP {
        return Err(ApiError::validation(format!(
            "Cannot page beyond {RESULT_CAP} results; narrow the search (after={offset})"
        ))
        .with("subCategory", json!("SEARCH_RESULT_LIMIT")));
    }
    let query = req.query.as_deref().map(str::to_lowercase).filter(|q| !q.is_empty());
    let table = &db.tables[&ty];
    let groups: Vec<Vec<Compiled<'_>>> =
        req.filter_groups.iter().map(|g| g.filters.iter().map(Filter::compile).collect()).collect();
    // Served from the indexes when every filter group narrows by one (the
    // sweep's modification-time window, an email lookup); else a scan.
    let candidates: Box<dyn Iterator<Item = &Record> + '_> = match narrowed(db, ty, table, &req.filter_groups) {
        Some(ids) => Box::new(ids.into_iter().filter_map(|id| table.records.get(&id))),
        None => Box::new(table.records.values()),
    };
    let mut hits: Vec<&Record> = candidates
        .filter(|r| r.is_live())
        .filter(|r| hidden_after_ms.is_none_or(|t| r.updated_ms <= t))
        .filter(|r| groups.is_empty() || groups.iter().any(|g| g.iter().all(|f| f.matches(ty, r))))
        .filter(|r| {
            query.as_ref().is_none_or(|q| {
                ["email", "firstname", "lastname", "name", "domain", "dealname", "phone"]
                    .iter()
                    .any(|p| r.props.get(*p).is_some_and(|v| v.to_lowercase().contains(q.as_str())))
            })
        })
        .collect();
    let mut total_hits = hits.len();
    if let Some((prop, asc)) = sort_key(&req.sorts)? {
        // Sort keys are computed once per hit, not once per comparison.
        let mut keyed: Vec<(Option<Key>, &Record)> = hits
            .into_iter()
            .map(|r| {
                let key = r
                    .props
                    .get(&prop)
                    .filter(|v| !v.is_empty())
                    .map(|v| Key { num: record_num(ty, r, &prop, v), text: v.to_lowercase() });
                (key, r)
            })
            .collect();
        let order = |(ka, a): &(Option<Key>, &Record), (kb, b): &(Option<Key>, &Record)| {
            let ord = match (ka, kb) {
                (Some(x), Some(y)) => match (x.num, y.num) {
                    (Some(p), Some(q)) => p.partial_cmp(&q).unwrap_or(Ordering::Equal),
                    _ => x.text.cmp(&y.text),
                },
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            };
            let ord = if asc { ord } else { ord.reverse() };
            ord.then(a.id.cmp(&b.id))
        };
        // Only the hits up to the end of this page need full order.
        let end = (offset + limit).min(keyed.len());
        if end > 0 && end < keyed.len() {
            keyed.select_nth_unstable_by(end - 1, order);
            keyed[..end].sort_by(order);
        } else {
            keyed.sort_by(order);
        }
        total_hits = keyed.len();
        hits = keyed.into_iter().take(end).map(|(_, r)| r).collect();
    }
    let total = total_hits;
    let end = (offset + limit).min(total);
    let page: Vec<Value> =
        hits.get(offset..end).unwrap_or(&[]).iter().map(|r| r.to_json(ty, Some(&req.properties))).collect();
    let mut body = json!({ "total": total, "results": page });
    if end < total {
        body["paging"] = json!({ "next": { "after": end.to_string(), "link": format!("?after={end}") } });
    }
    Ok(body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::hubspot::model::Actor;
    use serde_json::Map;

    fn db_with(n: usize) -> Db {
        let mut db = Db::new();
        for i in 0..n {
            let mut p = Map::new();
            p.insert("email".into(), json!(format!("p{i}@example.com")));
            p.insert("city".into(), json!(if i % 2 == 0 { "Berlin" } else { "Boston" }));
            p.insert("phone".into(), json!(format!("{}", 1000 + (i * 7919) % 500)));
            db.create(ObjectType::Contacts, &p, Actor::Api).unwrap();
        }
        db
    }

    fn req(body: Value) -> SearchRequest {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn pages_of_a_sorted_search_follow_the_full_order() {
        let db = db_with(300);
        let sorted = |after: Option<&str>| {
            let mut b = json!({"sorts": [{"propertyName": "phone", "direction": "DESCENDING"}], "properties": ["phone"], "limit": 100});
            if let Some(a) = after {
                b["after"] = json!(a);
            }
            run(&db, ObjectType::Contacts, &req(b), None).unwrap()
        };
        let mut phones = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = sorted(after.as_deref());
            assert_eq!(page["total"], 300);
            phones.extend(
                page["results"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["properties"]["phone"].as_str().unwrap().parse::<u32>().unwrap()),
            );
            match page.pointer("/paging/next/after").and_then(Value::as_str) {
                Some(a) => after = Some(a.to_owned()),
                None => break,
            }
        }
        assert_eq!(phones.len(), 300);
        assert!(phones.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn searches_served_by_an_index_find_what_a_scan_finds() {
        let mut db = db_with(200);
        for id in db.tables[&ObjectType::Contacts].records.keys().copied().step_by(3).collect::<Vec<_>>() {
            let mut p = Map::new();
            p.insert("city".into(), json!("Paris"));
            db.update(ObjectType::Contacts, id, &p, Actor::Api).unwrap();
        }
        let mut times: Vec<i64> = db.tables[&ObjectType::Contacts].records.values().map(|r| r.updated_ms).collect();
        times.sort_unstable();
        let (a, b) = (times[50], times[150]);
        let iso = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap().to_rfc3339();
        let modified = ObjectType::Contacts.modified_property();
        let f = |op: &str, v: Value| json!({"propertyName": modified, "operator": op, "value": v});
        let bodies = [
            json!([{"filters": [f("GTE", json!(a.to_string()))]}]),
            json!([{"filters": [f("GT", json!(iso(a)))]}]),
            json!([{"filters": [f("LT", json!(b))]}]),
            json!([{"filters": [f("LTE", json!(b.to_string())), {"propertyName": "city", "operator": "EQ", "value": "Paris"}]}]),
            json!([{"filters": [f("EQ", json!(a.to_string()))]}]),
            json!([{"filters": [{"propertyName": modified, "operator": "BETWEEN", "value": iso(a), "highValue": b.to_string()}]}]),
            json!([{"filters": [{"propertyName": "email", "operator": "EQ", "value": "P7@Example.com"}]}]),
            json!([{"filters": [{"propertyName": "email", "operator": "IN", "values": ["p1@example.com", "p9@example.com", "nobody@example.com"]}]}]),
            json!([{"filters": [f("GTE", json!(b.to_string()))]}, {"filters": [{"propertyName": "email", "operator": "EQ", "value": "p3@example.com"}]}]),
            json!([{"filters": [f("GTE", json!(b.to_string()))]}, {"filters": [{"propertyName": "city", "operator": "EQ", "value": "Berlin"}]}]),
        ];
        for groups in bodies {
            let request = req(json!({"filterGroups": groups, "limit": 200, "properties": ["email"]}));
            let page = run(&db, ObjectType::Contacts, &request, None).unwrap();
            let found: Vec<u64> = page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().parse().unwrap())
                .collect();
            let compiled: Vec<Vec<Compiled<'_>>> =
                request.filter_groups.iter().map(|g| g.filters.iter().map(Filter::compile).collect()).collect();
            let scanned: Vec<u64> = db.tables[&ObjectType::Contacts]
                .records
                .values()
                .filter(|r| {
                    r.is_live() && compiled.iter().any(|g| g.iter().all(|c| c.matches(ObjectType::Contacts, r)))
                })
                .map(|r| r.id)
                .collect();
            assert!(!scanned.is_empty() || groups.to_string().contains("nobody"), "{groups}: the case finds something");
            assert_eq!(found, scanned, "{groups}");
            assert_eq!(page["total"].as_u64(), Some(scanned.len() as u64), "{groups}");
        }
    }

    #[test]
    fn paging_past_ten_thousand_is_refused() {
        let db = db_with(3);
        let err = run(&db, ObjectType::Contacts, &req(json!({"after": "10000", "limit": 10})), None).unwrap_err();
        assert_eq!(err.category, "VALIDATION_ERROR");
        let err = run(&db, ObjectType::Contacts, &req(json!({"limit": 201})), None).unwrap_err();
        assert_eq!(err.category, "VALIDATION_ERROR");
    }

    #[test]
    fn records_written_within_the_indexing_lag_are_not_yet_found() {
        let db = db_with(4);
        let newest = db.tables[&ObjectType::Contacts].records.values().map(|r| r.updated_ms).max().unwrap();
        let all = run(&db, ObjectType::Contacts, &req(json!({})), None).unwrap();
        let lagged = run(&db, ObjectType::Contacts, &req(json!({})), Some(newest - 1)).unwrap();
        assert_eq!((all["total"].as_u64(), lagged["total"].as_u64()), (Some(4), Some(3)));
    }

    #[test]
    fn operators_need_their_values() {
        let db = db_with(2);
        for bad in [
            json!({"propertyName": "city", "operator": "EQ"}),
            json!({"propertyName": "city", "operator": "IN"}),
            json!({"propertyName": "city", "operator": "BETWEEN", "value": "a"}),
            json!({"propertyName": "city", "operator": "LIKE", "value": "a"}),
        ] {
            let r = run(&db, ObjectType::Contacts, &req(json!({"filterGroups": [{"filters": [bad]}]})), None);
            assert!(r.is_err());
        }
        let six_groups: Vec<Value> =
            (0..6).map(|_| json!({"filters": [{"propertyName": "city", "operator": "HAS_PROPERTY"}]})).collect();
        assert!(run(&db, ObjectType::Contacts, &req(json!({"filterGroups": six_groups})), None).is_err());
    }
}
