//! `crm-sync ui`: the sync-health page on its own, over a deployment's App
//! (the local state file here), on a loopback server until Ctrl-C or
//! SIGTERM. What its buttons queue is synced by whatever works that
//! deployment's queues (a running `crm-sync serve`, or the deployed sync
//! workers); this process runs no worker.
//!
//! The page takes the App alone, so another backend's App (its store and
//! queues) is served by the same [`run`].

use super::serve::{ShutdownSignal, print_once};
use anyhow::Context;
use crm_sync_app::App;
use crm_sync_app::local::WebhookServer;
use crm_sync_app::local::ui::{self, RecordLinks, UiAccess, UiOptions};
use std::net::SocketAddr;
use tracing::info;

/// Serves the page over `app` on `listen` until a shutdown signal.
pub async fn run(app: App, listen: SocketAddr, links: RecordLinks) -> anyhow::Result<()> {
    let shutdown = ShutdownSignal::install()?;
    let access = UiAccess::generate();
    let routes = ui::router(app, access.clone(), UiOptions { links, workers_here: false });
    let server =
        WebhookServer::serve(routes, listen).await.with_context(|| format!("binding the page's server on {listen}"))?;
    let base_url = server.base_url();
    print_once(&format!("crm-sync sync health: {} (opens a session; keep it private)\n", access.login_url(&base_url)));
    info!(%base_url, "SyncHealthPageStarted");
    shutdown.wait().await;
    info!("ShutdownRequested");
    server.shutdown().await.context("stopping the page's server")
}
