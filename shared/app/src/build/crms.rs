//! The two CRM clients, built from where the CRMs are ([`CrmEndpoints`]) and
//! the [`Credentials`], behind the ports the use cases call.
//!
//! One function, [`crm_clients`], for every runtime: the local deployment,
//! the demo against the sandbox and the deployed functions differ only in
//! their endpoints and credentials. It checks nothing about completeness
//! (see [`Credentials::check_complete`]): a client built from empty
//! credentials fails on its first call, which is what the sandbox expects.

use super::{BuildError, Credentials};
use crate::ports::{HubspotApi, HubspotSetup, SalesforceApi, SalesforceSetup};
use crm_sync_crm::hubspot::{HubSpotClient, HubSpotConfig};
use crm_sync_crm::salesforce::{SalesforceAuth, SalesforceClient, SalesforceConfig};
use std::sync::Arc;

/// Salesforce login host of production orgs.
pub const DEFAULT_SALESFORCE_LOGIN_URL: &str = "https://login.salesforce.com";
/// HubSpot's API base URL.
pub const DEFAULT_HUBSPOT_BASE_URL: &str = "https://api.hubapi.com";

/// Where the two CRMs are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmEndpoints {
    /// Salesforce login host: production, a sandbox org, or the CRM sandbox.
    pub salesforce_login_url: String,
    /// HubSpot API base URL, or the CRM sandbox's.
    pub hubspot_base_url: String,
    /// One more trusted root certificate (PEM) for both clients: the CRM
    /// sandbox's self-signed one when it runs with TLS.
    pub extra_root_cert_pem: Option<String>,
}

impl Default for CrmEndpoints {
    fn default() -> Self {
        CrmEndpoints {
            salesforce_login_url: DEFAULT_SALESFORCE_LOGIN_URL.to_owned(),
            hubspot_base_url: DEFAULT_HUBSPOT_BASE_URL.to_owned(),
            extra_root_cert_pem: None,
        }
    }
}

/// The two CRM clients, behind the ports the use cases call.
#[derive(Clone)]
pub struct Crms {
    /// The Salesforce client.
    pub salesforce: Arc<dyn SalesforceApi>,
    /// The HubSpot client.
    pub hubspot: Arc<dyn HubspotApi>,
}

impl std::fmt::Debug for Crms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crms").finish_non_exhaustive()
    }
}

/// Builds both clients. HubSpot gets the client secret when one is given
/// (webhook signatures). Salesforce uses the JWT bearer flow when a private
/// key is given, else client credentials; a given instance URL skips the
/// token's own.
pub fn crm_clients(endpoints: &CrmEndpoints, credentials: &Credentials) -> Result<Crms, BuildError> {
    Ok(Crms {
        salesforce: Arc::new(salesforce_client(endpoints, credentials)?),
        hubspot: Arc::new(hubspot_client(endpoints, credentials)?),
    })
}

/// The two clients behind the ports `crm-sync setup` checks and prepares
/// the accounts through.
#[derive(Clone)]
pub struct SetupCrms {
    /// The Salesforce client.
    pub salesforce: Arc<dyn SalesforceSetup>,
    /// The HubSpot client.
    pub hubspot: Arc<dyn HubspotSetup>,
}

impl std::fmt::Debug for SetupCrms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetupCrms").finish_non_exhaustive()
    }
}

/// Builds both clients as [`crm_clients`] does, behind the setup ports.
pub fn setup_clients(endpoints: &CrmEndpoints, credentials: &Credentials) -> Result<SetupCrms, BuildError> {
    Ok(SetupCrms {
        salesforce: Arc::new(salesforce_client(endpoints, credentials)?),
        hubspot: Arc::new(hubspot_client(endpoints, credentials)?),
    })
}

fn hubspot_client(endpoints: &CrmEndpoints, credentials: &Credentials) -> Result<HubSpotClient, BuildError> {
    let mut hubspot_config =
        HubSpotConfig::new(endpoints.hubspot_base_url.clone(), credentials.hubspot_access_token.clone());
    hubspot_config.extra_root_cert_pem = endpoints.extra_root_cert_pem.clone();
    if !credentials.hubspot_client_secret.is_empty() {
        hubspot_config.client_secret = Some(credentials.hubspot_client_secret.clone());
    }
    HubSpotClient::new(hubspot_config).map_err(|source| BuildError::Client { system: "HubSpot", source })
}

fn salesforce_client(endpoints: &CrmEndpoints, credentials: &Credentials) -> Result<SalesforceClient, BuildError> {
    let auth = if !credentials.salesforce_private_key_pem.is_empty() {
        SalesforceAuth::JwtBearer {
            username: credentials.salesforce_username.clone(),
            private_key_pem: credentials.salesforce_private_key_pem.clone(),
        }
    } else {
        SalesforceAuth::ClientCredentials { client_secret: credentials.salesforce_client_secret.clone() }
    };
    let mut salesforce_config =
        SalesforceConfig::new(endpoints.salesforce_login_url.clone(), credentials.salesforce_client_id.clone(), auth);
    salesforce_config.extra_root_pem = endpoints.extra_root_cert_pem.clone();
    let instance_url = credentials.salesforce_instance_url.trim();
    if !instance_url.is_empty() {
        salesforce_config.instance_url = Some(instance_url.to_owned());
    }
    SalesforceClient::new(salesforce_config).map_err(|source| BuildError::Client { system: "Salesforce", source })
}
