//! The common frame: both listeners, counting, faults, latency, TLS.

use crm_sandbox::{Fault, Sandbox, SandboxOptions};

#[tokio::test]
async fn calls_are_counted_per_endpoint_and_the_control_api_is_not() -> anyhow::Result<()> {
    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    let http = reqwest::Client::new();
    for _ in 0..3 {
        http.get(format!("{}/services/data", sandbox.salesforce_url())).send().await?;
    }
    let counts: serde_json::Value =
        http.get(format!("{}/__sandbox/counts", sandbox.salesforce_url())).send().await?.json().await?;
    assert_eq!(counts["total"], 3);
    assert_eq!(sandbox.salesforce_control().counts().count("GET", "/services/data"), 3);
    assert_eq!(sandbox.hubspot_control().counts().total, 0);
    http.post(format!("{}/__sandbox/reset", sandbox.salesforce_url())).send().await?;
    assert_eq!(sandbox.salesforce_control().counts().total, 0);
    sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn an_injected_fault_answers_the_given_number_of_matching_calls() -> anyhow::Result<()> {
    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    let http = reqwest::Client::new();
    let fault = Fault::new(503, 2, "/services/data");
    http.post(format!("{}/__sandbox/faults", sandbox.salesforce_url())).json(&fault).send().await?;
    let url = format!("{}/services/data", sandbox.salesforce_url());
    let statuses = [
        http.get(&url).send().await?.status().as_u16(),
        http.get(&url).send().await?.status().as_u16(),
        http.get(&url).send().await?.status().as_u16(),
    ];
    assert_eq!(statuses, [503, 503, 200]);
    assert_eq!(sandbox.salesforce_control().counts().total, 3);
    assert!(sandbox.salesforce_control().faults().is_empty());
    Ok(())
}

#[tokio::test]
async fn with_tls_both_listeners_serve_https_that_trusts_the_generated_certificate() -> anyhow::Result<()> {
    let sandbox = Sandbox::start(SandboxOptions { tls: true, ..Default::default() }).await?;
    assert!(sandbox.salesforce_url().starts_with("https://127.0.0.1:"));
    let pem = sandbox.cert_pem().ok_or_else(|| anyhow::anyhow!("no certificate"))?;
    let http = reqwest::Client::builder().tls_certs_merge([reqwest::Certificate::from_pem(pem.as_bytes())?]).build()?;
    let status = http.get(format!("{}/services/data", sandbox.salesforce_url())).send().await?.status();
    assert_eq!(status, 200);
    let counts = http.get(format!("{}/__sandbox/counts", sandbox.hubspot_url())).send().await?.status();
    assert_eq!(counts, 200);
    Ok(())
}
