//! The sync-health page in a real browser: headless Chromium, driven through
//! ChromeDriver (WebDriver), over an App wired to the CRM sandbox and a
//! seeded store (sync-health errors, API usage over the day, an import half
//! done, a dead letter).
//!
//! It checks what an operator does: the page needs the login token; the
//! token opens a session and leaves the address bar; the error list filters
//! by category and text; Resync queues the record's intent; the CSV export
//! downloads; a dead letter is replayed; a form posted from another site
//! changes nothing.
//!
//! Needs `chromium` and `chromedriver` (Debian: `chromium`,
//! `chromium-driver`; `scripts/tools.sh` installs them). Without them it is
//! skipped with a message, unless `CI` is set: then it fails.
//!
//! With `CRM_SYNC_UI_SCREENSHOT=<path>` it also saves a screenshot of the
//! page there (`scripts/ui-screenshot.sh` refreshes the one in docs/).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use anyhow::{Context, bail, ensure};
use crm_sync_app::local::WebhookServer;
use crm_sync_app::local::ui::{self, RecordLinks, UiAccess, UiOptions};
use crm_sync_app::messages::parse_intents;
use crm_sync_app::retry::MAX_RECEIVES;
use crm_sync_domain::HubSpotId;
use crm_sync_domain::intent::{SyncIntent, Trigger};
use crm_sync_e2e::{Harness, HarnessOptions};
use crm_sync_store::{ChunkCounts, ErrorReport, NewChunk, ObjectPair, OutgoingMessage, System};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `name` on the PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// Chromium and ChromeDriver, when installed.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let chromium = ["chromium", "chromium-browser", "google-chrome"].into_iter().find_map(on_path)?;
    let driver = on_path("chromedriver")?;
    Some((chromium, driver))
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// ChromeDriver on a free loopback port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start(path: &Path) -> anyhow::Result<Driver> {
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let child = Command::new(path)
                .arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting chromedriver")?;
            let mut driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
            let http = reqwest::Client::new();
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(30) {
                if driver.child.try_wait()?.is_some() {
                    break; // the port was taken meanwhile: try another
                }
                let status = http.get(format!("{}/status", driver.url)).send().await;
                if let Ok(response) = status
                    && let Ok(body) = response.json::<serde_json::Value>().await
                    && body["value"]["ready"] == json!(true)
                {
                    return Ok(driver);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = driver.child.kill();
        }
        bail!("chromedriver did not become ready")
    }

    /// A headless Chromium session with a fresh profile, downloading into
    /// `downloads` without asking.
    async fn session(&self, chromium: &Path, profile: &Path, downloads: &Path) -> anyhow::Result<Client> {
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,2200",
                    format!("--user-data-dir={}", profile.display()),
                ],
                "prefs": {
                    "download.default_directory": downloads,
                    "download.prompt_for_download": false,
                },
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else { unreachable!() };
        let client = ClientBuilder::rustls()?.capabilities(capabilities).connect(&self.url).await?;
        Ok(client)
    }
}

