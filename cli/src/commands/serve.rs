//! `crm-sync serve`: the long-running local deployment. Starts the webhook
//! server (`POST /webhooks/hubspot`, `POST /webhooks/salesforce`,
//! `GET /healthz`, and the sync-health page under `/ui`, whose login address
//! it prints once) and the local runtime (sync workers, import runner, sweep
//! timer) over the state file, until Ctrl-C or SIGTERM.

use crate::connect::Connected;
use anyhow::Context;
use crm_sync_app::SalesforceOrg;
use crm_sync_app::local::ui::{self, RecordLinks, UiAccess, UiOptions};
use crm_sync_app::local::{WebhookServer, router};
use std::io::Write;
use std::net::SocketAddr;
use tokio::sync::watch;
use tracing::info;

/// Serves until a shutdown signal, then lets work in progress finish.
pub async fn run(connected: Connected, listen: SocketAddr, links: RecordLinks) -> anyhow::Result<()> {
    // Listen for the signals before announcing the address, so that a stop
    // request right after start-up is never lost.
    let shutdown = ShutdownSignal::install()?;
    let access = UiAccess::generate();
    let page = ui::router(connected.app.clone(), access.clone(), UiOptions { links, workers_here: true });
    let server = WebhookServer::serve(router(connected.app.clone()).merge(page), listen)
        .await
        .with_context(|| format!("binding the webhook server on {listen}"))?;
    announce(&server.base_url(), &connected.app.secrets().salesforce_org, &access);
    let (stop, stopped) = watch::channel(false);
    let runtime = connected.runtime.clone();
    let worker = tokio::spawn(async move { runtime.run(stopped).await });
    shutdown.wait().await;
    info!("ShutdownRequested");
    // A send error means the runtime already ended; its result says why.
    let _ = stop.send(true);
    let outcome = worker.await.context("the runtime task panicked")?;
    server.shutdown().await.context("stopping the webhook server")?;
    outcome.context("the local runtime stopped with an error")
}

/// Tells the operator where to point the CRMs, and whose outbound messages
/// are accepted. Standard output may be a closed pipe when run under a
/// supervisor; that must not stop the server.
fn announce(base_url: &str, org: &SalesforceOrg, access: &UiAccess) {
    let accepted = match org {
        SalesforceOrg::Only(org) => format!("outbound messages of org {org} accepted"),
        SalesforceOrg::Unknown(reason) => format!("every outbound message refused: {reason}"),
        SalesforceOrg::Any => "outbound messages of any org accepted".to_owned(),
    };
    let text = format!(
        "crm-sync serving webhooks on {base_url}\n  HubSpot:    {base_url}/webhooks/hubspot\n  Salesforce: {base_url}/webhooks/salesforce ({accepted})\n  Sync health: {} (opens a session; keep it private)\n",
        access.login_url(base_url)
    );
    print_once(&text);
    info!(%base_url, "ServeStarted");
}

/// Writes the start-up text to stdout (only there: it holds the page's
/// login token, which never goes to the logs).
pub(super) fn print_once(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(error) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        tracing::warn!(%error, "AnnouncementNotPrinted");
    }
}

/// Ctrl-C and (on Unix) SIGTERM, registered up front.
pub(super) struct ShutdownSignal {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    pub(super) fn install() -> anyhow::Result<Self> {
        Ok(ShutdownSignal {
            #[cfg(unix)]
            terminate: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .context("listening for SIGTERM")?,
        })
    }

    pub(super) async fn wait(mut self) {
        let ctrl_c = async {
            if let Err(error) = tokio::signal::ctrl_c().await {
                tracing::warn!(%error, "CtrlCHandlerFailed");
                std::future::pending::<()>().await;
            }
        };
        #[cfg(unix)]
        let terminate = async {
            self.terminate.recv().await;
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {}
            _ = terminate => {}
        }
    }
}
