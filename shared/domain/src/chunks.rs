//! Import chunk planning (SPEC section 7): N records -> chunks of at most
//! 200,000 records (configurable downwards, never above), none empty,
//! covering every record exactly once.
//!
//! Owns the arithmetic only. A plan is made either over offsets (`0..N`) or
//! over an ordered list of keys (e.g. Salesforce ids from a Bulk query), in
//! which case each chunk is a closed key range `[first, last]`.

use serde::{Deserialize, Serialize};

/// The largest chunk an import may use.
pub const MAX_CHUNK_SIZE: u64 = 200_000;

/// Why a chunk size or range was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// The size was 0 or above [`MAX_CHUNK_SIZE`].
    #[error("a chunk size is between 1 and {MAX_CHUNK_SIZE}, not {0}")]
    Size(u64),
    /// `start` was not below `end`.
    #[error("a chunk range is non-empty: start {start} must be below end {end}")]
    EmptyRange { start: u64, end: u64 },
    /// Two keys were equal or out of order, so key ranges could overlap.
    #[error("chunk keys must be strictly ascending")]
    KeysNotAscending,
}

/// A chunk size in `1..=200_000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct ChunkSize(u64);

impl ChunkSize {
    /// The largest size, [`MAX_CHUNK_SIZE`] (the default of an import).
    pub const MAX: ChunkSize = ChunkSize(MAX_CHUNK_SIZE);

    /// A size in `1..=MAX_CHUNK_SIZE`; anything else is refused.
    pub fn new(size: u64) -> Result<Self, ChunkError> {
        if (1..=MAX_CHUNK_SIZE).contains(&size) { Ok(Self(size)) } else { Err(ChunkError::Size(size)) }
    }

    /// The size as a number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl Default for ChunkSize {
    fn default() -> Self {
        Self::MAX
    }
}

