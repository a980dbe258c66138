//! [`PackedRows`]: many Salesforce records of one read, held compactly.
//!
//! An import chunk reads up to 200,000 rows before it writes the first page
//! (its rows are sorted by id, so that a checkpoint names where to resume).
//! As [`SfRecord`]s, each row is a map of owned names and JSON values,
//! a few kilobytes a row; packed, the column names are held once and each
//! row is its id plus one string of tagged cells, about the size of the
//! data. A page becomes records only when it is written.

use super::SfRecord;
use serde_json::{Map, Value};

/// A cell's tag: the first byte of its text.
const NULL: u8 = b'n';
const TRUE: u8 = b't';
const FALSE: u8 = b'f';
const TEXT: u8 = b's';
/// Any other JSON value (a number, an object), as JSON text.
const JSON: u8 = b'j';

/// Rows of one object, in the order pushed.
#[derive(Debug, Clone, Default)]
pub struct PackedRows {
    columns: Vec<String>,
    rows: Vec<PackedRow>,
}

#[derive(Debug, Clone)]
struct PackedRow {
    sobject: Box<str>,
    id: Box<str>,
    /// The cells, tagged, one after the other.
    text: Box<str>,
    /// Per column, where its cell ends in `text`; a row packed before a
    /// column was first seen has fewer ends (the field is absent).
    ends: Box<[u32]>,
}

impl PackedRow {
    fn cell(&self, column: usize) -> Option<&str> {
        let end = *self.ends.get(column)? as usize;
        let start = if column == 0 { 0 } else { self.ends[column - 1] as usize };
        (end > start).then(|| &self.text[start..end])
    }
}