/// Seeds what the page shows; returns the dead letter's message id.
async fn seed(h: &Harness) -> anyhow::Result<String> {
    let store = h.app.store();
    let error = |key: &str, category: &str, pair, sf: Option<&str>, hs: Option<&str>, message: &str| ErrorReport {
        key: key.to_owned(),
        category: category.to_owned(),
        pair,
        salesforce_id: sf.map(str::to_owned),
        hubspot_id: hs.map(str::to_owned),
        message: message.to_owned(),
        retryable: false,
    };
    use ObjectPair::{Company, Contact, Deal};
    for report in [
        error(
            "contact:5101",
            "duplicates",
            Contact,
            None,
            Some("5101"),
            "Use one of these records? DUPLICATES_DETECTED",
        ),
        error("contact:5102", "duplicates", Contact, None, Some("5102"), "A contact with this email already exists"),
        error("contact:5103", "duplicates", Contact, Some("003000000000123"), Some("5103"), "Duplicate lead found"),
        error(
            "company:001000000000077",
            "property_value_or_validation",
            Company,
            Some("001000000000077"),
            None,
            "Rating: bad value for restricted picklist field: Warmish",
        ),
        error("deal:9001", "permissions_or_access", Deal, None, Some("9001"), "INSUFFICIENT_ACCESS_OR_READONLY"),
    ] {
        store.record_error(&report).await?;
    }
    // API usage over the day: the clock moves on between bursts.
    for (salesforce, hubspot, then) in [(900, 300, 5), (2_400, 800, 6), (600, 150, 7), (1_500, 420, 4)] {
        store.add_api_calls(System::Salesforce, salesforce).await?;
        store.add_api_calls(System::HubSpot, hubspot).await?;
        h.later(Duration::from_secs(then * 3600));
    }
    store.add_api_calls(System::Salesforce, 350).await?;
    // An import with one chunk of two done.
    let chunks = [0, 1].map(|index| NewChunk { index, spec: json!({"object": "Lead", "index": index}) });
    store.create_import_job("import-leads-1", &json!({"objects": "leads"}), &chunks).await?;
    store.claim_chunk("import-leads-1", 0, "worker-1", Duration::from_secs(600)).await?;
    let counts = ChunkCounts { read: 5_000, queued: 4_980, failed: 12, skipped: 8 };
    store.complete_chunk("import-leads-1", 0, "worker-1", counts).await?;
    // A message that gave up after its retries.
    let intent = SyncIntent::hubspot(Contact, HubSpotId::parse("5104")?, Trigger::Webhook, h.app.clock().now());
    let body = serde_json::to_string(&crm_sync_app::messages::IntentBatch::new(vec![intent]))?;
    let queue = h.app.sync_queue();
    queue.send_batch(&[OutgoingMessage::new(body)]).await?;
    for _ in 0..=MAX_RECEIVES {
        queue.receive(10, Duration::ZERO).await?;
    }
    let dead = queue.list_dead_letters(10).await?;
    ensure!(dead.len() == 1, "one dead letter seeded");
    Ok(dead[0].id.clone())
}

/// The record keys of the intents waiting on the sync queue (taken off it).
async fn queued_records(h: &Harness) -> anyhow::Result<Vec<String>> {
    let mut keys = Vec::new();
    loop {
        let batch = h.app.sync_queue().receive(10, Duration::from_secs(60)).await?;
        if batch.is_empty() {
            keys.sort();
            return Ok(keys);
        }
        for message in batch {
            keys.extend(parse_intents(&message.body)?.iter().map(|i| i.record_key()));
            h.app.sync_queue().delete(&message.receipt_handle).await?;
        }
    }
}

async fn text_of(client: &Client, css: &str) -> anyhow::Result<String> {
    match client.find(Locator::Css(css)).await {
        Ok(element) => Ok(element.text().await?),
        Err(error) => {
            let url = client.current_url().await?;
            let source = client.source().await?;
            bail!("{css} not found on {url} ({error}); the page:\n{source}")
        }
    }
}

