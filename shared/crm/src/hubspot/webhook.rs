//! Webhook signature verification, v3 (HMAC-SHA256, base64, 5-minute
//! window) and the older v2/v1 (SHA-256 hex), all compared in constant time.
//! A delivery is accepted on its v3 signature only (see [`verify_request`]).
//!
//! Pure functions: no IO, the current time is passed in.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::HeaderMap;
use sha2::{Digest, Sha256};
use std::time::Duration;
use subtle::ConstantTimeEq;

/// Deliveries older (or newer) than this are refused.
pub const MAX_AGE: Duration = Duration::from_secs(300);

/// The signature scheme a delivery was checked with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureVersion {
    /// SHA-256 hex of client secret + body.
    V1,
    /// SHA-256 hex of client secret + method + URI + body.
    V2,
    /// HMAC-SHA256 (base64) of method + URI + body + timestamp, with the
    /// timestamp checked against [`MAX_AGE`].
    V3,
}

/// Why a delivery's signature was refused. The caller answers 401 and
/// processes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The delivery carries no signature header.
    #[error("no webhook signature header")]
    Missing,
    /// The v3 timestamp header is not a number of milliseconds.
    #[error("the request timestamp is not epoch milliseconds")]
    BadTimestamp,
    /// The v3 timestamp is more than [`MAX_AGE`] away from now (a replay,
    /// or a clock far off).
    #[error("the request timestamp is {age_seconds} s away from now (limit 300 s)")]
    Stale {
        /// How far the timestamp is from now (negative: in the future).
        age_seconds: i64,
    },
    /// The signature is not the one the client secret gives.
    #[error("the signature does not match")]
    Mismatch,
    /// The version header names a scheme this client does not know.
    #[error("unsupported signature version {0}")]
    UnsupportedVersion(String),
    /// Only a v1 or v2 signature: HubSpot adds v3 to every request, and
    /// v1/v2 carry no time, so a delivery signed with them alone could be
    /// a copy replayed at any age.
    #[error("no v3 signature (a {0} signature alone is refused: it carries no time)")]
    NoV3(String),
    /// The client was built without the app's client secret.
    #[error("no client secret configured")]
    NoSecret,
}

fn equal(expected: &[u8], given: &str) -> Result<(), SignatureError> {
    if bool::from(expected.ct_eq(given.trim().as_bytes())) { Ok(()) } else { Err(SignatureError::Mismatch) }
}

