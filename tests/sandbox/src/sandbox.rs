//! Starting and stopping the two fake APIs: one listener each, plain HTTP or
//! HTTPS with a generated certificate, both wrapped by [`crate::control`].

use crate::control::{self, Api, Control};
use crate::hubspot::{self, HubSpotOptions, HubSpotState};
use crate::salesforce::{self, SalesforceOptions, SalesforceState};
use crate::tls::SelfSigned;
use anyhow::Context;
use axum_server::Handle;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// What to start: the two listen addresses (port 0 picks a free port), TLS,
/// and each fake API's own options.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    pub salesforce_addr: SocketAddr,
    pub hubspot_addr: SocketAddr,
    pub tls: bool,
    pub salesforce: SalesforceOptions,
    pub hubspot: HubSpotOptions,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            salesforce_addr: loopback,
            hubspot_addr: loopback,
            tls: false,
            salesforce: SalesforceOptions::default(),
            hubspot: HubSpotOptions::default(),
        }
    }
}

impl SandboxOptions {
    /// Seeds crm-sync's own custom fields and properties in both CRMs (the
    /// `HubSpot_Id__c` External IDs, the `salesforce_id` and
    /// `salesforce_campaigns` properties), as `crm-sync setup --apply`
    /// would create them. Without it both start bare, as real accounts do.
    pub fn with_crm_sync_fields(mut self) -> Self {
        self.salesforce.crm_sync_fields = true;
        self.hubspot.crm_sync_properties = true;
        self
    }
}

/// A running sandbox. Dropping it stops both listeners; `shutdown().await`
/// also waits for them to finish.
pub struct Sandbox {
    salesforce_url: String,
    hubspot_url: String,
    salesforce: Arc<SalesforceState>,
    hubspot: Arc<HubSpotState>,
    salesforce_control: Arc<Control>,
    hubspot_control: Arc<Control>,
    cert_pem: Option<String>,
    handles: Vec<Handle>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("salesforce_url", &self.salesforce_url)
            .field("hubspot_url", &self.hubspot_url)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Binds both listeners and serves them on the current tokio runtime.
    pub async fn start(options: SandboxOptions) -> anyhow::Result<Sandbox> {
        let cert = if options.tls { Some(SelfSigned::generate()?) } else { None };
        let scheme = if options.tls { "https" } else { "http" };

        let sf_listener = bind(options.salesforce_addr)?;
        let hs_listener = bind(options.hubspot_addr)?;
        let salesforce_url = format!("{scheme}://{}", sf_listener.local_addr()?);
        let hubspot_url = format!("{scheme}://{}", hs_listener.local_addr()?);

        let salesforce = SalesforceState::new(options.salesforce.clone());
        salesforce.set_base_url(&salesforce_url);
        let hubspot = HubSpotState::new(options.hubspot.clone());
        let salesforce_control = Control::new(Api::Salesforce);
        let hubspot_control = Control::new(Api::Hubspot);

        let sf_app = control::wrap(salesforce::router(salesforce.clone()), salesforce_control.clone());
        let hs_app = control::wrap(hubspot::router(hubspot.clone()), hubspot_control.clone());

        let mut handles = Vec::new();
        let mut tasks = Vec::new();
        for (listener, app, name) in [(sf_listener, sf_app, "salesforce"), (hs_listener, hs_app, "hubspot")] {
            let handle = Handle::new();
            let service = app.into_make_service();
            let task = match &cert {
                Some(cert) => {
                    let config = cert.rustls_config().await?;
                    let server = axum_server::from_tcp_rustls(listener, config).handle(handle.clone());
                    tokio::spawn(async move {
                        if let Err(error) = server.serve(service).await {
                            tracing::error!(%error, listener = name, "sandbox listener stopped");
                        }
                    })
                }
                None => {
                    let server = axum_server::from_tcp(listener).handle(handle.clone());
                    tokio::spawn(async move {
                        if let Err(error) = server.serve(service).await {
                            tracing::error!(%error, listener = name, "sandbox listener stopped");
                        }
                    })
                }
            };
            handles.push(handle);
            tasks.push(task);
        }
        for handle in &handles {
            handle.listening().await.context("a sandbox listener failed to start")?;
        }
        tracing::info!(%salesforce_url, %hubspot_url, "sandbox started");
        Ok(Sandbox {
            salesforce_url,
            hubspot_url,
            salesforce,
            hubspot,
            salesforce_control,
            hubspot_control,
            cert_pem: cert.map(|c| c.cert_pem),
            handles,
            tasks,
        })
    }

    /// Base URL of the fake Salesforce (login host and instance), no trailing slash.
    pub fn salesforce_url(&self) -> &str {
        &self.salesforce_url
    }

    /// Base URL of the fake HubSpot API, no trailing slash.
    pub fn hubspot_url(&self) -> &str {
        &self.hubspot_url
    }

    pub fn salesforce(&self) -> &Arc<SalesforceState> {
        &self.salesforce
    }

    pub fn hubspot(&self) -> &Arc<HubSpotState> {
        &self.hubspot
    }

    /// Counters, faults and latency of the Salesforce listener.
    pub fn salesforce_control(&self) -> &Arc<Control> {
        &self.salesforce_control
    }

    /// Counters, faults and latency of the HubSpot listener.
    pub fn hubspot_control(&self) -> &Arc<Control> {
        &self.hubspot_control
    }

    /// The PEM of the self-signed certificate when started with TLS.
    pub fn cert_pem(&self) -> Option<&str> {
        self.cert_pem.as_deref()
    }

    /// Stops both listeners and waits for them.
    pub async fn shutdown(mut self) {
        for handle in &self.handles {
            handle.graceful_shutdown(Some(Duration::from_secs(1)));
        }
        for task in self.tasks.drain(..) {
            if let Err(error) = task.await {
                tracing::warn!(%error, "sandbox listener task failed");
            }
        }
        self.salesforce.stop();
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for handle in &self.handles {
            handle.shutdown();
        }
        self.salesforce.stop();
    }
}

fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}