fn value_of(cell: &str) -> Value {
    let (tag, rest) = cell.split_at(1);
    match tag.as_bytes()[0] {
        TRUE => Value::Bool(true),
        FALSE => Value::Bool(false),
        TEXT => Value::String(rest.to_owned()),
        JSON => serde_json::from_str(rest).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

fn push_cell(text: &mut String, value: &Value) {
    match value {
        Value::Null => text.push(NULL as char),
        Value::Bool(true) => text.push(TRUE as char),
        Value::Bool(false) => text.push(FALSE as char),
        Value::String(s) => {
            text.push(TEXT as char);
            text.push_str(s);
        }
        other => {
            text.push(JSON as char);
            text.push_str(&other.to_string());
        }
    }
}

impl PackedRows {
    /// Adds a record (its fields exactly as read).
    pub fn push(&mut self, record: &SfRecord) {
        let mut cells: Vec<Option<&Value>> = vec![None; self.columns.len()];
        for (name, value) in &record.fields {
            match self.columns.iter().position(|c| c == name) {
                Some(i) => cells[i] = Some(value),
                None => {
                    self.columns.push(name.clone());
                    cells.push(Some(value));
                }
            }
        }
        // A field absent from this record but present in others is packed
        // as absent: an empty cell, no tag.
        let mut text = String::new();
        let mut ends = Vec::with_capacity(cells.len());
        for cell in cells {
            if let Some(value) = cell {
                push_cell(&mut text, value);
            }
            ends.push(u32::try_from(text.len()).unwrap_or(u32::MAX));
        }
        self.rows.push(PackedRow {
            sobject: record.sobject.as_str().into(),
            id: record.id.as_str().into(),
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        });
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The id of row `i` (as read, or as [`PackedRows::rewrite_ids`] left it).
    pub fn id(&self, i: usize) -> &str {
        &self.rows[i].id
    }

    /// Row `i`'s value of `field`, when read.
    pub fn field(&self, i: usize, field: &str) -> Option<Value> {
        let column = self.columns.iter().position(|c| c == field)?;
        self.rows[i].cell(column).map(value_of)
    }

    /// Row `i` as a record, every field read.
    pub fn record(&self, i: usize) -> SfRecord {
        self.record_of(i, |_| true)
    }

    /// Row `i` with only the named fields.
    pub fn trimmed(&self, i: usize, fields: &[&str]) -> SfRecord {
        self.record_of(i, |name| fields.contains(&name))
    }

    fn record_of(&self, i: usize, wanted: impl Fn(&str) -> bool) -> SfRecord {
        let row = &self.rows[i];
        let fields: Map<String, Value> = self
            .columns
            .iter()
            .enumerate()
            .filter(|(_, name)| wanted(name))
            .filter_map(|(c, name)| row.cell(c).map(|cell| (name.clone(), value_of(cell))))
            .collect();
        SfRecord { sobject: row.sobject.to_string(), id: row.id.to_string(), fields }
    }

    /// Keeps the rows `keep` accepts.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.rows.retain(|r| keep(&r.id));
    }

    /// Replaces each id by `f` of it; a row it gives `None` for is dropped.
    pub fn rewrite_ids(&mut self, f: impl Fn(&str) -> Option<String>) {
        self.rows.retain_mut(|row| match f(&row.id) {
            Some(id) => {
                if *row.id != *id {
                    row.id = id.into_boxed_str();
                }
                true
            }
            None => false,
        });
    }

    /// Sorts the rows by id (bytes) and drops repeats of an id.
    pub fn sort_dedup_by_id(&mut self) {
        self.rows.sort_by(|a, b| a.id.cmp(&b.id));
        self.rows.dedup_by(|a, b| a.id == b.id);
    }
}

impl FromIterator<SfRecord> for PackedRows {
    fn from_iter<I: IntoIterator<Item = SfRecord>>(records: I) -> Self {
        let mut rows = PackedRows::default();
        for record in records {
            rows.push(&record);
        }
        rows
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(id: &str, fields: Value) -> SfRecord {
        let Value::Object(fields) = fields else { panic!("fields") };
        SfRecord { sobject: "Contact".into(), id: id.into(), fields }
    }

    #[test]
    fn a_record_comes_back_exactly_as_it_was_packed() {
        let original = record(
            "003A",
            json!({"Id": "003A", "Email": "a@x.com", "Phone": null, "IsConverted": false,
                   "HasOptedOutOfEmail": true, "NumberOfEmployees": 12, "Title": "", "Account": {"Name": "Acme"}}),
        );
        let rows: PackedRows = [original.clone()].into_iter().collect();
        assert_eq!(rows.record(0), original);
        assert_eq!(rows.field(0, "Email"), Some(json!("a@x.com")));
        assert_eq!(rows.field(0, "Phone"), Some(Value::Null));
        assert_eq!(rows.field(0, "Missing"), None);
        let trimmed = rows.trimmed(0, &["Id", "Email"]);
        assert_eq!(trimmed.fields, json!({"Id": "003A", "Email": "a@x.com"}).as_object().unwrap().clone());
    }

    #[test]
    fn rows_with_different_fields_keep_what_each_had() {
        let a = record("003A", json!({"Id": "003A", "Email": "a@x.com"}));
        let b = record("003B", json!({"Id": "003B", "Title": "CEO"}));
        let rows: PackedRows = [a.clone(), b.clone()].into_iter().collect();
        assert_eq!((rows.record(0), rows.record(1)), (a, b));
    }

    #[test]
    fn ids_are_rewritten_filtered_sorted_and_deduplicated() {
        let mut rows: PackedRows =
            ["c", "a", "x", "b", "a"].into_iter().map(|id| record(id, json!({"Id": id}))).collect();
        rows.rewrite_ids(|id| (id != "x").then(|| id.to_uppercase()));
        rows.sort_dedup_by_id();
        let ids: Vec<&str> = (0..rows.len()).map(|i| rows.id(i)).collect();
        assert_eq!(ids, vec!["A", "B", "C"]);
        rows.retain(|id| id != "B");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows.record(1).fields["Id"], "c", "the fields are as read");
    }
}
