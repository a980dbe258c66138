//! The stored form of a link's string map ([`Link::fingerprints`]) on SQLite.
//!
//! A link's map holds a fingerprint per mapping (32 hex digits, or two
//! joined by `|`) under the mapping's key, plus a few entries of metadata.
//! As JSON text that is about a kilobyte per link, two thirds of it the same
//! keys in every row, and every byte of it is written twice (the write-ahead
//! log, then the checkpoint) and read back by every echo check. Stored here
//! instead as a compact blob:
//!
//! - each key once per file, in the `link_keys` table, and in a row as its
//!   number there (a varint, one byte for the first 128 keys);
//! - a value of 32 lower-case hex digits as its 16 bytes, two joined by `|`
//!   as 32 bytes, anything else as its text with its length.
//!
//! Reading a blob gives back exactly the map that was written. Rows written
//! as JSON text by earlier versions read as before; a row is rewritten in
//! the new form the next time the link is written.
//!
//! Key numbers are given by the database (`link_keys`, unique keys), and
//! committed before the write that first needs one begins, so two processes
//! on one file agree on them and a write rolled back leaves none unknown.
//! Each store keeps the numbers it has seen ([`LinkKeys`]) and reads the
//! table again when a row holds one it does not know (written by another
//! process).
//!
//! [`Link::fingerprints`]: crate::Link::fingerprints

use std::collections::{BTreeMap, HashMap};

use rusqlite::{Connection, OptionalExtension, params};

use super::db_err;
use crate::error::StoreError;

/// The first byte of every blob: the layout below. A new layout gets a new
/// number, and blobs of the old one keep reading.
const LAYOUT: u8 = 1;

/// The value is text: a varint length, then its bytes.
const TEXT: u8 = 0;
/// The value is 32 lower-case hex digits: their 16 bytes.
const ONE_PRINT: u8 = 1;
/// The value is 32 hex digits, `|`, 32 hex digits: 32 bytes.
const TWO_PRINTS: u8 = 2;

/// The highest key number read: a file has a key per mapping and a few of
/// metadata, numbered from 1.
const MOST_KEYS: usize = 1 << 16;

/// The keys of one file's link maps, by number and by text.
#[derive(Debug, Default)]
pub(super) struct LinkKeys {
    by_key: HashMap<String, u64>,
    /// The keys of the last map encoded, in order, with their numbers:
    /// links of one pair hold the same keys, so the next map's keys are
    /// compared with these before any is hashed.
    last: Vec<(String, u64)>,
    /// Numbers are given from 1 up, so a key's number is its place here.
    by_number: Vec<Option<String>>,
}

