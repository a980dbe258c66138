//! The sweep function: run every 15 minutes by an EventBridge schedule.
//! Wiring only; see `handler.rs`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    crm_sync_lambda::init_tracing();
    let live = crm_sync_lambda::build_app_from_env().await?;
    let live = &live;
    lambda_runtime::run(lambda_runtime::service_fn(move |event| async move {
        let app = live.current().await?;
        crm_sync_sweep::handle(&app, event).await
    }))
    .await
}
