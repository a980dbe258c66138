//! `crm-sync serve`: the long-running local deployment. Starts the webhook
//! server (`POST /webhooks/hubspot`, `POST /webhooks/salesforce`,
//! `GET /healthz`) and the local runtime (sync workers, import runner,
//! sweep timer) over the state file, until Ctrl-C or SIGTERM.

use crate::connect::Connected;
use anyhow::Context;
use crm_sync_app::local::WebhookServer;
use std::net::SocketAddr;
use tokio::sync::watch;
use tracing::info;

/// Serves until a shutdown signal, then lets work in progress finish.
pub async fn run(connected: Connected, listen: SocketAddr) -> anyhow::Result<()> {
    let server = WebhookServer::start(connected.app.clone(), listen)
        .await
        .with_context(|| format!("binding the webhook server on {listen}"))?;
    println!("crm-sync serving webhooks on {}", server.base_url());
    println!("  HubSpot:    {}/webhooks/hubspot", server.base_url());
    println!("  Salesforce: {}/webhooks/salesforce", server.base_url());
    let (stop, stopped) = watch::channel(false);
    let runtime = connected.runtime.clone();
    let worker = tokio::spawn(async move { runtime.run(stopped).await });
    shutdown_signal().await;
    info!("ShutdownRequested");
    // A send error means the runtime already ended; its result says why.
    let _ = stop.send(true);
    let outcome = worker.await.context("the runtime task panicked")?;
    server.shutdown().await.context("stopping the webhook server")?;
    outcome.context("the local runtime stopped with an error")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "CtrlCHandlerFailed");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "SigtermHandlerFailed");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
