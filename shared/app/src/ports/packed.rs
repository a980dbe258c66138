//! [`PackedRows`]: many Salesforce records of one read, held compactly.
//!
//! An import chunk reads up to 200,000 rows before it writes the first page
//! (its rows are sorted by id, so that a checkpoint names where to resume).
//! As [`SfRecord`]s, each row is a map of owned names and JSON values,
//! a few kilobytes a row; packed, the column names are held once and each
//! row is its id plus one string of tagged cells, about the size of the
//! data. A page becomes records only when it is written.

use super::SfRecord;
use crm_sync_domain::model::FieldMap;
use serde_json::Value;

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
    /// The sObject types met, each held once.
    sobjects: Vec<Box<str>>,
    rows: Vec<PackedRow>,
}

#[derive(Debug, Clone)]
struct PackedRow {
    /// Where the row's sObject type is in [`PackedRows::sobjects`].
    sobject: u16,
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

/// One row of a read, before it is kept: its id as sent and its fields as
/// text. A Bulk CSV row is looked at in place, so that the rows a reader
/// leaves out cost no record.
#[derive(Clone, Copy)]
pub struct RowView<'a>(RowFields<'a>);

#[derive(Clone, Copy)]
enum RowFields<'a> {
    Record(&'a SfRecord),
    Cells { id: &'a str, columns: &'a [String], cells: &'a csv::StringRecord },
}

impl<'a> RowView<'a> {
    /// A record already read.
    pub fn of_record(record: &'a SfRecord) -> Self {
        RowView(RowFields::Record(record))
    }

    /// A CSV row under its header.
    pub(crate) fn of_cells(id: &'a str, columns: &'a [String], cells: &'a csv::StringRecord) -> Self {
        RowView(RowFields::Cells { id, columns, cells })
    }

    /// The record id as Salesforce sent it.
    pub fn id(&self) -> &str {
        match &self.0 {
            RowFields::Record(record) => &record.id,
            RowFields::Cells { id, .. } => id,
        }
    }

    /// The field's text, when it was read and is text and not empty (a CSV
    /// `true` reads as text here).
    pub fn text(&self, field: &str) -> Option<&str> {
        match &self.0 {
            RowFields::Record(record) => record.fields.get(field).and_then(Value::as_str),
            RowFields::Cells { columns, cells, .. } => {
                let column = columns.iter().position(|c| c == field)?;
                cells.get(column).filter(|cell| !cell.is_empty())
            }
        }
    }
}

/// Where each packed column's cell sits in the CSV rows of one header
/// ([`PackedRows::csv_layout`]).
pub(crate) struct CsvLayout(Vec<Option<usize>>);

impl PackedRows {
    /// Takes a CSV header's columns in (those not yet known are added) and
    /// says where each packed column sits in its rows.
    pub(crate) fn csv_layout(&mut self, header: &[String]) -> CsvLayout {
        for name in header {
            if !self.columns.contains(name) {
                self.columns.push(name.clone());
            }
        }
        CsvLayout(self.columns.iter().map(|c| header.iter().position(|h| h == c)).collect())
    }

    /// Adds a CSV row under the header `layout` was made from, its cells read
    /// as a Bulk result reads: empty is null, `true`/`false` booleans, any
    /// other text as it is.
    pub(crate) fn push_csv(&mut self, sobject: &str, id: &str, layout: &CsvLayout, cells: &csv::StringRecord) {
        let mut text = String::with_capacity(cells.as_slice().len() + layout.0.len());
        let mut ends = Vec::with_capacity(layout.0.len());
        for column in &layout.0 {
            if let Some(cell) = column.and_then(|c| cells.get(c)) {
                match cell {
                    "" => text.push(NULL as char),
                    "true" => text.push(TRUE as char),
                    "false" => text.push(FALSE as char),
                    _ => {
                        text.push(TEXT as char);
                        text.push_str(cell);
                    }
                }
            }
            ends.push(u32::try_from(text.len()).unwrap_or(u32::MAX));
        }
        let sobject = self.sobject_index(sobject);
        self.rows.push(PackedRow {
            sobject,
            id: id.into(),
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        });
    }

    /// The index of an sObject type in `sobjects`, added when new.
    fn sobject_index(&mut self, sobject: &str) -> u16 {
        match self.sobjects.iter().position(|s| **s == *sobject) {
            Some(i) => u16::try_from(i).unwrap_or(u16::MAX),
            None => {
                self.sobjects.push(sobject.into());
                u16::try_from(self.sobjects.len() - 1).unwrap_or(u16::MAX)
            }
        }
    }

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
        let sobject = self.sobject_index(&record.sobject);
        self.rows.push(PackedRow {
            sobject,
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

    /// Row `i`'s value of `field` when it is text (not null, not a
    /// boolean), without making a value of it.
    pub fn text(&self, i: usize, field: &str) -> Option<&str> {
        let column = self.columns.iter().position(|c| c == field)?;
        self.rows[i].cell(column)?.strip_prefix(TEXT as char)
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
        let fields: FieldMap = self
            .columns
            .iter()
            .enumerate()
            .filter(|(_, name)| wanted(name))
            .filter_map(|(c, name)| row.cell(c).map(|cell| (name.clone(), value_of(cell))))
            .collect();
        let sobject = self.sobjects.get(usize::from(row.sobject)).map(|s| s.to_string()).unwrap_or_default();
        SfRecord { sobject, id: row.id.to_string(), fields }
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
        SfRecord { sobject: "Contact".into(), id: id.into(), fields: fields.into_iter().collect() }
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
        assert_eq!(
            (rows.text(0, "Email"), rows.text(0, "Phone"), rows.text(0, "IsConverted")),
            (Some("a@x.com"), None, None)
        );
        let trimmed = rows.trimmed(0, &["Id", "Email"]);
        assert_eq!(trimmed.fields, record("003A", json!({"Id": "003A", "Email": "a@x.com"})).fields);
    }

    #[test]
    fn rows_with_different_fields_keep_what_each_had() {
        let a = record("003A", json!({"Id": "003A", "Email": "a@x.com"}));
        let b = record("003B", json!({"Id": "003B", "Title": "CEO"}));
        let rows: PackedRows = [a.clone(), b.clone()].into_iter().collect();
        assert_eq!((rows.record(0), rows.record(1)), (a, b));
    }

    #[test]
    fn a_csv_row_packs_as_its_bulk_record_and_is_viewed_in_place() {
        let header: Vec<String> = ["Id", "Email", "Phone", "IsConverted", "HasOptedOutOfEmail", "Title"]
            .into_iter()
            .map(String::from)
            .collect();
        let cells = csv::StringRecord::from(vec!["003A", "a@x.com", "", "false", "true", "CEO, Sales"]);
        let view = RowView::of_cells("003A", &header, &cells);
        assert_eq!(
            (view.id(), view.text("Email"), view.text("Phone"), view.text("Nope")),
            ("003A", Some("a@x.com"), None, None)
        );
        // A packed CSV row reads back as the record its cells make (empty
        // null, booleans as such), under its own header order.
        let mut rows = PackedRows::default();
        rows.push(&record("003B", json!({"Title": "CTO", "Id": "003B"})));
        let layout = rows.csv_layout(&header);
        rows.push_csv("Contact", "003A", &layout, &cells);
        let expected = record(
            "003A",
            json!({"Id": "003A", "Email": "a@x.com", "Phone": null, "IsConverted": false,
                   "HasOptedOutOfEmail": true, "Title": "CEO, Sales"}),
        );
        assert_eq!(rows.record(1), expected);
        assert_eq!(rows.record(0), record("003B", json!({"Id": "003B", "Title": "CTO"})));
        let viewed = RowView::of_record(&expected);
        assert_eq!((viewed.id(), viewed.text("Email"), viewed.text("Phone")), ("003A", Some("a@x.com"), None));
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
