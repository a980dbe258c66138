//! The local webhook server (feature `server`): axum routes that turn HTTP
//! requests into the webhook use cases' [`WebhookRequest`] and their
//! [`WebhookResponse`] back into HTTP.
//!
//! It holds no logic of its own: signature checks, de-duplication and
//! queueing are the use cases' job, exactly as behind the webhook function's
//! Function URL. The paths are the same in both runtimes. What it must get
//! right is the URL: HubSpot signs the full URL it called, so a request's
//! scheme-less URI is rebuilt from its `Host` header, unless a public base
//! URL is configured (`WebhookSecrets::public_base_url`, from
//! `CRM_SYNC_PUBLIC_URL`): behind a TLS proxy the sender signed the public
//! URL, so only the path is taken from the request and the use case puts the
//! public base in front of it.

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
/// and `GET /healthz`. The sync-health page (`super::ui::router`) is merged
/// in by the command that serves it; the webhook function never has it.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/webhooks/hubspot", post(hubspot_route))
        .route("/webhooks/salesforce", post(salesforce_route))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(app)
}

fn to_request(app: &App, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> WebhookRequest {
    let public_base = app.secrets().public_base_url.is_some();
    WebhookRequest {
        method: method.to_string(),
        uri: signed_uri(public_base, &uri, &headers),
        ..from_parts(headers, body)
    }
}

/// The URL the sender signed: with a public base URL configured, the path
/// alone (the use case prefixes the base); else scheme and host as the
/// sender addressed us.
fn signed_uri(public_base: bool, uri: &Uri, headers: &HeaderMap) -> String {
    let path = uri.path_and_query().map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    if public_base {
        return path;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (uri.scheme_str(), host) {
        (Some(_), _) => uri.to_string(),
        (None, Some(host)) => format!("http://{host}{path}"),
        (None, None) => path,
    }
}

fn from_parts(headers: HeaderMap, body: Bytes) -> WebhookRequest {
    let headers = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_owned())))
        .collect();
    WebhookRequest { headers, body: body.to_vec(), ..WebhookRequest::default() }
}

fn to_response(response: WebhookResponse) -> Response {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, response.content_type)], response.body).into_response()
}

async fn hubspot_route(State(app): State<App>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    to_response(handle_hubspot_webhook(&app, to_request(&app, method, uri, headers, body)).await)
}

async fn salesforce_route(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    to_response(handle_salesforce_outbound(&app, to_request(&app, method, uri, headers, body)).await)
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
        Self::serve(router(app), addr).await
    }

    /// Serves [`router`] on a listener bound earlier (so that its address can
    /// be handed to whoever sends the webhooks before the app exists).
    pub fn start_on(app: App, listener: tokio::net::TcpListener) -> std::io::Result<Self> {
        Self::serve_on(router(app), listener)
    }

    /// Binds `addr` and serves `routes`: [`router`] merged with the
    /// sync-health page (`crm-sync serve`), or the page alone (`crm-sync ui`).
    pub async fn serve(routes: Router, addr: SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        Self::serve_on(routes, listener)
    }

    /// Serves `routes` on a listener bound earlier.
    pub fn serve_on(routes: Router, listener: tokio::net::TcpListener) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            axum::serve(listener, routes)
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn host(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, value.parse().unwrap());
        headers
    }

    #[test]
    fn without_a_public_url_the_signed_url_is_rebuilt_from_the_host() {
        let uri: Uri = "/webhooks/hubspot?x=1".parse().unwrap();
        assert_eq!(signed_uri(false, &uri, &host("127.0.0.1:8080")), "http://127.0.0.1:8080/webhooks/hubspot?x=1");
    }

    #[test]
    fn with_a_public_url_only_the_path_is_taken_from_the_request() {
        // Behind a TLS proxy the Host is the proxy's upstream, never what
        // HubSpot signed; the use case puts the public base in front.
        let uri: Uri = "/webhooks/hubspot".parse().unwrap();
        assert_eq!(signed_uri(true, &uri, &host("127.0.0.1:8080")), "/webhooks/hubspot");
    }
}
