//! Adapts the EventBridge scheduled event to one sweep (`sweep_once`) and
//! returns its report. A failed sweep is a function error: the schedule does
//! not retry it (the next one comes in 15 minutes, from the same cursors) and
//! the errors alarm fires after two in a row.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use crm_sync_app::App;
use crm_sync_app::usecases::sweep::{SweepReport, sweep_once};
use lambda_runtime::LambdaEvent;

/// Runs one sweep for a scheduled event.
pub async fn handle(app: &App, event: LambdaEvent<EventBridgeEvent>) -> Result<SweepReport, lambda_runtime::Error> {
    tracing::info!(
        schedule_time = ?event.payload.time,
        request_id = %event.context.request_id,
        "SweepTriggered"
    );
    let report = sweep_once(app).await?;
    tracing::info!(intents = report.intents_queued, objects = report.objects.len(), "SweepFinished");
    Ok(report)
}
