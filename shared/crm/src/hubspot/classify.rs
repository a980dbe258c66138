//! Turns a failed HubSpot answer into the classified [`CrmError`]: retryable
//! after a delay (429 with its window, 477, 5xx, transport failures) or
//! permanent (validation, duplicates, access, not found), keeping HubSpot's
//! `category` and message.
//!
//! This is where HubSpot's categories and HTTP statuses become the product's
//! [`ErrorCategory`] and [`Verdict`]; the domain never sees them.
//!
//! Pure: status, headers and body in, error out.

use crate::error::{CrmError, System};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use crm_sync_domain::error::{ErrorCategory, Verdict};
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::time::Duration;

/// Wait after a 10-second-window 429 when no `Retry-After` says otherwise.
pub const TEN_SECONDLY_WAIT: Duration = Duration::from_secs(10);
/// Wait after a search (per-second) 429.
pub const SECONDLY_WAIT: Duration = Duration::from_secs(1);
/// Wait after a 5xx or a transport failure.
pub const SERVER_ERROR_WAIT: Duration = Duration::from_secs(2);

/// The rate-limit policy a 429 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RatePolicy {
    /// The rolling 10-second window of the account (or app).
    TenSecondly,
    /// The per-second limit of the search endpoints.
    Secondly,
    /// The daily allocation: nothing to do until the next day.
    Daily,
}

/// Which limit a 429 body names (`policyName`, or the message for older bodies).
pub fn rate_policy(body: &Value) -> RatePolicy {
    let policy = body.get("policyName").and_then(Value::as_str).unwrap_or_default();
    let message = body.get("message").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
    if policy == "DAILY" || message.contains("daily limit") {
        RatePolicy::Daily
    } else if policy == "SECONDLY" || message.contains("secondly limit") && !message.contains("ten_secondly") {
        RatePolicy::Secondly
    } else {
        RatePolicy::TenSecondly
    }
}