impl LinkKeys {
    /// Reads every key of the file again (another process may have added
    /// some).
    fn reload(&mut self, conn: &Connection) -> Result<(), StoreError> {
        let mut stmt = conn.prepare_cached("SELECT id, key FROM link_keys").map_err(db_err("read link keys"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .map_err(db_err("read link keys"))?;
        for row in rows {
            let (number, key) = row.map_err(db_err("read link keys"))?;
            let number = u64::try_from(number)
                .map_err(|_| StoreError::Invalid(format!("link key {key} has number {number}")))?;
            self.remember(key, number);
        }
        Ok(())
    }

    fn remember(&mut self, key: String, number: u64) {
        self.by_key.insert(key.clone(), number);
        // (A number far beyond the keys a file can have is not made a
        // place for: a row naming it reads as corrupt.)
        let Some(place) = usize::try_from(number).ok().filter(|&p| p <= MOST_KEYS) else { return };
        if self.by_number.len() <= place {
            self.by_number.resize(place + 1, None);
        }
        self.by_number[place] = Some(key);
    }

    fn known(&self, number: u64) -> Option<&str> {
        self.by_number.get(usize::try_from(number).ok()?)?.as_deref()
    }

    /// The number of `key`, given one in `link_keys` when the file has none
    /// (on `conn`, outside any transaction: the number is remembered, so it
    /// must be committed).
    fn number(&mut self, conn: &Connection, key: &str) -> Result<u64, StoreError> {
        if let Some(&n) = self.by_key.get(key) {
            return Ok(n);
        }
        conn.prepare_cached("INSERT INTO link_keys (key) VALUES (?1) ON CONFLICT DO NOTHING")
            .and_then(|mut s| s.execute(params![key]))
            .map_err(db_err("add a link key"))?;
        let number: i64 = conn
            .prepare_cached("SELECT id FROM link_keys WHERE key = ?1")
            .and_then(|mut s| s.query_row(params![key], |r| r.get(0)).optional())
            .map_err(db_err("read a link key"))?
            .ok_or_else(|| StoreError::Invalid(format!("link key {key} was not stored")))?;
        let number =
            u64::try_from(number).map_err(|_| StoreError::Invalid(format!("link key {key} has number {number}")))?;
        self.remember(key.to_owned(), number);
        Ok(number)
    }

    /// The key numbered `number`, reading the table again once when it is
    /// not known yet; `None` when the file holds no such key.
    fn key(&mut self, conn: &Connection, number: u64) -> Result<Option<&str>, StoreError> {
        if self.known(number).is_none() {
            self.reload(conn)?;
        }
        Ok(self.known(number))
    }

    /// `map` in its stored form.
    pub(super) fn encode(&mut self, conn: &Connection, map: &BTreeMap<String, String>) -> Result<Vec<u8>, StoreError> {
        let mut out = Vec::with_capacity(1 + map.len() * 20);
        out.push(LAYOUT);
        for (key, value) in map {
            push_varint(&mut out, self.number(conn, key)?);
            push_value(&mut out, value);
        }
        Ok(out)
    }

    /// `map` in its stored form when every key of it has a number already
    /// (no database needed: made on the caller's thread); `None` otherwise.
    pub(super) fn encode_known(&mut self, map: &BTreeMap<String, String>) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(1 + map.len() * 20);
        out.push(LAYOUT);
        let mut same = self.last.len() == map.len();
        for (i, (key, value)) in map.iter().enumerate() {
            let number = match self.last.get(i) {
                Some((last, number)) if same && last == key => *number,
                _ => {
                    same = false;
                    *self.by_key.get(key)?
                }
            };
            push_varint(&mut out, number);
            push_value(&mut out, value);
        }
        if !same {
            self.last = map.keys().map(|k| (k.clone(), self.by_key.get(k).copied().unwrap_or_default())).collect();
        }
        Some(out)
    }

    /// A map back from [`LinkKeys::encode`]'s blob; `what` names the link
    /// in the error when the blob is not one.
    pub(super) fn decode(
        &mut self,
        conn: &Connection,
        blob: &[u8],
        what: &dyn Fn() -> String,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let corrupt = |why: &str| StoreError::corrupt(what(), why.to_owned());
        let mut reader = Reader(blob);
        if reader.byte() != Some(LAYOUT) {
            return Err(corrupt("stored in an unknown layout"));
        }
        // (An entry takes at least 18 bytes when its value is a print.)
        let mut entries = Vec::with_capacity(blob.len() / 18 + 1);
        while !reader.0.is_empty() {
            let number = reader.varint().ok_or_else(|| corrupt("a key number is cut short"))?;
            let value = reader.value().ok_or_else(|| corrupt("a value is cut short"))?;
            let key = self.key(conn, number)?.ok_or_else(|| corrupt("a key number the file does not hold"))?;
            entries.push((key.to_owned(), value));
        }
        Ok(entries.into_iter().collect())
    }
}

/// Appends `n` as a little-endian base-128 varint.
fn push_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Appends `value`, as prints when it is exactly what a print's text looks
/// like, so that it reads back the same.
fn push_value(out: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    if bytes.len() == 32 && push_hex(out, ONE_PRINT, bytes, &[]) {
        return;
    }
    if bytes.len() == 65 && bytes[32] == b'|' && push_hex(out, TWO_PRINTS, &bytes[..32], &bytes[33..]) {
        return;
    }
    out.push(TEXT);
    push_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends `tag` and the bytes of the lower-case hex digits `a` then `b`
/// (32 each, or `b` empty); false, `out` unchanged, when they are not all
/// lower-case hex digits.
fn push_hex(out: &mut Vec<u8>, tag: u8, a: &[u8], b: &[u8]) -> bool {
    let lower_hex = |digits: &[u8]| digits.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    if !lower_hex(a) || !lower_hex(b) {
        return false;
    }
    let mut bytes = [0u8; 16];
    out.push(tag);
    for half in [a, b].into_iter().filter(|h| !h.is_empty()) {
        if hex::decode_to_slice(half, &mut bytes).is_err() {
            return false;
        }
        out.extend_from_slice(&bytes);
    }
    true
}

/// A cursor over a blob.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(taken)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }

    fn value(&mut self) -> Option<String> {
        match self.byte()? {
            TEXT => {
                let len = usize::try_from(self.varint()?).ok()?;
                String::from_utf8(self.take(len)?.to_vec()).ok()
            }
            ONE_PRINT => Some(hex(self.take(16)?, None)),
            TWO_PRINTS => {
                let both = self.take(32)?;
                Some(hex(&both[..16], Some(&both[16..])))
            }
            _ => None,
        }
    }
}

/// Lower-case hex digits of `a`, then `|` and those of `b` (16 bytes
/// each).
fn hex(a: &[u8], b: Option<&[u8]>) -> String {
    let mut text = String::with_capacity(65);
    let mut digits = [0u8; 32];
    for (i, part) in std::iter::once(a).chain(b).enumerate() {
        if i > 0 {
            text.push('|');
        }
        if hex::encode_to_slice(part, &mut digits).is_ok()
            && let Ok(digits) = std::str::from_utf8(&digits)
        {
            text.push_str(digits);
        }
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn file() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(super::super::SCHEMA).unwrap();
        conn
    }

    fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    const PRINT: &str = "8f2c8bf74a906d33d33758483c06c146";
    const OTHER: &str = "9fd39df2522f0f65d275278c03b50aa0";

    #[test]
    fn every_kind_of_value_reads_back_as_it_was_written() {
        let conn = file();
        let mut keys = LinkKeys::default();
        let written = map(&[
            ("email<->Email", PRINT),
            ("hubspot_owner_id<->OwnerId", &format!("{PRINT}|{OTHER}")),
            ("_salesforce_last_modified", "2026-12-05T04:39:13.333+00:00"),
            ("_never_written", "phone<->Phone,fax<->Fax"),
            // Look like prints, but are not exactly one: kept as text.
            ("upper", "8F2C8BF74A906D33D33758483C06C146"),
            ("short", "8f2c"),
            ("bar", &format!("{PRINT}|{PRINT}x")),
            ("_writing", r#"{"email<->Email":["hubspot","8f2c"]}"#),
            ("empty", ""),
            ("unicode", "Zoë ✓"),
        ]);
        let blob = keys.encode(&conn, &written).unwrap();
        let read = LinkKeys::default().decode(&conn, &blob, &|| "link".into()).unwrap();
        assert_eq!(read, written);
    }

    #[test]
    fn a_map_of_prints_takes_a_third_of_its_json() {
        let conn = file();
        let written: BTreeMap<String, String> =
            (0..16).map(|i| (format!("property_{i}<->Field_{i}__c"), PRINT.to_owned())).collect();
        let blob = LinkKeys::default().encode(&conn, &written).unwrap();
        let json = serde_json::to_string(&written).unwrap();
        assert!(blob.len() * 3 < json.len(), "blob {} bytes, json {}", blob.len(), json.len());
    }

    #[test]
    fn keys_numbered_by_another_store_on_the_file_are_read_from_it() {
        let conn = file();
        let mut writer = LinkKeys::default();
        let mut reader = LinkKeys::default();
        let first = writer.encode(&conn, &map(&[("a", PRINT)])).unwrap();
        assert_eq!(reader.decode(&conn, &first, &|| "link".into()).unwrap(), map(&[("a", PRINT)]));
        // A key the reader has not seen, numbered after it read the table.
        let second = writer.encode(&conn, &map(&[("a", OTHER), ("b", PRINT)])).unwrap();
        assert_eq!(reader.decode(&conn, &second, &|| "link".into()).unwrap(), map(&[("a", OTHER), ("b", PRINT)]));
        // Both number a key the same way.
        assert_eq!(
            reader.encode(&conn, &map(&[("b", PRINT)])).unwrap(),
            writer.encode(&conn, &map(&[("b", PRINT)])).unwrap()
        );
    }

    #[test]
    fn maps_stored_without_the_database_read_back_whichever_keys_came_before() {
        let conn = file();
        let mut keys = LinkKeys::default();
        let ab = map(&[("a", PRINT), ("b", OTHER)]);
        let ac = map(&[("a", OTHER), ("c", PRINT)]);
        let abc = map(&[("a", PRINT), ("b", PRINT), ("c", OTHER)]);
        // Unknown keys: not stored on the caller's thread.
        assert_eq!(keys.encode_known(&ab), None);
        for m in [&ab, &ac, &abc] {
            keys.encode(&conn, m).unwrap();
        }
        for m in [&ab, &ab, &ac, &abc, &ab, &ac, &ac] {
            let blob = keys.encode_known(m).unwrap();
            assert_eq!(blob, keys.encode(&conn, m).unwrap());
            assert_eq!(&LinkKeys::default().decode(&conn, &blob, &|| "link".into()).unwrap(), m);
        }
        assert_eq!(keys.encode_known(&map(&[("a", PRINT), ("d", PRINT)])), None);
    }

    #[test]
    fn a_blob_that_is_not_a_link_map_is_refused_as_corrupt() {
        let conn = file();
        let mut keys = LinkKeys::default();
        let good = keys.encode(&conn, &map(&[("a", PRINT)])).unwrap();
        for bad in [vec![], vec![9], good[..good.len() - 1].to_vec(), vec![LAYOUT, 0x7f, ONE_PRINT]] {
            let error = keys.decode(&conn, &bad, &|| "fingerprints of link 003".into()).unwrap_err();
            assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
            assert!(error.to_string().contains("link 003"), "{error}");
        }
    }
}
