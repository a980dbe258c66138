//! Salesforce record ids: 15-character base-62 ids and their 18-character
//! case-safe form (crm-api.md A10).

/// Digits in ASCII order, so fixed-width ids sort in creation order.
const B62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const SUFFIX: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// An 18-character id, stored inline.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SfId([u8; 18]);

impl std::fmt::Debug for SfId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for SfId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The three-character case suffix of a 15-character id.
pub fn suffix(id15: &[u8]) -> [u8; 3] {
    let mut out = [0u8; 3];
    for (chunk, slot) in out.iter_mut().enumerate() {
        let mut v = 0usize;
        for i in 0..5 {
            if id15[chunk * 5 + i].is_ascii_uppercase() {
                v |= 1 << i;
            }
        }
        *slot = SUFFIX[v];
    }
    out
}

impl SfId {
    /// The `n`-th id of the object with key prefix `prefix` (3 characters).
    pub fn generate(prefix: &str, n: u64) -> SfId {
        let mut b = [b'0'; 18];
        b[..3].copy_from_slice(&prefix.as_bytes()[..3]);
        b[3] = b'R';
        b[4] = b'O';
        let mut v = n;
        for i in (5..15).rev() {
            b[i] = B62[(v % 62) as usize];
            v /= 62;
        }
        let s = suffix(&b[..15]);
        b[15..].copy_from_slice(&s);
        SfId(b)
    }

    /// Accepts a 15- or 18-character id (the suffix of an 18-character id is
    /// recomputed, as Salesforce matches it case-insensitively).
    pub fn parse(s: &str) -> Option<SfId> {
        let bytes = s.as_bytes();
        if !(bytes.len() == 15 || bytes.len() == 18) || !bytes.iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
        let mut b = [0u8; 18];
        b[..15].copy_from_slice(&bytes[..15]);
        let s = suffix(&b[..15]);
        if bytes.len() == 18 && !bytes[15..].eq_ignore_ascii_case(&s) {
            return None;
        }
        b[15..].copy_from_slice(&s);
        Some(SfId(b))
    }

    pub fn as_str(&self) -> &str {
        // Built only from ASCII alphanumerics.
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    pub fn prefix(&self) -> &str {
        &self.as_str()[..3]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_fifteen_character_ids_get_their_known_suffixes() {
        assert_eq!(SfId::parse("001A0000006Vm9r").map(|i| i.to_string()).as_deref(), Some("001A0000006Vm9rIAC"));
        assert_eq!(SfId::parse("0019000000B98de").map(|i| i.to_string()).as_deref(), Some("0019000000B98deAAB"));
        assert_eq!(SfId::parse("003D000000QTK2B").map(|i| i.to_string()).as_deref(), Some("003D000000QTK2BIAX"));
    }

    #[test]
    fn generated_ids_sort_in_creation_order_and_round_trip() {
        let a = SfId::generate("003", 61);
        let b = SfId::generate("003", 62);
        assert!(a < b);
        assert_eq!(SfId::parse(b.as_str()), Some(b));
        assert_eq!(SfId::parse(&b.as_str()[..15]), Some(b));
    }
}
