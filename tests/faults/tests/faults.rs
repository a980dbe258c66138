//! The fault suite: `FAULT_SEEDS` seeds (default 200) of each scenario;
//! `FAULT_SEED=N` replays one. A failure names its seed and what happened.
//! `FAULT_IDS=S` names the queues' messages after `S` rather than the seed:
//! their ids seed the retries' jitter, so the same faults meet other delays.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sync_faults::scenario::{self, Report};
use std::future::Future;

fn seeds() -> Vec<u64> {
    // FAULT_TRACE=1 prints the sync's logs (with FAULT_SEED, one seed's).
    if std::env::var("FAULT_TRACE").is_ok_and(|v| v == "1") {
        let _ = tracing_subscriber::fmt().with_env_filter("info").with_test_writer().try_init();
    }
    if let Some(seed) = std::env::var("FAULT_SEED").ok().and_then(|v| v.parse().ok()) {
        return vec![seed];
    }
    let n: u64 = std::env::var("FAULT_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    (1..=n).collect()
}

async fn run<F, Fut>(name: &str, scenario: F)
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = anyhow::Result<Report>>,
{
    let mut total = Report::default();
    let seeds = seeds();
    // FAULT_KEEP_GOING=1 runs every seed and lists each failure's cause.
    let keep_going = std::env::var("FAULT_KEEP_GOING").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    for &seed in &seeds {
        match scenario(seed).await {
            Ok(r) => {
                total.kills += r.kills;
                total.store_kills += r.store_kills;
                total.queue_kills += r.queue_kills;
                total.outages += r.outages;
                total.store_failures += r.store_failures;
                total.busiest_day = total.busiest_day.max(r.busiest_day);
                total.longest_work = total.longest_work.max(r.longest_work);
            }
            Err(e) if keep_going => failures.push(format!("FAULT_SEED={seed}: {}", e.root_cause())),
            Err(e) => panic!("{name}: FAULT_SEED={seed} fails: {e:?}"),
        }
    }
    assert!(failures.is_empty(), "{name}: {} of {} seeds fail:\n{}", failures.len(), seeds.len(), failures.join("\n"));
    println!(
        "{name}: {} seeds clean; {} worker deaths ({} at a store write, {} at a queue operation), {} outages, {} failed store writes; at \
         most {} Salesforce calls in a day (cap {}); at most {} worker steps in one phase of work (limit {})",
        seeds.len(),
        total.kills,
        total.store_kills,
        total.queue_kills,
        total.outages,
        total.store_failures,
        total.busiest_day,
        scenario::CAP,
        total.longest_work,
        crm_sync_faults::world::MAX_STEPS
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_changes_survive_crashes_storms_and_store_failures() {
    run("live changes", scenario::live_changes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_survive_crashes_storms_and_store_failures() {
    run("import", scenario::import).await;
}