/// Clicks something that loads a new page and waits until it has: the old
/// page's root goes stale, and the new document is complete.
async fn click_and_load(client: &Client, element: &Element) -> anyhow::Result<()> {
    let old = client.find(Locator::Css("html")).await?;
    element.click().await?;
    let started = Instant::now();
    while old.tag_name().await.is_ok() {
        ensure!(started.elapsed() < Duration::from_secs(30), "the click loaded no page");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    while client.execute("return document.readyState", vec![]).await? != json!("complete") {
        ensure!(started.elapsed() < Duration::from_secs(30), "the page did not finish loading");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Ok(())
}

/// Finds `css` and loads the page its click leads to.
async fn press(client: &Client, css: &str) -> anyhow::Result<()> {
    let element = client.find(Locator::Css(css)).await.with_context(|| format!("finding {css}"))?;
    click_and_load(client, &element).await
}

async fn count(client: &Client, css: &str) -> anyhow::Result<usize> {
    Ok(client.find_all(Locator::Css(css)).await?.len())
}

/// Waits for a file to appear, complete, in `dir`.
async fn downloaded(dir: &Path) -> anyhow::Result<(PathBuf, String)> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "csv") {
                return Ok((path.clone(), std::fs::read_to_string(&path)?));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("no CSV was downloaded into {}", dir.display())
}

/// A page of another site (`localhost` is another site than `127.0.0.1`)
/// with a form that posts to the sync-health page.
async fn other_site(target: &str) -> anyhow::Result<WebhookServer> {
    let html = format!(
        "<!doctype html><title>elsewhere</title><form method=post action=\"{target}/ui/resync/category\">\
         <input type=hidden name=category value=duplicates><input type=hidden name=csrf value=guessed>\
         <button id=go type=submit>win a prize</button></form>"
    );
    let routes = axum::Router::new().route("/", axum::routing::get(move || async move { axum::response::Html(html) }));
    Ok(WebhookServer::serve(routes, "127.0.0.1:0".parse()?).await?)
}

async fn drive(
    h: &Harness,
    client: &Client,
    base: &str,
    login: &str,
    downloads: &Path,
    dead: &str,
) -> anyhow::Result<()> {
    // No token, no page.
    client.goto(&format!("{base}/ui")).await?;
    ensure!(count(client, "form[action='/ui/login']").await? == 1, "the login form is shown");
    ensure!(count(client, "#counts").await? == 0, "nothing of the page without the token");
    client.goto(&format!("{base}/ui?token=not-the-token")).await?;
    ensure!(text_of(client, "#login-error").await?.contains("not valid"));

    // The token opens a session and leaves the address bar.
    client.goto(login).await?;
    let url = client.current_url().await?;
    ensure!(url.path() == "/ui" && url.query().is_none(), "the token is dropped from the URL: {url}");
    let counts = text_of(client, "#counts").await?;
    ensure!(counts.contains("Errors by category and object (5)"), "{counts}");
    ensure!(text_of(client, "#counts tr[data-category='duplicates']").await?.contains("Resync 3"));
    ensure!(count(client, "tr.error-row").await? == 5);
    ensure!(count(client, "#usage svg .bar").await? >= 8, "hourly bars for both systems");
    ensure!(
        text_of(client, "#usage").await?.contains("5750 calls in 24 hours"),
        "{}",
        text_of(client, "#usage").await?
    );
    ensure!(text_of(client, "tr.import-row").await?.contains("1 / 2"));
    ensure!(text_of(client, "#dead-letters").await?.contains(dead));
    ensure!(
        client.find(Locator::Css("a[href='https://app.hubspot.com/contacts/4455/record/0-1/5101']")).await.is_ok(),
        "HubSpot records link to their page"
    );
    if let Some(path) = std::env::var_os("CRM_SYNC_UI_SCREENSHOT") {
        let height = client.execute("return document.documentElement.scrollHeight", vec![]).await?;
        client.set_window_size(1280, height.as_u64().unwrap_or(1600).clamp(800, 4000) as u32).await?;
        std::fs::write(&path, client.screenshot().await?)?;
        client.set_window_size(1280, 2200).await?;
    }

    // Filters: by category, then by text too.
    client.find(Locator::Css("select[name='category']")).await?.select_by_value("duplicates").await?;
    press(client, "#errors button[type='submit']").await?;
    ensure!(count(client, "tr.error-row").await? == 3, "three duplicates");
    ensure!(text_of(client, "#matching").await?.starts_with("3 matching"));
    let search = client.find(Locator::Css("input[name='q']")).await?;
    search.send_keys("already exists").await?;
    press(client, "#errors button[type='submit']").await?;
    let rows = client.find_all(Locator::Css("tr.error-row")).await?;
    ensure!(rows.len() == 1, "one row has that text");
    ensure!(rows[0].attr("data-key").await?.as_deref() == Some("contact:5102"));

    // Resync that record: its intent is queued, and the page says so.
    ensure!(queued_records(h).await?.is_empty(), "nothing queued before the click");
    click_and_load(client, &rows[0].find(Locator::Css("button")).await?).await?;
    ensure!(text_of(client, "#notice").await?.contains("1 record(s) queued for resync"));
    let url = client.current_url().await?;
    ensure!(url.query().is_some_and(|q| q.contains("category=duplicates")), "filters kept: {url}");
    ensure!(queued_records(h).await? == ["hubspot:contact:5102"], "the record's intent is on the sync queue");

    // The export of the filtered list downloads as CSV.
    client.find(Locator::Css("#export")).await?.click().await?;
    let (file, csv) = downloaded(downloads).await?;
    ensure!(file.file_name().is_some_and(|n| n == "sync-health.csv"), "{}", file.display());
    let lines: Vec<&str> = csv.lines().collect();
    ensure!(lines.first().is_some_and(|l| l.starts_with("key,category,object,salesforce_id,hubspot_id,message")));
    ensure!(lines.len() == 2 && lines[1].starts_with("contact:5102,duplicates,contact,,5102,"), "{csv}");

    // A category's Resync button queues every record of it.
    client.goto(&format!("{base}/ui")).await?;
    press(client, "button[name='resync-category'][value='duplicates']").await?;
    ensure!(text_of(client, "#notice").await?.contains("3 record(s) queued"));
    ensure!(queued_records(h).await?.len() == 3);

    // Dead letters are replayed onto the sync queue.
    let replay_all = client.find_all(Locator::Css("#dead-letters button")).await?;
    ensure!(!replay_all.is_empty());
    click_and_load(client, &replay_all[replay_all.len() - 1]).await?;
    ensure!(text_of(client, "#notice").await?.contains("1 dead letter(s) put back"));
    ensure!(h.app.sync_queue().list_dead_letters(10).await?.is_empty());
    ensure!(h.app.sync_queue().depth().await?.visible == 1, "the replayed message waits on the sync queue");
    ensure!(queued_records(h).await? == ["hubspot:contact:5104"], "the dead letter's intent");

    // A form on another site posting to the page changes nothing.
    let elsewhere = other_site(base).await?;
    client.goto(&elsewhere.base_url().replace("127.0.0.1", "localhost")).await?;
    press(client, "#go").await?;
    let answer = client.source().await?;
    ensure!(answer.contains("action=\"/ui/login\"") || answer.contains("Refused"), "refused: {answer}");
    ensure!(!answer.contains("queued for resync"), "{answer}");
    ensure!(h.app.sync_queue().depth().await?.visible == 0, "a cross-site post queues nothing");
    elsewhere.shutdown().await?;

    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_filters_resyncs_exports_and_replays_in_a_real_browser() {
    let Some((chromium, driver_path)) = browser() else {
        assert!(
            !under_ci(),
            "CI: chromium and chromedriver are needed for the browser test; scripts/tools.sh installs them"
        );
        eprintln!(
            "skipped: chromium and chromedriver are not installed (Debian: apt-get install chromium chromium-driver)"
        );
        return;
    };
    let h = Harness::start(HarnessOptions { webhooks: false, ..HarnessOptions::default() }).await.unwrap();
    let dead = seed(&h).await.unwrap();
    let access = UiAccess::generate();
    let links = RecordLinks {
        salesforce_instance_url: Some("https://example.my.salesforce.com".into()),
        hubspot_portal_id: Some("4455".into()),
        ..RecordLinks::default()
    };
    let routes = ui::router(h.app.clone(), access.clone(), UiOptions { links, workers_here: false });
    let page = WebhookServer::serve(routes, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = page.base_url();

    let profile = tempfile::tempdir().unwrap();
    let downloads = tempfile::tempdir().unwrap();
    let driver = Driver::start(&driver_path).await.unwrap();
    let client = driver.session(&chromium, profile.path(), downloads.path()).await.unwrap();
    let outcome = drive(&h, &client, &base, &access.login_url(&base), downloads.path(), &dead).await;
    // Close the browser whatever happened, then judge.
    let closed = client.close().await;
    drop(driver);
    page.shutdown().await.unwrap();
    h.stop().await;
    outcome.unwrap();
    closed.unwrap();
}