/// Decodes the percent-encoded characters HubSpot decodes before signing v3.
pub fn decode_v3_uri(uri: &str) -> String {
    const DECODED: [(&str, char); 12] = [
        ("3A", ':'),
        ("2F", '/'),
        ("3F", '?'),
        ("40", '@'),
        ("21", '!'),
        ("24", '$'),
        ("27", '\''),
        ("28", '('),
        ("29", ')'),
        ("2A", '*'),
        ("2C", ','),
        ("3B", ';'),
    ];
    let mut out = String::with_capacity(uri.len());
    let mut rest = uri;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let code = rest.get(pos + 1..pos + 3).map(str::to_ascii_uppercase);
        match code.and_then(|c| DECODED.iter().find(|(k, _)| *k == c)) {
            Some((_, ch)) => {
                out.push(*ch);
                rest = &rest[pos + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[pos + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The v3 signature of a request (base64 HMAC-SHA256 of method, URI, body, timestamp).
pub fn sign_v3(secret: &str, method: &str, uri: &str, body: &[u8], timestamp: &str) -> String {
    // HMAC takes keys of any length; the error branch cannot happen.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return String::new() };
    mac.update(method.as_bytes());
    mac.update(decode_v3_uri(uri).as_bytes());
    mac.update(body);
    mac.update(timestamp.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Checks a v3 signature and its timestamp (epoch ms, within 5 minutes of `now`).
pub fn verify_v3(
    secret: &str,
    method: &str,
    uri: &str,
    body: &[u8],
    signature: &str,
    timestamp: &str,
    now: DateTime<Utc>,
) -> Result<(), SignatureError> {
    let ts: i64 = timestamp.trim().parse().map_err(|_| SignatureError::BadTimestamp)?;
    let age_ms = now.timestamp_millis() - ts;
    if age_ms.unsigned_abs() > MAX_AGE.as_millis() as u64 {
        return Err(SignatureError::Stale { age_seconds: age_ms / 1000 });
    }
    equal(sign_v3(secret, method, uri, body, timestamp.trim()).as_bytes(), signature)
}

/// Checks a v2 signature: hex SHA-256 of secret, method, URI and body.
pub fn verify_v2(secret: &str, method: &str, uri: &str, body: &[u8], signature: &str) -> Result<(), SignatureError> {
    let mut h = Sha256::new();
    h.update(secret.as_bytes());
    h.update(method.as_bytes());
    h.update(uri.as_bytes());
    h.update(body);
    equal(hex::encode(h.finalize()).as_bytes(), &signature.trim().to_ascii_lowercase())
}

/// Checks a v1 signature: hex SHA-256 of secret and body.
pub fn verify_v1(secret: &str, body: &[u8], signature: &str) -> Result<(), SignatureError> {
    let mut h = Sha256::new();
    h.update(secret.as_bytes());
    h.update(body);
    equal(hex::encode(h.finalize()).as_bytes(), &signature.trim().to_ascii_lowercase())
}

/// Checks a delivery from its headers: its v3 signature and timestamp.
/// HubSpot sends v3 on every request; a delivery with only the older v1 or
/// v2 signature (`X-HubSpot-Signature`) is refused, since those sign no time
/// and would accept a captured delivery replayed at any age. `uri` is the
/// full URL HubSpot called.
pub fn verify_request(
    secret: &str,
    method: &str,
    uri: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<SignatureVersion, SignatureError> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(sig) = get("x-hubspot-signature-v3") {
        let ts = get("x-hubspot-request-timestamp").ok_or(SignatureError::BadTimestamp)?;
        return verify_v3(secret, method, uri, body, sig, ts, now).map(|()| SignatureVersion::V3);
    }
    get("x-hubspot-signature").ok_or(SignatureError::Missing)?;
    match get("x-hubspot-signature-version").unwrap_or("v1") {
        version @ ("v1" | "v2") => Err(SignatureError::NoV3(version.to_owned())),
        other => Err(SignatureError::UnsupportedVersion(other.to_owned())),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";

    #[test]
    fn the_published_v1_v2_and_v3_vectors_verify() {
        let body = br#"[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]"#;
        assert_eq!(verify_v1(SECRET, body, "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"), Ok(()));
        assert_eq!(
            verify_v2(
                SECRET,
                "GET",
                "https://www.example.com/webhook_uri",
                b"",
                "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"
            ),
            Ok(())
        );
        let now = Utc.timestamp_millis_opt(1_714_000_060_000).unwrap();
        let v3 = "AvKzGI4s/I8BIoaVzZc4wGbKj15lIphJ3Sj57IRcSjU=";
        let body = br#"[{"eventId":42,"objectId":101}]"#;
        assert_eq!(
            verify_v3(SECRET, "POST", "https://sync.example.com/hubspot/webhook", body, v3, "1714000000000", now),
            Ok(())
        );
    }

    #[test]
    fn a_v3_signature_past_five_minutes_is_stale() {
        let now = Utc.timestamp_millis_opt(1_714_000_000_000 + 301_000).unwrap();
        let body = br#"[{"eventId":42,"objectId":101}]"#;
        let r = verify_v3(
            SECRET,
            "POST",
            "https://sync.example.com/hubspot/webhook",
            body,
            "AvKzGI4s/I8BIoaVzZc4wGbKj15lIphJ3Sj57IRcSjU=",
            "1714000000000",
            now,
        );
        assert_eq!(r, Err(SignatureError::Stale { age_seconds: 301 }));
    }

    #[test]
    fn a_valid_v1_or_v2_signature_without_v3_is_refused() {
        let body = br#"[{"eventId":1,"occurredAt":1564113600000}]"#;
        let uri = "https://sync.example.com/webhooks/hubspot";
        let now = Utc.timestamp_millis_opt(1_714_000_000_000).unwrap();
        let v1 = hex::encode(Sha256::digest([SECRET.as_bytes(), body].concat()));
        let v2 = hex::encode(Sha256::digest([SECRET.as_bytes(), b"POST", uri.as_bytes(), body].concat()));
        assert_eq!(verify_v1(SECRET, body, &v1), Ok(()), "the v1 signature itself is right");
        for (version, signature) in [("v1", v1), ("v2", v2)] {
            let mut headers = HeaderMap::new();
            headers.insert("x-hubspot-signature", signature.parse().unwrap());
            headers.insert("x-hubspot-signature-version", version.parse().unwrap());
            assert_eq!(
                verify_request(SECRET, "POST", uri, &headers, body, now),
                Err(SignatureError::NoV3(version.to_owned()))
            );
        }
    }

    #[test]
    fn percent_encoded_reserved_characters_are_decoded_for_v3() {
        assert_eq!(decode_v3_uri("https://x.io/hook%3Fa%3Db%2Cc%20d"), "https://x.io/hook?a%3Db,c%20d");
    }
}
