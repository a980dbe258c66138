//! `crm-sync serve`: the long-running local deployment. Starts the webhook
//! server (`POST /webhooks/hubspot`, `POST /webhooks/salesforce`,
//! `GET /healthz`) and the local runtime (sync workers, import runner,
//! sweep timer) over the state file, until Ctrl-C or SIGTERM.

use crate::connect::Connected;
use anyhow::Context;
use crm_sync_app::SalesforceOrg;
use crm_sync_app::local::WebhookServer;
use std::net::SocketAddr;
use tokio::sync::watch;
use tracing::info;

/// Serves until a shutdown signal, then lets work in progress finish.
pub async fn run(connected: Connected, listen: SocketAddr) -> anyhow::Result<()> {
    // Listen for the signals before announcing the address, so that a stop
    // request right after start-up is never lost.
    let shutdown = ShutdownSignal::install()?;
    let server = WebhookServer::start(connected.app.clone(), listen)
        .await
        .with_context(|| format!("binding the webhook server on {listen}"))?;
    announce(&server.base_url(), &connected.app.secrets().salesforce_org);
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
fn announce(base_url: &str, org: &SalesforceOrg) {
    use std::io::Write;
    let accepted = match org {
        SalesforceOrg::Only(org) => format!("outbound messages of org {org} accepted"),
        SalesforceOrg::Unknown(reason) => format!("every outbound message refused: {reason}"),
        SalesforceOrg::Any => "outbound messages of any org accepted".to_owned(),
    };
    let text = format!(
        "crm-sync serving webhooks on {base_url}\n  HubSpot:    {base_url}/webhooks/hubspot\n  Salesforce: {base_url}/webhooks/salesforce ({accepted})\n"
    );
    let mut out = std::io::stdout().lock();
    if let Err(error) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        tracing::warn!(%error, "AnnouncementNotPrinted");
    }
    info!(%base_url, "ServeStarted");
}

/// Ctrl-C and (on Unix) SIGTERM, registered up front.
struct ShutdownSignal {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    fn install() -> anyhow::Result<Self> {
        Ok(ShutdownSignal {
            #[cfg(unix)]
            terminate: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .context("listening for SIGTERM")?,
        })
    }

    async fn wait(mut self) {
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
