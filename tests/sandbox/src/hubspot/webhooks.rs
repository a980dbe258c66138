//! The fake HubSpot's webhook sender: queues events from every write (API or
//! user), sends them as JSON arrays of at most 100, signed v1, v2 and v3, and
//! retries a failed request with `attemptNumber + 1` after a growing delay.
//!
//! Owns delivery only; the events themselves come from `model`.

use super::model::EventDraft;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::Notify;

/// Events per request, as HubSpot batches them.
pub const MAX_EVENTS_PER_REQUEST: usize = 100;

/// Where and how deliveries go.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub target_url: String,
    pub client_secret: String,
    pub app_id: u64,
    pub portal_id: u64,
    /// Delay before retry n is `retry_base * 2^(n-1)`, capped at 10 minutes.
    pub retry_base: Duration,
    /// Attempts in all (the first one included).
    pub max_attempts: u32,
    /// How long the sender waits to gather events into one request.
    pub batch_window: Duration,
    /// Deliver every accepted batch a second time (at-least-once delivery).
    pub duplicate: bool,
    /// Reverse the events within each request (delivery order is not guaranteed).
    pub reorder: bool,
    /// Keep the events for [`WebhookSender::take_held`] instead of sending them.
    pub hold: bool,
}

/// Who made a change, as the events tell it.
#[derive(Debug, Clone)]
pub struct Source {
    pub change_source: &'static str,
    pub source_id: String,
}

/// One attempted delivery, for the control API and tests.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryLog {
    pub attempt_number: u32,
    pub events: usize,
    /// HTTP status, or 0 when the target could not be reached.
    pub status: u16,
}

