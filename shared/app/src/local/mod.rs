//! The local runtime: one process running the sync workers, the import
//! runner and the 15-minute sweep timer over the embedded store and queues,
//! and (feature `server`) the webhook HTTP server in front of them.
//!
//! It owns scheduling only: every step it takes is a use case of this crate,
//! the same ones the Lambdas call, so a change that syncs locally syncs the
//! same way when deployed. [`LocalRuntime::run_until_idle`] is the
//! single-step entry point the tests and the demo drive; [`LocalRuntime::run`]
//! is the long-running loop of `crm-sync serve`.
//!
//! Invariants:
//! - a message is deleted only when its intent ended synced, skipped or
//!   recorded as failed, or when a fresh copy waits out an API limit; a
//!   retry changes its visibility to the backoff and leaves it on the queue
//!   (the same settlement, [`crate::retry::sync_received`], the sync-worker
//!   function makes through partial batch responses);
//! - one [`LocalRuntime::run_until_idle`] drains at a time, so two drains
//!   never race over "is anything left";
//! - the App is built elsewhere (`crate::build`); the runtime never opens a
//!   store or a client itself.
//!
//! Layout: the scheduler here; the HTTP server in `server` (axum), compiled
//! only with the `server` feature so that the functions, which receive
//! webhooks through their Function URL, do not link it.

#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
pub mod ui;

#[cfg(feature = "server")]
pub use server::{WebhookServer, router};

/// The embedded App's builder, kept at its former path.
pub use crate::build::{EmbeddedParts, embedded_app};

use crate::retry::{Settlement, sync_received};
use crate::usecases::sweep::sweep_once;
use crate::usecases::sync::{BatchOutcome, ItemResult, SyncStats};
use crate::{App, AppError};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, broadcast, watch};
use tracing::{info, warn};

/// Scheduling settings of the local runtime.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// Concurrent sync workers in [`LocalRuntime::run`].
    pub workers: usize,
    /// Messages one worker step takes from the sync queue.
    pub batch_messages: usize,
    /// How long a received message stays hidden while a worker holds it.
    pub visibility: Duration,
    /// Time between sweeps in [`LocalRuntime::run`].
    pub sweep_every: Duration,
    /// Whether [`LocalRuntime::run`] sweeps as soon as it starts (catching
    /// up on whatever changed while it was down) or first after
    /// `sweep_every`.
    pub sweep_at_start: bool,
    /// How long [`LocalRuntime::run_until_idle`] waits for delayed messages
    /// (retries after a 429) before giving up.
    pub idle_timeout: Duration,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            workers: 4,
            batch_messages: 10,
            visibility: Duration::from_secs(120),
            sweep_every: Duration::from_secs(15 * 60),
            sweep_at_start: true,
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// Something that happened, for progress bars and logs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Progress {
    /// A sync worker step finished.
    BatchSynced { messages: usize, stats: SyncStats },
    /// An import chunk finished, or checkpointed.
    ImportChunk { job_id: String, index: u32, records: u64, done: bool },
    /// A sweep queued this many intents.
    Swept { intents: usize },
}

/// Totals of one [`LocalRuntime::run_until_idle`] call.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IdleReport {
    pub sync_steps: usize,
    pub messages: usize,
    pub retried: usize,
    /// Messages re-queued to wait out an API limit.
    pub waited: usize,
    pub failed: usize,
    pub import_chunks: usize,
    pub stats: SyncStats,
}

/// The local runtime.
#[derive(Debug, Clone)]
pub struct LocalRuntime {
    app: App,
    options: LocalOptions,
    progress: broadcast::Sender<Progress>,
    /// One `run_until_idle` at a time (it drains the queues).
    drain: Arc<Mutex<()>>,
}

