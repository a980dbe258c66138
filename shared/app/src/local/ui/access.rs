//! Who may use the sync-health page: the holder of the login token printed
//! at start, and only from the page itself.
//!
//! - The token (256 random bits) is given once, in the URL printed at start
//!   or typed into the login form; it is exchanged for a session cookie
//!   (HttpOnly, SameSite=Strict, path `/ui`) and the browser is sent on to
//!   `/ui`, so the token leaves the address bar.
//! - Every request without the session cookie gets 401 and the login form.
//! - A POST must come from the page: a `Sec-Fetch-Site` other than
//!   `same-origin`, or an `Origin` other than the address the request was
//!   sent to, is refused, and its form must carry the CSRF token the page
//!   put in it.
//!
//! The cookie's name carries a random suffix, so that two servers on one
//! host (`serve` and `ui` on different ports share cookies) do not replace
//! each other's session.

use axum::http::{HeaderMap, header};
use rand::RngCore;
use std::sync::Arc;

/// The secrets of one server: the login token, the session cookie's value
/// and name, and the CSRF token of its forms.
#[derive(Clone)]
pub struct UiAccess {
    token: Arc<str>,
    session: Arc<str>,
    cookie_name: Arc<str>,
    csrf: Arc<str>,
}

impl std::fmt::Debug for UiAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UiAccess").field("cookie_name", &self.cookie_name).finish_non_exhaustive()
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares without stopping at the first difference.
fn same_secret(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

impl UiAccess {
    /// Fresh secrets from the operating system's random source (through the
    /// thread-local CSPRNG it seeds).
    pub fn generate() -> Self {
        UiAccess {
            token: random_hex(32).into(),
            session: random_hex(32).into(),
            cookie_name: format!("crm_sync_ui_{}", random_hex(4)).into(),
            csrf: random_hex(32).into(),
        }
    }

    /// The login token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The address that logs in, for a server at `base_url`
    /// (`http://127.0.0.1:8080`): print it once, never log it.
    pub fn login_url(&self, base_url: &str) -> String {
        format!("{}/ui?token={}", base_url.trim_end_matches('/'), self.token)
    }

    pub(super) fn csrf(&self) -> &str {
        &self.csrf
    }

    pub(super) fn token_matches(&self, given: &str) -> bool {
        same_secret(given.trim(), &self.token)
    }

    pub(super) fn csrf_matches(&self, given: &str) -> bool {
        same_secret(given, &self.csrf)
    }

    /// The `Set-Cookie` value that opens a session.
    pub(super) fn session_cookie(&self) -> String {
        format!("{}={}; HttpOnly; SameSite=Strict; Path=/ui", self.cookie_name, self.session)
    }

    /// Whether the request carries this server's session cookie.
    pub(super) fn has_session(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .any(|(name, value)| name == &*self.cookie_name && same_secret(value, &self.session))
    }
}

/// Whether a state-changing request comes from a page of this server, as
/// far as the browser says: `Sec-Fetch-Site` (when sent) must be
/// `same-origin`, and `Origin` (when sent) must name the host the request
/// was sent to. A browser sends at least one of them with every POST; a
/// client that sends neither still needs the session and the CSRF token.
pub(super) fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site")
        && site != "same-origin"
    {
        return false;
    }
    match (text("origin"), text(header::HOST.as_str())) {
        (None, _) => true,
        (Some(origin), Some(host)) => {
            let origin = origin.trim_end_matches('/');
            origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host)
        }
        (Some(_), None) => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn secrets_are_256_bits_and_differ_between_servers() {
        let (a, b) = (UiAccess::generate(), UiAccess::generate());
        assert_eq!(a.token().len(), 64);
        assert!(a.token().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.token(), b.token());
        assert_ne!(a.session, a.token, "the cookie is not the token");
        assert_ne!(a.cookie_name, b.cookie_name);
        assert!(!format!("{a:?}").contains(a.token()), "Debug shows no secret");
    }

    #[test]
    fn the_session_cookie_is_http_only_strict_and_found_among_others() {
        let access = UiAccess::generate();
        let set = access.session_cookie();
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/ui"), "{set}");
        let pair = set.split(';').next().unwrap();
        assert!(access.has_session(&headers(&[("cookie", &format!("other=1; {pair}"))])));
        assert!(!access.has_session(&headers(&[("cookie", &format!("{pair}x"))])));
        assert!(!access.has_session(&headers(&[])));
        assert!(!UiAccess::generate().has_session(&headers(&[("cookie", pair)])));
    }

    #[test]
    fn only_requests_from_the_same_origin_pass() {
        let host = ("host", "127.0.0.1:8080");
        assert!(same_origin(&headers(&[host, ("origin", "http://127.0.0.1:8080"), ("sec-fetch-site", "same-origin")])));
        assert!(same_origin(&headers(&[host])), "a client that is not a browser");
        assert!(!same_origin(&headers(&[host, ("origin", "http://localhost:9999")])));
        assert!(!same_origin(&headers(&[host, ("origin", "null")])));
        assert!(!same_origin(&headers(&[host, ("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&headers(&[host, ("sec-fetch-site", "same-site")])));
        assert!(!same_origin(&headers(&[("origin", "http://127.0.0.1:8080")])));
    }

    #[test]
    fn tokens_are_compared_whole() {
        let access = UiAccess::generate();
        assert!(access.token_matches(access.token()));
        assert!(!access.token_matches(&access.token()[..63]));
        assert!(!access.token_matches(""));
        assert!(access.csrf_matches(access.csrf()) && !access.csrf_matches(access.token()));
    }
}
