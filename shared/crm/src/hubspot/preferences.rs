//! Communication preferences: the "unsubscribed from all email" status
//! (`hs_email_optout`) read and set through the v4 API, which is how
//! HubSpot wants it changed (never by writing the property).

use super::client::{HubSpotClient, segment};
use crate::error::CrmError;
use reqwest::Method;
use serde_json::{Value, json};

impl HubSpotClient {
    /// Unsubscribes an email address from all email (one call).
    pub async fn unsubscribe_all(&self, email: &str) -> Result<(), CrmError> {
        let path = format!("/communication-preferences/v4/statuses/{}/unsubscribe-all", segment(email));
        self.call(Method::POST, &path, &[("channel", "EMAIL".into())], None).await.map(|_| ())
    }

    /// Unsubscribes many addresses (one call per 100). Per address, in
    /// order: `None` when done, else the (category, message) of the error
    /// entry that names it (a batch answered 207 refuses some addresses
    /// only).
    pub async fn unsubscribe_all_batch(&self, emails: &[String]) -> Result<Vec<Option<(String, String)>>, CrmError> {
        let mut outcomes = Vec::with_capacity(emails.len());
        for chunk in emails.chunks(super::client::BATCH_LIMIT) {
            let answer = self
                .call(
                    Method::POST,
                    "/communication-preferences/v4/statuses/batch/unsubscribe-all",
                    &[("channel", "EMAIL".into())],
                    Some(&json!({ "inputs": chunk })),
                )
                .await?;
            outcomes.extend(chunk.iter().map(|email| refusal_of(&answer.body, email)));
        }
        Ok(outcomes)
    }

    /// Whether the address is unsubscribed from all email (one call).
    pub async fn is_unsubscribed_all(&self, email: &str) -> Result<bool, CrmError> {
        let path = format!("/communication-preferences/v4/statuses/{}/unsubscribe-all", segment(email));
        let answer = self.call(Method::GET, &path, &[("channel", "EMAIL".into())], None).await?;
        Ok(unsubscribed_from_all(&answer.body))
    }
}

/// Whether a wide-status answer (`results` of `PublicWideStatus`, each with
/// its `status`: `SUBSCRIBED`, `UNSUBSCRIBED` or `NOT_SPECIFIED`) says
/// unsubscribed. (`statusState` is the name in write requests only.)
fn unsubscribed_from_all(body: &Value) -> bool {
    body.get("results")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|r| r.get("status").and_then(Value::as_str) == Some("UNSUBSCRIBED"))
}

/// The error entry of a batch answer that names `email` in its context,
/// as (category, message).
fn refusal_of(body: &Value, email: &str) -> Option<(String, String)> {
    let names = |error: &Value| {
        error.get("context").and_then(Value::as_object).into_iter().flat_map(|c| c.values()).any(|v| match v {
            Value::Array(items) => items.iter().any(|i| i.as_str().is_some_and(|s| s.eq_ignore_ascii_case(email))),
            Value::String(s) => s.eq_ignore_ascii_case(email),
            _ => false,
        })
    };
    let error = body.get("errors").and_then(Value::as_array)?.iter().find(|e| names(e))?;
    let text = |key: &str| error.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    Some((text("category"), text("message")))
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    /// A recorded answer (`tests/fixtures`, checked against HubSpot's schema).
    fn recorded(json: &str) -> Value {
        serde_json::from_str(json).expect("a recorded answer is JSON")
    }

    #[test]
    fn a_batch_error_entry_refuses_the_addresses_its_context_names() {
        let answer = recorded(include_str!("../../tests/fixtures/hubspot/unsubscribe-all-batch.unknown-address.json"));
        assert_eq!(refusal_of(&answer, "ada@example.com"), None);
        assert_eq!(
            refusal_of(&answer, "ghost@example.com"),
            Some(("OBJECT_NOT_FOUND".to_owned(), "No contact with this email exists".to_owned()))
        );
    }

    #[test]
    fn the_wide_status_is_read_from_status_as_hubspot_answers_it() {
        let answer = recorded(include_str!("../../tests/fixtures/hubspot/unsubscribe-all-read.unsubscribed.json"));
        assert!(unsubscribed_from_all(&answer));
        let subscribed = recorded(include_str!("../../tests/fixtures/hubspot/unsubscribe-all-read.subscribed.json"));
        assert!(!unsubscribed_from_all(&subscribed));
        assert!(!unsubscribed_from_all(&recorded(include_str!(
            "../../tests/fixtures/hubspot/unsubscribe-all-read.none.json"
        ))));
    }
}