impl LocalRuntime {
    pub fn new(app: App, options: LocalOptions) -> Self {
        let (progress, _) = broadcast::channel(1024);
        LocalRuntime { app, options, progress, drain: Arc::default() }
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    /// The scheduling settings it runs with.
    pub fn options(&self) -> &LocalOptions {
        &self.options
    }

    /// Progress events from now on (a lagging receiver skips events).
    pub fn subscribe(&self) -> broadcast::Receiver<Progress> {
        self.progress.subscribe()
    }

    fn emit(&self, event: Progress) {
        // No subscriber is fine.
        let _ = self.progress.send(event);
    }

    /// Runs one sweep and reports it as progress.
    pub async fn sweep(&self) -> Result<crate::usecases::sweep::SweepReport, AppError> {
        let report = sweep_once(&self.app).await?;
        self.emit(Progress::Swept { intents: report.intents_queued });
        Ok(report)
    }

    /// One sync worker step: receives a batch, syncs it, and settles every
    /// message (delete when done or recorded as failed, visibility change
    /// when it should be retried). Returns `None` when nothing was visible.
    pub async fn sync_step(&self) -> Result<Option<BatchOutcome>, AppError> {
        let queue = self.app.sync_queue();
        let messages = queue.receive(self.options.batch_messages, self.options.visibility).await?;
        if messages.is_empty() {
            return Ok(None);
        }
        let (outcome, settlements) = sync_received(&self.app, &messages).await;
        let done: Vec<String> = messages
            .iter()
            .zip(settlements)
            .filter(|(_, s)| *s == Settlement::Delete)
            .map(|(m, _)| m.receipt_handle.clone())
            .collect();
        queue.delete_batch(&done).await?;
        self.emit(Progress::BatchSynced { messages: messages.len(), stats: outcome.stats.clone() });
        Ok(Some(outcome))
    }

    /// One import worker step: takes one chunk message and runs it.
    pub async fn import_step(&self) -> Result<bool, AppError> {
        let queue = self.app.import_queue();
        let messages = queue.receive(1, self.options.visibility).await?;
        let Some(message) = messages.into_iter().next() else {
            return Ok(false);
        };
        let (result, settlement) = crate::retry::run_chunk(&self.app, &message).await;
        match result {
            Ok(report) => self.emit(Progress::ImportChunk {
                job_id: report.job_id.clone(),
                index: report.index,
                records: report.records,
                done: report.ran,
            }),
            Err(error) => warn!(%error, "ImportChunkNotDone"),
        }
        if settlement == crate::retry::Settlement::Delete {
            queue.delete(&message.receipt_handle).await?;
        }
        Ok(true)
    }

    /// Works both queues until nothing is left to do: no visible message and
    /// none in flight or delayed. Waits for delayed retries (up to
    /// [`LocalOptions::idle_timeout`]) rather than returning early, so that
    /// "idle" means every intent has ended synced, skipped or recorded.
    pub async fn run_until_idle(&self) -> Result<IdleReport, AppError> {
        let _guard = self.drain.lock().await;
        let mut report = IdleReport::default();
        let started = tokio::time::Instant::now();
        loop {
            if self.work_visible(&mut report).await? {
                continue;
            }
            let sync = self.app.sync_queue().depth().await?;
            let import = self.app.import_queue().depth().await?;
            if sync.visible + sync.in_flight + import.visible + import.in_flight == 0 {
                return Ok(report);
            }
            if started.elapsed() > self.options.idle_timeout {
                warn!(sync_in_flight = sync.in_flight, import_in_flight = import.in_flight, "IdleWaitTimedOut");
                return Ok(report);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Works both queues while a message is visible now, and returns as
    /// soon as none is: messages delayed (retries, waits) are left for a
    /// later call. With a manual clock, this is one step of simulated time.
    pub async fn run_ready(&self) -> Result<IdleReport, AppError> {
        let _guard = self.drain.lock().await;
        let mut report = IdleReport::default();
        while self.work_visible(&mut report).await? {}
        Ok(report)
    }

    /// Takes every visible message of both queues once; whether any was.
    async fn work_visible(&self, report: &mut IdleReport) -> Result<bool, AppError> {
        let mut worked = false;
        while self.import_step().await? {
            report.import_chunks += 1;
            worked = true;
            // Let chunk output sync before the next chunk piles up.
            while let Some(outcome) = self.sync_step().await? {
                tally(report, &outcome);
            }
        }
        while let Some(outcome) = self.sync_step().await? {
            tally(report, &outcome);
            worked = true;
        }
        Ok(worked)
    }

    /// The long-running loop: workers, import runner and sweep timer, until
    /// `shutdown` turns true; then the workers finish their current step.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) -> Result<(), AppError> {
        let mut tasks = tokio::task::JoinSet::new();
        for worker in 0..self.options.workers.max(1) {
            let runtime = self.clone();
            let mut stop = shutdown.clone();
            tasks.spawn(async move {
                while !*stop.borrow() {
                    match runtime.sync_step().await {
                        Ok(Some(_)) => continue,
                        Ok(None) => {}
                        Err(error) => warn!(worker, %error, "SyncStepFailed"),
                    }
                    tokio::select! {
                        _ = stop.changed() => {}
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                }
            });
        }
        {
            let runtime = self.clone();
            let mut stop = shutdown.clone();
            tasks.spawn(async move {
                while !*stop.borrow() {
                    match runtime.import_step().await {
                        Ok(true) => continue,
                        Ok(false) => {}
                        Err(error) => warn!(%error, "ImportStepFailed"),
                    }
                    tokio::select! {
                        _ = stop.changed() => {}
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
            });
        }
        {
            let runtime = self.clone();
            let mut stop = shutdown.clone();
            let every = self.options.sweep_every;
            tasks.spawn(async move {
                let first = if runtime.options.sweep_at_start {
                    tokio::time::Instant::now()
                } else {
                    tokio::time::Instant::now() + every
                };
                let mut timer = tokio::time::interval_at(first, every);
                timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = stop.changed() => if *stop.borrow() { break },
                        _ = timer.tick() => {
                            if let Err(error) = runtime.sweep().await {
                                warn!(%error, "SweepFailed");
                            }
                        }
                    }
                }
            });
        }
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                break;
            }
        }
        info!("RuntimeStopping");
        while tasks.join_next().await.is_some() {}
        Ok(())
    }
}

fn tally(report: &mut IdleReport, outcome: &BatchOutcome) {
    report.sync_steps += 1;
    report.messages += outcome.items.len();
    for item in &outcome.items {
        match item.result {
            ItemResult::Done => {}
            ItemResult::RetryAfter(_) => report.retried += 1,
            ItemResult::Wait(_) => report.waited += 1,
            ItemResult::Failed { .. } => report.failed += 1,
        }
    }
    report.stats.add(&outcome.stats);
}
