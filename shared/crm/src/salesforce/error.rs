//! Turning Salesforce answers into the classified [`CrmError`]: which
//! failures are worth retrying after a delay, and which sync-health category
//! a permanent one belongs to (SPEC section 9, crm-api.md A9).
//!
//! This is where Salesforce error codes and HTTP statuses become the product's
//! [`ErrorCategory`] and [`Verdict`]; the domain never sees them. Pure: no IO.

use crate::error::{CrmError, System};
use crm_sync_domain::error::{ErrorCategory, Verdict};
use std::time::Duration;

/// How long to wait after a spent daily allocation: Salesforce advertises no
/// delay, and the rolling window frees calls gradually.
pub const LIMIT_BACKOFF: Duration = Duration::from_secs(300);
/// Lock contention clears quickly.
pub const LOCK_BACKOFF: Duration = Duration::from_secs(2);
/// Server errors and transport failures.
pub const SERVER_BACKOFF: Duration = Duration::from_secs(5);

/// What a Salesforce error code means whatever the HTTP status it came
/// with: its sync-health category, and the delay to wait before a retry
/// when the failure is worth retrying (`None`: permanent).
///
/// This table is the only place a Salesforce code becomes an
/// [`ErrorCategory`]: whole-call answers ([`classify`]) and per-record
/// results of a collection write ([`category`]) both read it, so the same
/// code lands in the same sync-health category wherever it shows up.
fn by_code(code: &str) -> Option<(ErrorCategory, Option<Duration>)> {
    use ErrorCategory::*;
    let reading = match code {
        "REQUEST_LIMIT_EXCEEDED" | "TOO_MANY_REQUESTS" => (ApiLimit, Some(LIMIT_BACKOFF)),
        "UNABLE_TO_LOCK_ROW" | "SERVER_UNAVAILABLE" | "ALL_OR_NONE_OPERATION_ROLLED_BACK" => {
            (Other, Some(LOCK_BACKOFF))
        }
        "DUPLICATE_VALUE" | "DUPLICATES_DETECTED" | "MULTIPLE_CHOICES" | "DUPLICATE_EXTERNAL_ID" => (Duplicates, None),
        // The record written, or one it points at (account, owner), does not
        // exist or is in the Recycle Bin: the reference is what is wrong,
        // not a value the user could correct on this record.
        "INVALID_CROSS_REFERENCE_KEY" | "ENTITY_IS_DELETED" | "ENTITY_IS_DELETED_REFERENCE" => (Associations, None),
        // A converted Lead is read-only to everyone, the integration user
        // included: no value would be accepted, as with a read-only record.
        "CANNOT_UPDATE_CONVERTED_LEAD"
        | "INVALID_SESSION_ID"
        | "INSUFFICIENT_ACCESS_OR_READONLY"
        | "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY"
        | "INSUFFICIENT_ACCESS"
        | "API_DISABLED_FOR_ORG"
        | "API_CURRENTLY_DISABLED"
        | "invalid_grant"
        | "invalid_client"
        | "invalid_client_id"
        | "unsupported_grant_type"
        | "invalid_request" => (PermissionsOrAccess, None),
        "REQUIRED_FIELD_MISSING"
        | "FIELD_CUSTOM_VALIDATION_EXCEPTION"
        | "INVALID_EMAIL_ADDRESS"
        | "STRING_TOO_LONG"
        | "INVALID_FIELD"
        | "INVALID_FIELD_FOR_INSERT_UPDATE"
        | "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
        | "JSON_PARSER_ERROR"
        | "MALFORMED_QUERY"
        | "INVALID_TYPE"
        | "FIELD_INTEGRITY_EXCEPTION"
        | "INVALID_TYPE_ON_FIELD_IN_RECORD"
        | "NUMBER_OUTSIDE_VALID_RANGE"
        | "MALFORMED_ID"
        | "INVALID_ID_FIELD"
        | "MISSING_ARGUMENT" => (PropertyValueOrValidation, None),
        _ => return None,
    };
    Some(reading)
}

/// The sync-health category of a Salesforce error code on its own, as a
/// per-record result of a collection write carries it (no HTTP status of
/// its own): the table's reading, or [`ErrorCategory::Other`] for a code
/// the table does not know.
pub fn category(code: &str) -> ErrorCategory {
    by_code(code).map_or(ErrorCategory::Other, |(category, _)| category)
}

/// Category and verdict for an HTTP status and a Salesforce error code: the
/// code's reading when the table knows it, else the status's.
pub fn classify(status: u16, code: &str, retry_after: Option<Duration>) -> (ErrorCategory, Verdict) {
    use ErrorCategory::*;
    let retry = |after: Duration| Verdict::Retryable { after: retry_after.unwrap_or(after) };
    if let Some((category, backoff)) = by_code(code) {
        return (category, backoff.map_or(Verdict::Permanent, retry));
    }
    match status {
        0 => (Other, retry(SERVER_BACKOFF)),
        429 => (ApiLimit, retry(Duration::from_secs(1))),
        500..=599 => (Other, retry(SERVER_BACKOFF)),
        401 | 403 => (PermissionsOrAccess, Verdict::Permanent),
        _ => (Other, Verdict::Permanent),
    }
}

/// A classified error from an HTTP answer.
pub fn from_answer(status: u16, code: &str, message: &str, retry_after: Option<Duration>) -> CrmError {
    let (category, verdict) = classify(status, code, retry_after);
    CrmError {
        system: System::Salesforce,
        status,
        code: code.to_owned(),
        message: message.to_owned(),
        category,
        verdict,
        source: None,
    }
}