#[derive(Debug)]
pub struct WebhookSender {
    config: WebhookConfig,
    queue: Mutex<Vec<Value>>,
    notify: Notify,
    next_event_id: AtomicU64,
    log: Mutex<Vec<DeliveryLog>>,
    http: reqwest::Client,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The three HubSpot signatures of one request.
pub fn sign_v1(secret: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(secret.as_bytes());
    h.update(body);
    hex::encode(h.finalize())
}

pub fn sign_v2(secret: &str, method: &str, uri: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(secret.as_bytes());
    h.update(method.as_bytes());
    h.update(uri.as_bytes());
    h.update(body);
    hex::encode(h.finalize())
}

pub fn sign_v3(secret: &str, method: &str, uri: &str, body: &[u8], timestamp_ms: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(method.as_bytes());
    mac.update(uri.as_bytes());
    mac.update(body);
    mac.update(timestamp_ms.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

impl WebhookSender {
    /// Creates the sender and, inside a tokio runtime, its dispatch task
    /// (which ends when the sender is dropped).
    pub fn start(config: WebhookConfig) -> Arc<Self> {
        let sender = Arc::new(Self {
            config,
            queue: Mutex::new(Vec::new()),
            notify: Notify::new(),
            next_event_id: AtomicU64::new(1),
            log: Mutex::new(Vec::new()),
            http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default(),
        });
        if sender.config.hold {
            return sender;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(dispatch(Arc::downgrade(&sender)));
        } else {
            tracing::warn!("no tokio runtime: HubSpot webhooks will not be delivered");
        }
        sender
    }

    /// Queues events made by one write.
    pub fn enqueue(&self, drafts: Vec<EventDraft>, source: &Source) {
        if drafts.is_empty() {
            return;
        }
        let mut queue = lock(&self.queue);
        for mut e in drafts {
            let kind = e.get("subscriptionType").and_then(Value::as_str).unwrap_or_default().to_owned();
            e.insert("eventId".into(), json!(self.next_event_id.fetch_add(1, Ordering::Relaxed)));
            e.insert("subscriptionId".into(), json!(subscription_id(&kind)));
            e.insert("portalId".into(), json!(self.config.portal_id));
            e.insert("appId".into(), json!(self.config.app_id));
            e.insert("attemptNumber".into(), json!(0));
            e.insert("changeSource".into(), json!(source.change_source));
            e.insert("sourceId".into(), json!(source.source_id));
            queue.push(Value::Object(e));
        }
        drop(queue);
        self.notify.notify_one();
    }

    /// The queued events as requests (at most 100 events each), taken off
    /// the queue: what a held sender would have sent.
    pub fn take_held(&self) -> Vec<Vec<Value>> {
        self.requests(std::mem::take(&mut *lock(&self.queue)))
    }

    /// Events as requests: at most 100 each, reversed when `reorder` is set.
    fn requests(&self, events: Vec<Value>) -> Vec<Vec<Value>> {
        events
            .chunks(MAX_EVENTS_PER_REQUEST)
            .map(|chunk| {
                let mut chunk = chunk.to_vec();
                if self.config.reorder {
                    chunk.reverse();
                }
                chunk
            })
            .collect()
    }

    pub fn log(&self) -> Vec<DeliveryLog> {
        lock(&self.log).clone()
    }

    pub fn pending(&self) -> usize {
        lock(&self.queue).len()
    }

    /// Events made so far (each delivered in one request or another).
    pub fn events_made(&self) -> u64 {
        self.next_event_id.load(Ordering::Relaxed) - 1
    }

    /// Sends one request; returns the status (0 on a transport error).
    async fn send(&self, events: &[Value], attempt: u32) -> u16 {
        let body = match serde_json::to_vec(events) {
            Ok(b) => b,
            Err(_) => return 0,
        };
        let ts = chrono::Utc::now().timestamp_millis().to_string();
        let c = &self.config;
        let request = self
            .http
            .post(&c.target_url)
            .header("content-type", "application/json")
            .header("user-agent", "HubSpot Connect 2.0 (http://dev.hubspot.com/) (crm-sandbox)")
            .header("x-hubspot-signature", sign_v1(&c.client_secret, &body))
            .header("x-hubspot-signature-version", "v1")
            .header("x-hubspot-signature-v3", sign_v3(&c.client_secret, "POST", &c.target_url, &body, &ts))
            .header("x-hubspot-request-timestamp", ts)
            .header("x-hubspot-timeout-millis", "5000")
            .body(body);
        let status = match request.send().await {
            Ok(resp) => resp.status().as_u16(),
            Err(error) => {
                tracing::debug!(%error, "webhook target unreachable");
                0
            }
        };
        lock(&self.log).push(DeliveryLog { attempt_number: attempt, events: events.len(), status });
        status
    }
}

/// HubSpot gives each subscription its own id; the fake derives one per type.
fn subscription_id(kind: &str) -> u64 {
    let mut h: u64 = 1_000_000;
    for b in kind.bytes() {
        h = h.wrapping_mul(31).wrapping_add(u64::from(b));
    }
    100_000 + h % 900_000
}

fn retry_delay(base: Duration, attempt: u32) -> Duration {
    let factor = 1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(Duration::from_secs(600))
}

async fn dispatch(sender: Weak<WebhookSender>) {
    loop {
        let Some(s) = sender.upgrade() else { return };
        let waited = tokio::time::timeout(Duration::from_millis(500), s.notify.notified()).await;
        if waited.is_ok() {
            tokio::time::sleep(s.config.batch_window).await;
        }
        let events: Vec<Value> = std::mem::take(&mut *lock(&s.queue));
        for chunk in s.requests(events) {
            let weak = Arc::downgrade(&s);
            tokio::spawn(deliver(weak, chunk));
        }
    }
}

/// Delivers one batch, retrying with a higher `attemptNumber` until a 2xx
/// or the last attempt.
async fn deliver(sender: Weak<WebhookSender>, mut events: Vec<Value>) {
    let mut attempt = 0u32;
    loop {
        let Some(s) = sender.upgrade() else { return };
        for e in &mut events {
            e["attemptNumber"] = json!(attempt);
        }
        let status = s.send(&events, attempt).await;
        if (200..300).contains(&status) {
            if s.config.duplicate {
                for e in &mut events {
                    e["attemptNumber"] = json!(0);
                }
                s.send(&events, 0).await;
            }
            return;
        }
        attempt += 1;
        if attempt >= s.config.max_attempts {
            tracing::warn!(status, attempts = attempt, events = events.len(), "webhook delivery abandoned");
            return;
        }
        let delay = retry_delay(s.config.retry_base, attempt);
        drop(s);
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";

    #[test]
    fn signatures_match_the_published_test_vectors() {
        let body = br#"[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]"#;
        assert_eq!(sign_v1(SECRET, body), "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de");
        assert_eq!(
            sign_v2(SECRET, "GET", "https://www.example.com/webhook_uri", b""),
            "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"
        );
        assert_eq!(
            sign_v3(
                SECRET,
                "POST",
                "https://sync.example.com/hubspot/webhook",
                br#"[{"eventId":42,"objectId":101}]"#,
                "1714000000000"
            ),
            "AvKzGI4s/I8BIoaVzZc4wGbKj15lIphJ3Sj57IRcSjU="
        );
    }

    #[test]
    fn a_held_sender_keeps_events_for_the_test_in_requests_of_at_most_a_hundred() {
        let sender = WebhookSender::start(WebhookConfig {
            target_url: String::new(),
            client_secret: SECRET.into(),
            app_id: 1,
            portal_id: 2,
            retry_base: Duration::from_millis(1),
            max_attempts: 1,
            batch_window: Duration::ZERO,
            duplicate: false,
            reorder: false,
            hold: true,
        });
        let source = Source { change_source: "CRM_UI", source_id: String::new() };
        let drafts: Vec<EventDraft> = (0..150)
            .map(|n| {
                let mut e = EventDraft::new();
                e.insert("subscriptionType".into(), json!("contact.propertyChange"));
                e.insert("objectId".into(), json!(n));
                e
            })
            .collect();
        sender.enqueue(drafts, &source);
        let requests = sender.take_held();
        assert_eq!(requests.iter().map(Vec::len).collect::<Vec<_>>(), vec![100, 50]);
        assert_eq!(requests[0][0]["changeSource"], "CRM_UI");
        assert!(sender.take_held().is_empty() && sender.log().is_empty(), "taken once, never sent");
    }

    #[test]
    fn retry_delays_double_and_stop_growing_at_ten_minutes() {
        let base = Duration::from_secs(1);
        assert_eq!(retry_delay(base, 1), Duration::from_secs(1));
        assert_eq!(retry_delay(base, 3), Duration::from_secs(4));
        assert_eq!(retry_delay(base, 40), Duration::from_secs(600));
    }
}
