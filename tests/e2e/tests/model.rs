//! The model test: seeded sequences of user edits, creations, segment
//! changes, opt-outs, deliveries (dropped, repeated, reordered), sweeps and
//! resyncs, checked against the oracle (see docs/model-test.md).
//!
//! `MODEL_SEQUENCES=N` runs N sequences (default 200) from seed
//! `MODEL_FIRST` (default 1), `MODEL_SEED=S` replays one,
//! `MODEL_ACTIONS=a,b,..` picks the action kinds, `MODEL_TRACE=1` (or a
//! tracing filter) replays a failure's shrunk sequence with the sync's logs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sync_e2e::model::actions::{Kind, generate};
use crm_sync_e2e::model::{DEFAULT_KINDS, report, run, shrink};

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| v.parse().unwrap_or_else(|_| panic!("{name} must be a number, got {v}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_sequences_settle_to_what_the_oracle_expects() {
    let kinds = match std::env::var("MODEL_ACTIONS") {
        Ok(list) => Kind::parse_list(&list).unwrap(),
        Err(_) => DEFAULT_KINDS.to_vec(),
    };
    let seeds: Vec<u64> = match env_number("MODEL_SEED") {
        Some(seed) => vec![seed],
        None => {
            let first = env_number("MODEL_FIRST").unwrap_or(1);
            (first..first + env_number("MODEL_SEQUENCES").unwrap_or(200)).collect()
        }
    };
    let started = std::time::Instant::now();
    let mut actions = 0;
    for &seed in &seeds {
        let sequence = generate(seed, &kinds);
        actions += sequence.actions.len();
        if let Err(failure) = run(&sequence).await {
            eprintln!("{}", report(seed, &sequence, &failure));
            let (shrunk, failure) = shrink(&sequence, failure).await;
            if let Ok(filter) = std::env::var("MODEL_TRACE") {
                // Replays the shrunk sequence with the sync's logs.
                let filter = if filter.is_empty() || filter == "1" { "crm_sync_app=debug".to_owned() } else { filter };
                let _ = tracing_subscriber::fmt()
                    .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                    .with_test_writer()
                    .try_init();
                eprintln!("replaying the shrunk sequence with logs (MODEL_TRACE)");
                let _ = run(&shrunk).await;
            }
            panic!("{}", report(seed, &shrunk, &failure));
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} sequences ({actions} actions) clean in {secs:.1} s: {:.1} sequences/s",
        seeds.len(),
        seeds.len() as f64 / secs
    );
}