impl TryFrom<u64> for ChunkSize {
    type Error = ChunkError;
    fn try_from(value: u64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<ChunkSize> for u64 {
    fn from(value: ChunkSize) -> Self {
        value.0
    }
}

/// A half-open, non-empty range of record offsets `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "RawRange", into = "RawRange")]
pub struct ChunkRange {
    start: u64,
    end: u64,
}

/// The serialised form, checked by [`ChunkRange::new`] on the way in so a
/// stored empty range cannot come back.
#[derive(Serialize, Deserialize)]
struct RawRange {
    start: u64,
    end: u64,
}

impl ChunkRange {
    /// The range `[start, end)`; refused when empty.
    pub fn new(start: u64, end: u64) -> Result<Self, ChunkError> {
        if start < end { Ok(Self { start, end }) } else { Err(ChunkError::EmptyRange { start, end }) }
    }

    /// The first offset.
    pub fn start(self) -> u64 {
        self.start
    }

    /// One past the last offset.
    pub fn end(self) -> u64 {
        self.end
    }

    /// The number of records, always at least 1.
    pub fn len(self) -> u64 {
        self.end - self.start
    }

    /// Always false: a `ChunkRange` is never empty.
    pub fn is_empty(self) -> bool {
        false
    }

    /// Whether `offset` is in the range.
    pub fn contains(self, offset: u64) -> bool {
        (self.start..self.end).contains(&offset)
    }
}

impl TryFrom<RawRange> for ChunkRange {
    type Error = ChunkError;
    fn try_from(raw: RawRange) -> Result<Self, Self::Error> {
        Self::new(raw.start, raw.end)
    }
}

impl From<ChunkRange> for RawRange {
    fn from(r: ChunkRange) -> Self {
        RawRange { start: r.start, end: r.end }
    }
}

/// Splits `total` records into consecutive chunks of at most `size`; sizes
/// differ by at most one record (balanced), so no chunk is a tiny tail. No
/// records, no chunks.
pub fn plan_chunks(total: u64, size: ChunkSize) -> Vec<ChunkRange> {
    if total == 0 {
        return Vec::new();
    }
    let count = total.div_ceil(size.get());
    let base = total / count;
    let extra = total % count;
    let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    let mut start = 0;
    for i in 0..count {
        let len = base + u64::from(i < extra);
        out.push(ChunkRange { start, end: start + len });
        start += len;
    }
    out
}

/// A chunk described by the first and last key it holds (both inclusive)
/// and its offsets in the ordered key list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyChunk<K> {
    /// The smallest key of the chunk.
    pub first: K,
    /// The largest key of the chunk.
    pub last: K,
    /// Where the chunk's keys sit in the ordered list.
    pub offsets: ChunkRange,
}

/// Plans chunks over strictly ascending keys: each chunk is a closed key
/// range a query can select with `Id >= first AND Id <= last`.
pub fn plan_key_chunks<K: Ord + Clone>(keys: &[K], size: ChunkSize) -> Result<Vec<KeyChunk<K>>, ChunkError> {
    if keys.windows(2).any(|w| w[0] >= w[1]) {
        return Err(ChunkError::KeysNotAscending);
    }
    let total = u64::try_from(keys.len()).map_err(|_| ChunkError::Size(u64::MAX))?;
    Ok(plan_chunks(total, size)
        .into_iter()
        .filter_map(|range| {
            let first = keys.get(usize::try_from(range.start).ok()?)?;
            let last = keys.get(usize::try_from(range.end - 1).ok()?)?;
            Some(KeyChunk { first: first.clone(), last: last.clone(), offsets: range })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_of_200_001_records_is_split_into_two_chunks_within_the_limit() {
        let plan = plan_chunks(200_001, ChunkSize::MAX);
        assert_eq!(plan.len(), 2);
        assert!(plan.iter().all(|c| c.len() <= MAX_CHUNK_SIZE));
        assert_eq!(plan.iter().map(|c| c.len()).sum::<u64>(), 200_001);
    }

    #[test]
    fn an_import_of_exactly_200_000_records_is_one_chunk() {
        assert_eq!(plan_chunks(200_000, ChunkSize::MAX), vec![ChunkRange::new(0, 200_000).unwrap()]);
    }

    #[test]
    fn a_very_large_import_never_fails_for_its_size() {
        let plan = plan_chunks(1_000_000_001, ChunkSize::default());
        assert_eq!(plan.len(), 5001);
        assert!(plan.iter().all(|c| !c.is_empty() && c.len() <= MAX_CHUNK_SIZE));
        assert_eq!(plan.last().map(|c| c.end()), Some(1_000_000_001));
    }

    #[test]
    fn the_chunk_size_is_configurable_downwards_but_never_above_200_000() {
        assert_eq!(ChunkSize::new(50_000).unwrap().get(), 50_000);
        assert_eq!(ChunkSize::new(200_001), Err(ChunkError::Size(200_001)));
        assert_eq!(ChunkSize::new(0), Err(ChunkError::Size(0)));
        assert!(serde_json::from_str::<ChunkSize>("300000").is_err());
        let plan = plan_chunks(10, ChunkSize::new(3).unwrap());
        let lens: Vec<u64> = plan.iter().map(|c| c.len()).collect();
        assert_eq!(lens, [3, 3, 2, 2]);
    }

    #[test]
    fn no_records_make_no_chunks_and_an_empty_range_cannot_exist() {
        assert!(plan_chunks(0, ChunkSize::MAX).is_empty());
        assert_eq!(ChunkRange::new(5, 5), Err(ChunkError::EmptyRange { start: 5, end: 5 }));
        assert!(serde_json::from_str::<ChunkRange>(r#"{"start":3,"end":1}"#).is_err());
    }

    #[test]
    fn key_chunks_are_closed_ranges_of_salesforce_ids() {
        let ids = ["001A", "001B", "001C", "001D", "001E"];
        let plan = plan_key_chunks(&ids, ChunkSize::new(2).unwrap()).unwrap();
        let ranges: Vec<(&str, &str)> = plan.iter().map(|c| (c.first, c.last)).collect();
        assert_eq!(ranges, [("001A", "001B"), ("001C", "001D"), ("001E", "001E")]);
        assert_eq!(plan_key_chunks(&["b", "a"], ChunkSize::MAX), Err(ChunkError::KeysNotAscending));
    }
}
