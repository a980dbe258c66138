//! The sync-health page over HTTP on loopback: the login token and the
//! session cookie, refusal of cross-site and forged requests, and what its
//! buttons queue (the browser test in tests/e2e drives the same page in
//! Chromium).

use super::{contact_error, drain_sync_queue};
use crate::local::WebhookServer;
use crate::local::ui::{self, UiAccess, UiOptions};
use crate::retry::MAX_RECEIVES;
use crate::testing::TestApp;
use crm_sync_store::{OutgoingMessage, Queue};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use std::time::Duration;

struct Page {
    t: TestApp,
    access: UiAccess,
    server: WebhookServer,
    http: reqwest::Client,
}

impl Page {
    async fn start() -> Page {
        let t = TestApp::new();
        let access = UiAccess::generate();
        let routes = ui::router(t.app.clone(), access.clone(), UiOptions::default());
        let server = WebhookServer::serve(routes, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Page { t, access, server, http }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    /// Logs in with the token and returns the session cookie (`name=value`).
    async fn login(&self) -> String {
        let response = self.http.get(self.access.login_url(&self.server.base_url())).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[LOCATION], "/ui", "the token leaves the address bar");
        let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        cookie.split(';').next().unwrap().to_owned()
    }

    async fn get(&self, path: &str, cookie: &str) -> (StatusCode, String) {
        let response = self.http.get(self.url(path)).header(COOKIE, cookie).send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    }

    /// The CSRF token the page put in its forms.
    async fn csrf(&self, cookie: &str) -> String {
        let (_, body) = self.get("/ui", cookie).await;
        let at = body.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
        body[at..at + 64].to_owned()
    }

    async fn post(&self, path: &str, cookie: Option<&str>, origin: Option<&str>, form: &[(&str, &str)]) -> StatusCode {
        let mut request = self.http.post(self.url(path)).form(form);
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        if let Some(origin) = origin {
            request = request.header(ORIGIN, origin);
        }
        request.send().await.unwrap().status()
    }
}

#[tokio::test]
async fn without_the_token_every_address_answers_401_with_the_login_form() {
    let page = Page::start().await;
    for path in ["/ui", "/ui/export.csv", "/ui?token=0000"] {
        let (status, body) = page.get(path, "").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(body.contains("action=\"/ui/login\""), "{path}: {body}");
        assert!(!body.contains("Errors by category"), "{path}");
    }
    let forged = "crm_sync_ui_0000=1234";
    assert_eq!(page.get("/ui", forged).await.0, StatusCode::UNAUTHORIZED);
    page.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_token_opens_a_strict_http_only_session_and_the_form_logs_in_too() {
    let page = Page::start().await;
    let response = page.http.get(page.access.login_url(&page.server.base_url())).send().await.unwrap();
    let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    assert!(!set_cookie.contains(page.access.token()), "the cookie is not the token");
    let cookie = page.login().await;
    let (status, body) = page.get("/ui", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Errors by category"), "{body}");
    assert!(!body.contains("<script"), "no script on the page");

    let origin = page.server.base_url();
    let typed = page.post("/ui/login", None, Some(&origin), &[("token", page.access.token())]).await;
    assert_eq!(typed, StatusCode::SEE_OTHER);
    let wrong = page.post("/ui/login", None, Some(&origin), &[("token", "nope")]).await;
    assert_eq!(wrong, StatusCode::UNAUTHORIZED);
    let elsewhere = page.post("/ui/login", None, Some("http://evil.example"), &[("token", page.access.token())]).await;
    assert_eq!(elsewhere, StatusCode::FORBIDDEN, "a login from another site is refused");
    page.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn resync_queues_the_record_only_for_a_same_origin_post_with_the_csrf_token() {
    let page = Page::start().await;
    contact_error(&page.t, None, Some("5101"), "duplicates").await;
    let cookie = page.login().await;
    let csrf = page.csrf(&cookie).await;
    let origin = page.server.base_url();
    let form = [("csrf", csrf.as_str()), ("key", "contact:5101"), ("back", "category=duplicates")];

    let refused = [
        page.post("/ui/resync/record", None, Some(&origin), &form).await,
        page.post("/ui/resync/record", Some(&cookie), Some("http://127.0.0.1:1"), &form).await,
        page.post("/ui/resync/record", Some(&cookie), Some("null"), &form).await,
        page.post("/ui/resync/record", Some(&cookie), Some(&origin), &[("key", "contact:5101")]).await,
    ];
    assert_eq!(
        refused,
        [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN, StatusCode::FORBIDDEN, StatusCode::FORBIDDEN]
    );
    let cross_site = page
        .http
        .post(page.url("/ui/resync/record"))
        .header(COOKIE, &cookie)
        .header("sec-fetch-site", "cross-site")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    assert_eq!(page.t.sync_queue.depth().await.unwrap().visible, 0, "nothing refused was queued");

    let response = page
        .http
        .post(page.url("/ui/resync/record"))
        .header(COOKIE, &cookie)
        .header(ORIGIN, &origin)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/ui?category=duplicates&notice=queued&n=1", "back to the same filters");
    let (intents, _) = drain_sync_queue(&page.t).await;
    assert_eq!(intents.iter().map(|i| i.record_key()).collect::<Vec<_>>(), ["hubspot:contact:5101"]);
    let (_, body) = page.get("/ui?notice=queued&n=1", &cookie).await;
    assert!(body.contains("1 record(s) queued for resync"), "{body}");
    page.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_category_resync_queues_every_record_of_it_and_the_export_is_the_health_csv() {
    let page = Page::start().await;
    contact_error(&page.t, None, Some("61"), "duplicates").await;
    contact_error(&page.t, None, Some("62"), "duplicates").await;
    contact_error(&page.t, None, Some("63"), "other").await;
    let cookie = page.login().await;
    let csrf = page.csrf(&cookie).await;
    let origin = page.server.base_url();
    let status = page
        .post("/ui/resync/category", Some(&cookie), Some(&origin), &[("csrf", &csrf), ("category", "duplicates")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let mut keys: Vec<String> = drain_sync_queue(&page.t).await.0.iter().map(|i| i.record_key()).collect();
    keys.sort();
    assert_eq!(keys, ["hubspot:contact:61", "hubspot:contact:62"]);
    let unknown =
        page.post("/ui/resync/category", Some(&cookie), Some(&origin), &[("csrf", &csrf), ("category", "typos")]).await;
    assert_eq!(unknown, StatusCode::BAD_REQUEST);

    let response =
        page.http.get(page.url("/ui/export.csv?category=duplicates")).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-disposition"].to_str().unwrap().contains("attachment"));
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("key,category,object,salesforce_id,hubspot_id,message"), "{csv}");
    assert_eq!(lines.len(), 3, "the header and the two duplicates: {csv}");
    page.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn dead_letters_are_listed_by_category_and_replayed_from_the_page() {
    let page = Page::start().await;
    let body = serde_json::to_string(&crate::messages::IntentBatch::new(vec![])).unwrap();
    page.t.sync_queue.send_batch(&[OutgoingMessage::new(body)]).await.unwrap();
    for _ in 0..=MAX_RECEIVES {
        page.t.sync_queue.receive(10, Duration::ZERO).await.unwrap();
    }
    assert_eq!(page.t.sync_queue.list_dead_letters(10).await.unwrap().len(), 1);
    let cookie = page.login().await;
    let (_, html) = page.get("/ui", &cookie).await;
    assert!(html.contains("Dead letters (1)"), "{html}");
    let csrf = page.csrf(&cookie).await;
    let status = page
        .post(
            "/ui/dead-letters/replay",
            Some(&cookie),
            Some(&page.server.base_url()),
            &[("csrf", &csrf), ("category", "")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(page.t.sync_queue.list_dead_letters(10).await.unwrap().is_empty());
    assert_eq!(page.t.sync_queue.depth().await.unwrap().visible, 1, "back on the sync queue");
    page.server.shutdown().await.unwrap();
}
