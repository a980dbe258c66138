//! Shared helpers of the HubSpot client tests: a sandbox with the fake
//! HubSpot, a client pointed at it, and a tiny webhook receiver.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::hubspot::{DEFAULT_CLIENT_SECRET, DEFAULT_TOKEN, HubSpotOptions};
use crm_sandbox::{Sandbox, SandboxOptions};
use crm_sync_crm::hubspot::{HubSpotClient, HubSpotConfig, Secret};
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub async fn sandbox(options: HubSpotOptions) -> Sandbox {
    Sandbox::start(SandboxOptions { hubspot: options, ..SandboxOptions::default() }.with_crm_sync_fields())
        .await
        .expect("sandbox starts")
}

pub fn client(sandbox: &Sandbox) -> HubSpotClient {
    let mut config = HubSpotConfig::new(sandbox.hubspot_url(), Secret::new(DEFAULT_TOKEN));
    config.client_secret = Some(Secret::new(DEFAULT_CLIENT_SECRET));
    config.search_per_second = 50;
    HubSpotClient::new(config).expect("client builds")
}

/// Options with a generous search rate, for tests that page a lot.
pub fn fast_options() -> HubSpotOptions {
    HubSpotOptions { search_per_second: 100, ..HubSpotOptions::default() }
}

pub fn props(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect()
}

pub fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn header_map(&self) -> reqwest::header::HeaderMap {
        let mut map = reqwest::header::HeaderMap::new();
        for (k, v) in &self.headers {
            if let (Ok(k), Ok(v)) =
                (reqwest::header::HeaderName::try_from(k.as_str()), reqwest::header::HeaderValue::from_str(v))
            {
                map.insert(k, v);
            }
        }
        map
    }

    pub fn events(&self) -> Vec<Value> {
        serde_json::from_slice::<Vec<Value>>(&self.body).expect("a JSON array of events")
    }
}

/// A minimal HTTP/1.1 receiver on 127.0.0.1:0 that records each request and
/// answers with the next status of `statuses` (then 200). It stops when the
/// returned handle is dropped.
pub struct Receiver {
    pub url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    pub async fn start(statuses: Vec<u16>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hubspot/webhook", listener.local_addr().expect("addr"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = received.clone();
        let statuses = Arc::new(Mutex::new(statuses.into_iter()));
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else { return };
                let store = store.clone();
                let statuses = statuses.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 8192];
                    let header_end = loop {
                        let Ok(n) = socket.read(&mut chunk).await else { return };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break p + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
                    let headers: Vec<(String, String)> = head
                        .lines()
                        .skip(1)
                        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())))
                        .collect();
                    let length: usize = headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                        .and_then(|(_, v)| v.parse().ok())
                        .unwrap_or(0);
                    while buf.len() < header_end + length {
                        let Ok(n) = socket.read(&mut chunk).await else { return };
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    let body = buf[header_end..(header_end + length).min(buf.len())].to_vec();
                    let status = statuses.lock().unwrap().next().unwrap_or(200);
                    store.lock().unwrap().push(Received { headers, body });
                    let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                    let _ = socket.write_all(reply.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Receiver { url, received, task }
    }

    pub fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (up to 15 s) until `pred` holds for what was received.
    pub async fn wait_for(&self, pred: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        for _ in 0..300 {
            let got = self.all();
            if pred(&got) {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        self.all()
    }
}