fn retry_after_header(headers: &HeaderMap) -> Option<Duration> {
    headers.get("retry-after")?.to_str().ok()?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Time until the next UTC midnight (HubSpot resets daily limits at the
/// account's midnight; UTC is the conservative stand-in), plus a minute.
pub fn until_next_midnight(now: DateTime<Utc>) -> Duration {
    let tomorrow = now.date_naive().succ_opt().and_then(|d| d.and_hms_opt(0, 1, 0)).map(|d| d.and_utc());
    tomorrow.map(|t| t - now).and_then(|d: ChronoDuration| d.to_std().ok()).unwrap_or(Duration::from_secs(24 * 3600))
}

/// The sync-health category of a HubSpot error code (the body's
/// `category`, or a per-input `code` such as `INVALID_EMAIL`), with the
/// message for the one case the code does not settle: HubSpot files refused
/// associations under `VALIDATION_ERROR` and says so only in the message.
/// `None` for a code this table does not know.
///
/// This table is the only place a HubSpot code becomes an [`ErrorCategory`]:
/// whole-call answers ([`classify`]) and per-input results of a batch write
/// ([`category`]) both read it.
fn by_code(code: &str, message: &str) -> Option<ErrorCategory> {
    use ErrorCategory::*;
    let category = match code {
        "CONFLICT" | "DUPLICATE_VALUE" => Duplicates,
        "VALIDATION_ERROR"
        | "INVALID_EMAIL"
        | "INVALID_OPTION"
        | "PROPERTY_DOESNT_EXIST"
        | "INVALID_INTEGER"
        | "INVALID_DATE"
        | "INVALID_LONG"
        | "INVALID_DECIMAL"
        | "READ_ONLY_VALUE"
        | "INVALID_REQUEST" => {
            if message.to_ascii_lowercase().contains("association") {
                Associations
            } else {
                PropertyValueOrValidation
            }
        }
        "INVALID_AUTHENTICATION" | "EXPIRED_AUTHENTICATION" | "MISSING_SCOPES" => PermissionsOrAccess,
        "RATE_LIMITS" | "RATE_LIMIT" | "TEN_SECONDLY_ROLLING" | "SECONDLY" | "DAILY" => ApiLimit,
        "OBJECT_NOT_FOUND" => Other,
        _ => return None,
    };
    Some(category)
}

/// The sync-health category of a HubSpot error code on its own, as a
/// per-input result of a batch write carries it (no HTTP status of its
/// own): the table's reading, or [`ErrorCategory::Other`] for a code the
/// table does not know.
pub fn category(code: &str, message: &str) -> ErrorCategory {
    by_code(code, message).unwrap_or(ErrorCategory::Other)
}

/// Classifies a non-success answer.
pub fn classify(status: u16, headers: &HeaderMap, body: &[u8], now: DateTime<Utc>) -> CrmError {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = json
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(500).collect());
    let category_field = json.get("category").and_then(Value::as_str);
    let retry_after = retry_after_header(headers);
    let (code, category, verdict) = match status {
        429 => {
            let policy = rate_policy(&json);
            let wait = match policy {
                RatePolicy::Daily => until_next_midnight(now),
                RatePolicy::Secondly => retry_after.unwrap_or(SECONDLY_WAIT),
                RatePolicy::TenSecondly => retry_after.unwrap_or(TEN_SECONDLY_WAIT),
            };
            let code = json.get("policyName").and_then(Value::as_str).or(category_field).unwrap_or("RATE_LIMITS");
            (code.to_owned(), ErrorCategory::ApiLimit, Verdict::Retryable { after: wait })
        }
        477 => (
            "MIGRATION_IN_PROGRESS".to_owned(),
            ErrorCategory::Other,
            Verdict::Retryable { after: retry_after.unwrap_or(Duration::from_secs(60)) },
        ),
        500..=599 => (
            category_field.unwrap_or("SERVER_ERROR").to_owned(),
            ErrorCategory::Other,
            Verdict::Retryable { after: retry_after.unwrap_or(SERVER_ERROR_WAIT) },
        ),
        409 | 401 | 403 | 404 | 400 | 422 => {
            let code = category_field.unwrap_or(match status {
                409 => "CONFLICT",
                401 => "INVALID_AUTHENTICATION",
                403 => "MISSING_SCOPES",
                404 => "OBJECT_NOT_FOUND",
                _ => "VALIDATION_ERROR",
            });
            // A category this client does not know yet reads by its status.
            let by_status = match status {
                409 => ErrorCategory::Duplicates,
                401 | 403 => ErrorCategory::PermissionsOrAccess,
                404 => ErrorCategory::Other,
                _ => category("VALIDATION_ERROR", &message),
            };
            (code.to_owned(), by_code(code, &message).unwrap_or(by_status), Verdict::Permanent)
        }
        _ => (
            category_field.map_or_else(|| format!("HTTP_{status}"), str::to_owned),
            category_field.and_then(|code| by_code(code, &message)).unwrap_or(ErrorCategory::Other),
            Verdict::Permanent,
        ),
    };
    CrmError { system: System::HubSpot, status, code, message, category, verdict, source: None }
}

/// A request that got no HTTP answer (connection refused, timeout, TLS).
pub fn transport(error: reqwest::Error) -> CrmError {
    CrmError {
        system: System::HubSpot,
        status: 0,
        code: if error.is_timeout() { "TIMEOUT".into() } else { "TRANSPORT".into() },
        message: "HubSpot could not be reached".into(),
        category: ErrorCategory::Other,
        verdict: Verdict::Retryable { after: SERVER_ERROR_WAIT },
        source: Some(Box::new(error)),
    }
}

/// A success answer whose body is not what HubSpot documents.
pub fn decode(status: u16, error: serde_json::Error) -> CrmError {
    CrmError {
        system: System::HubSpot,
        status,
        code: "UNEXPECTED_RESPONSE".into(),
        message: "HubSpot answered with a body this client cannot read".into(),
        category: ErrorCategory::Other,
        verdict: Verdict::Permanent,
        source: Some(Box::new(error)),
    }
}

/// A request the client refuses to send (bad input, unsplittable window).
pub fn invalid(message: impl Into<String>) -> CrmError {
    CrmError {
        system: System::HubSpot,
        status: 0,
        code: "INVALID_REQUEST".into(),
        message: message.into(),
        category: ErrorCategory::PropertyValueOrValidation,
        verdict: Verdict::Permanent,
        source: None,
    }
}

/// The id of the existing record named by a 409 CONFLICT
/// (`"Contact already exists. Existing ID: 37765128953"`).
pub fn existing_id(error: &CrmError) -> Option<String> {
    if error.status != 409 {
        return None;
    }
    let rest = error.message.split("Existing ID:").nth(1)?.trim_start();
    let id: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!id.is_empty()).then_some(id)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 23, 0, 0).unwrap()
    }

    #[test]
    fn a_ten_secondly_429_is_retryable_after_ten_seconds() {
        let body = include_bytes!("../../tests/fixtures/hubspot/rate-limit-error.ten-secondly.json");
        let e = classify(429, &HeaderMap::new(), body, now());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(10)));
        assert_eq!(e.category, ErrorCategory::ApiLimit);
        assert_eq!(e.code, "TEN_SECONDLY_ROLLING");
    }

    #[test]
    fn a_daily_429_waits_until_after_midnight() {
        let body = include_bytes!("../../tests/fixtures/hubspot/rate-limit-error.daily.json");
        let e = classify(429, &HeaderMap::new(), body, now());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3600 + 60)));
    }

    #[test]
    fn the_conflict_body_is_a_permanent_duplicate_with_the_existing_id() {
        let body = include_bytes!("../../tests/fixtures/hubspot/error.conflict.json");
        let e = classify(409, &HeaderMap::new(), body, now());
        assert_eq!(e.category, ErrorCategory::Duplicates);
        assert!(!e.is_retryable());
        assert_eq!(e.message, "Contact already exists. Existing ID: 37765128953");
        assert_eq!(existing_id(&e).as_deref(), Some("37765128953"));
    }

    #[test]
    fn server_errors_are_retryable_and_client_errors_are_not() {
        assert!(classify(502, &HeaderMap::new(), b"bad gateway", now()).is_retryable());
        let e = classify(
            400,
            &HeaderMap::new(),
            br#"{"message":"Property values were not valid","category":"VALIDATION_ERROR"}"#,
            now(),
        );
        assert_eq!((e.category, e.is_retryable()), (ErrorCategory::PropertyValueOrValidation, false));
        let e = classify(403, &HeaderMap::new(), br#"{"message":"no scope","category":"MISSING_SCOPES"}"#, now());
        assert_eq!(e.category, ErrorCategory::PermissionsOrAccess);
    }

    #[test]
    fn hubspot_errors_fall_into_the_sync_health_categories() {
        use ErrorCategory as C;
        let category = |status: u16, category: &str| {
            let body = serde_json::json!({ "message": "m", "category": category }).to_string();
            classify(status, &HeaderMap::new(), body.as_bytes(), now()).category
        };
        assert_eq!(category(409, "CONFLICT"), C::Duplicates);
        assert_eq!(category(400, "VALIDATION_ERROR"), C::PropertyValueOrValidation);
        assert_eq!(category(429, "RATE_LIMITS"), C::ApiLimit);
        assert_eq!(classify(429, &HeaderMap::new(), b"", now()).category, C::ApiLimit);
        assert_eq!(category(403, "MISSING_SCOPES"), C::PermissionsOrAccess);
        assert_eq!(category(404, "OBJECT_NOT_FOUND"), C::Other);
    }

    #[test]
    fn a_per_input_code_reads_as_the_same_code_in_a_whole_call_answer() {
        use ErrorCategory as C;
        assert_eq!(super::category("INVALID_AUTHENTICATION", "m"), C::PermissionsOrAccess);
        assert_eq!(super::category("MISSING_SCOPES", "m"), C::PermissionsOrAccess);
        assert_eq!(super::category("EXPIRED_AUTHENTICATION", "m"), C::PermissionsOrAccess);
        assert_eq!(super::category("CONFLICT", "m"), C::Duplicates);
        assert_eq!(super::category("INVALID_EMAIL", "Email address bad@ is invalid"), C::PropertyValueOrValidation);
        assert_eq!(super::category("VALIDATION_ERROR", "invalid association type"), C::Associations);
        assert_eq!(super::category("SOMETHING_NEW", "m"), C::Other);
        for (status, code) in
            [(401, "INVALID_AUTHENTICATION"), (403, "MISSING_SCOPES"), (409, "CONFLICT"), (400, "VALIDATION_ERROR")]
        {
            let body = serde_json::json!({ "message": "m", "category": code }).to_string();
            assert_eq!(
                classify(status, &HeaderMap::new(), body.as_bytes(), now()).category,
                super::category(code, "m")
            );
        }
    }

    #[test]
    fn rate_limits_and_server_errors_are_retried_and_validation_is_not() {
        assert!(classify(429, &HeaderMap::new(), br#"{"category":"RATE_LIMITS"}"#, now()).is_retryable());
        assert!(classify(503, &HeaderMap::new(), b"", now()).is_retryable());
        let e = classify(400, &HeaderMap::new(), br#"{"category":"VALIDATION_ERROR"}"#, now());
        assert_eq!(e.verdict, Verdict::Permanent);
    }
}
