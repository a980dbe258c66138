//! The local webhook server (feature `server`): axum routes that turn HTTP
//! requests into the webhook use cases' [`WebhookRequest`] and their
//! [`WebhookResponse`] back into HTTP.
//!
//! It holds no logic of its own: signature checks, de-duplication and
//! queueing are the use cases' job, exactly as behind the webhook function's
//! Function URL. The paths are the same in both runtimes. What it must get
//! right is the URL: HubSpot signs the full URL it called, so a request's
//! scheme-less URI is rebuilt from its `Host` header (and a deployment behind
//! a proxy sets `WebhookSecrets::public_base_url` instead).

use crate::App;
use crate::usecases::webhook::{WebhookRequest, WebhookResponse, handle_hubspot_webhook, handle_salesforce_outbound};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::net::SocketAddr;
use tokio::sync::watch;
use tracing::info;

/// The webhook routes: `POST /webhooks/hubspot`, `POST /webhooks/salesforce`
/// and `GET /healthz`.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/webhooks/hubspot", post(hubspot_route))
        .route("/webhooks/salesforce", post(salesforce_route))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(app)
}

fn to_request(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> WebhookRequest {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_owned);
    let path = uri.path_and_query().map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    // The URL the sender signed: scheme and host as it addressed us.
    let uri = match (uri.scheme_str(), host) {
        (Some(_), _) => uri.to_string(),
        (None, Some(host)) => format!("http://{host}{path}"),
        (None, None) => path,
    };
    let headers = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_owned())))
        .collect();
    WebhookRequest { method: method.to_string(), uri, headers, body: body.to_vec() }
}

fn to_response(response: WebhookResponse) -> Response {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, response.content_type)], response.body).into_response()
}

async fn hubspot_route(State(app): State<App>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    to_response(handle_hubspot_webhook(&app, to_request(method, uri, headers, body)).await)
}

async fn salesforce_route(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    to_response(handle_salesforce_outbound(&app, to_request(method, uri, headers, body)).await)
}

/// A running webhook server.
#[derive(Debug)]
pub struct WebhookServer {
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl WebhookServer {
    /// Binds `addr` (port 0 for any free port) and serves [`router`].
    pub async fn start(app: App, addr: SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        Self::start_on(app, listener)
    }

    /// Serves [`router`] on a listener bound earlier (so that its address can
    /// be handed to whoever sends the webhooks before the app exists).
    pub fn start_on(app: App, listener: tokio::net::TcpListener) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            axum::serve(listener, router(app))
                .with_graceful_shutdown(async move {
                    while !*stopped.borrow() {
                        if stopped.changed().await.is_err() {
                            break;
                        }
                    }
                })
                .await
        });
        info!(%addr, "WebhookServerStarted");
        Ok(WebhookServer { addr, stop, task })
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets requests in progress finish.
    pub async fn shutdown(self) -> std::io::Result<()> {
        let _ = self.stop.send(true);
        match self.task.await {
            Ok(result) => result,
            Err(join) => Err(std::io::Error::other(join)),
        }
    }
}