/// A request that never got an answer (connect, TLS, timeout, body read).
pub fn transport(error: reqwest::Error) -> CrmError {
    let (category, verdict) = classify(0, "", None);
    CrmError {
        system: System::Salesforce,
        status: 0,
        code: "TRANSPORT".to_owned(),
        message: error.to_string(),
        category,
        verdict,
        source: Some(Box::new(error)),
    }
}

/// An answer whose body did not have the documented shape.
pub fn unexpected(status: u16, what: &str, source: Option<Box<dyn std::error::Error + Send + Sync>>) -> CrmError {
    CrmError {
        system: System::Salesforce,
        status,
        code: "UNEXPECTED_RESPONSE".to_owned(),
        message: what.to_owned(),
        category: ErrorCategory::Other,
        verdict: Verdict::Permanent,
        source,
    }
}

/// A configuration problem found before any call (bad key, bad URL).
pub fn config(what: impl Into<String>, source: Option<Box<dyn std::error::Error + Send + Sync>>) -> CrmError {
    CrmError {
        system: System::Salesforce,
        status: 0,
        code: "CONFIGURATION".to_owned(),
        message: what.into(),
        category: ErrorCategory::PermissionsOrAccess,
        verdict: Verdict::Permanent,
        source,
    }
}

/// `(code, message)` from a Salesforce error body: the REST array
/// `[{"errorCode","message"}]`, a collection entry `{"statusCode","message"}`,
/// or the OAuth shape `{"error","error_description"}`.
pub fn parse_body(body: &[u8]) -> (String, String) {
    let text = || String::from_utf8_lossy(body).chars().take(500).collect::<String>();
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else { return (String::new(), text()) };
    let first = match &value {
        serde_json::Value::Array(items) => items.first().cloned().unwrap_or_default(),
        other => other.clone(),
    };
    let field = |k: &str| first.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    if let Some(code) = field("errorCode").or_else(|| field("statusCode")) {
        return (code, field("message").unwrap_or_default());
    }
    if let Some(code) = field("error") {
        return (code, field("error_description").unwrap_or_default());
    }
    (String::new(), text())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_contention_and_spent_limits_are_retryable_and_validation_is_not() {
        assert!(matches!(classify(400, "UNABLE_TO_LOCK_ROW", None).1, Verdict::Retryable { .. }));
        assert_eq!(classify(403, "REQUEST_LIMIT_EXCEEDED", None).0, ErrorCategory::ApiLimit);
        assert_eq!(
            classify(400, "REQUIRED_FIELD_MISSING", None),
            (ErrorCategory::PropertyValueOrValidation, Verdict::Permanent)
        );
        assert_eq!(classify(400, "DUPLICATES_DETECTED", None).0, ErrorCategory::Duplicates);
        assert_eq!(
            classify(503, "", Some(Duration::from_secs(7))).1,
            Verdict::Retryable { after: Duration::from_secs(7) }
        );
    }

    #[test]
    fn salesforce_error_codes_fall_into_the_sync_health_categories() {
        use ErrorCategory as C;
        let category = |code: &str| classify(400, code, None).0;
        assert_eq!(category("DUPLICATE_VALUE"), C::Duplicates);
        assert_eq!(category("DUPLICATES_DETECTED"), C::Duplicates);
        assert_eq!(category("INVALID_CROSS_REFERENCE_KEY"), C::Associations);
        assert_eq!(category("INSUFFICIENT_ACCESS_OR_READONLY"), C::PermissionsOrAccess);
        assert_eq!(category("REQUIRED_FIELD_MISSING"), C::PropertyValueOrValidation);
        assert_eq!(category("REQUEST_LIMIT_EXCEEDED"), C::ApiLimit);
        assert_eq!(category("UNABLE_TO_LOCK_ROW"), C::Other);
    }

    #[test]
    fn read_only_records_and_deleted_references_have_their_own_categories() {
        use ErrorCategory as C;
        assert_eq!(category("CANNOT_UPDATE_CONVERTED_LEAD"), C::PermissionsOrAccess);
        assert_eq!(category("ENTITY_IS_DELETED"), C::Associations);
        assert_eq!(category("INVALID_CROSS_REFERENCE_KEY"), C::Associations);
        assert_eq!(category("INVALID_SESSION_ID"), C::PermissionsOrAccess);
        assert_eq!(category("SOMETHING_NEW"), C::Other);
        // A per-record code reads as the same code in a whole-call answer.
        for code in ["CANNOT_UPDATE_CONVERTED_LEAD", "ENTITY_IS_DELETED", "DUPLICATE_VALUE", "STRING_TOO_LONG"] {
            assert_eq!(classify(400, code, None).0, category(code), "{code}");
            assert_eq!(classify(404, code, None).0, category(code), "{code}");
        }
        assert_eq!(classify(404, "ENTITY_IS_DELETED", None).1, Verdict::Permanent);
    }

    #[test]
    fn an_advertised_delay_is_kept_and_validation_is_never_retried() {
        assert_eq!(
            classify(403, "REQUEST_LIMIT_EXCEEDED", Some(Duration::from_secs(60))).1,
            Verdict::Retryable { after: Duration::from_secs(60) }
        );
        assert_eq!(classify(400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", None).1, Verdict::Permanent);
        assert!(matches!(classify(503, "", None).1, Verdict::Retryable { .. }));
    }

    #[test]
    fn all_three_error_body_shapes_give_code_and_message() {
        assert_eq!(parse_body(br#"[{"message":"m","errorCode":"C"}]"#), ("C".into(), "m".into()));
        assert_eq!(parse_body(br#"{"statusCode":"S","message":"m"}"#), ("S".into(), "m".into()));
        assert_eq!(
            parse_body(br#"{"error":"invalid_grant","error_description":"d"}"#),
            ("invalid_grant".into(), "d".into())
        );
    }
}
