//! The webhook function: HubSpot deliveries and Salesforce outbound messages
//! arriving on the Function URL. Wiring only; see `handler.rs`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    crm_sync_lambda::init_tracing();
    let live = crm_sync_lambda::build_app_from_env().await?;
    let live = &live;
    lambda_http::run(lambda_http::service_fn(move |request| async move {
        let app = live.current().await?;
        crm_sync_webhook::handle(&app, request).await
    }))
    .await
}
