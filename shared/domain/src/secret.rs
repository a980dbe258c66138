//! [`Secret`]: the one type that holds a credential (an access token, a
//! client secret, a private key) anywhere in crm-sync.
//!
//! Why it lives in the domain: every layer handles credentials (the CRM
//! clients send them, the app checks webhook signatures with them, the CLI
//! and the functions load them), and the domain is the one crate they all
//! reach. It stays pure: no IO, nothing but a wrapped string.
//!
//! Invariant: a secret never prints. `Debug` shows `Secret(***)` and
//! `Display` shows `***`, so a secret inside a logged struct or an error
//! message stays hidden. The value leaves the wrapper only through
//! [`Secret::expose`], which the one call that sends it uses. There is
//! deliberately no `Serialize`: nothing writes credentials back out.

use serde::Deserialize;
use std::fmt;

/// A credential string that never prints.
///
/// Deserializes from a plain JSON string (`#[serde(transparent)]`), so the
/// credentials JSON keeps its shape; an empty string is an unfilled field
/// (see [`Secret::is_empty`]).
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty or blank: a field of the credentials that
    /// was left unfilled (the deployed secret starts with empty placeholders).
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_its_value() {
        let secret = Secret::new("pat-na1-topsecret");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(secret.expose(), "pat-na1-topsecret");
    }

    #[test]
    fn a_secret_reads_from_a_plain_json_string_and_blank_counts_as_unfilled() {
        let secret: Secret = serde_json::from_str("\"  \"").unwrap();
        assert!(secret.is_empty());
        let secret: Secret = serde_json::from_str("\"token\"").unwrap();
        assert!(!secret.is_empty());
    }
}
