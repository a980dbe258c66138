//! `crm-sync bench`: figures for the README, measured against the CRM
//! sandbox through the real local runtime.
//!
//! The sandbox runs in this process by default. With `--sandbox-process` it
//! runs in a child process of its own (this binary as the hidden
//! `sandbox-server`, see [`super::sandbox_process`]), so that the CPU time
//! and peak memory reported are crm-sync's alone; the child's are reported
//! apart. Either way the bench talks to the sandbox over HTTP only: its
//! control API for call counts, edits as a user and reading HubSpot records.
//!
//! 1. An import of N Salesforce contacts into an empty HubSpot: records per
//!    second, API calls per record on each side (from the sandbox's
//!    counters), CPU time per record and peak memory (`VmHWM`; with the
//!    sandbox in process, its own copy of the records is included). Once a
//!    second during the import it samples the records handled so far (the
//!    import job's progress, which moves at each checkpoint of 5,000
//!    records) and the calls made so far on each side; the samples go into
//!    the JSON and into a chart beside it (`<output stem>.svg`, see
//!    [`chart`]): records per second and HubSpot calls per second over
//!    time, with HubSpot's limit drawn under `--real-limits`.
//! 2. Latency of single changes: a contact edited in Salesforce as a user,
//!    delivered as an outbound message to the webhook endpoint, synced by a
//!    worker and written to HubSpot; timed from the edit until the new value
//!    reads back from HubSpot (p50, p95, p99, max).
//! 3. A burst (`--burst N`, 0 skips it): N linked contacts edited in
//!    Salesforce as users, as fast as the control API takes the edits (a
//!    few in flight at once), each with a new phone number of its own; then
//!    the new values are read back from HubSpot in batches (one uncounted
//!    control call for every contact still waiting, every
//!    [`BURST_POLL`]) until each has arrived. Reported: the time from the
//!    first edit to the last value seen, the API calls the burst made on
//!    each side (counted from the first edit until the last value was seen)
//!    and per change, and per-change edit-to-write percentiles. A change's
//!    time runs from the moment its edit was answered to the first poll that
//!    saw its value, so it is overstated by up to one poll interval plus the
//!    time of a poll.
//!
//! With `--real-limits` the sandbox answers at HubSpot's own limits (190
//! requests per 10 s, 5 searches per s), and the import's and the burst's
//! times are set against their floors: the HubSpot calls each made at 19
//! per second.
//!
//! Nothing is asserted about time; the figures are printed and written as
//! JSON.

mod chart;

use crate::args::BenchArgs;
use crate::commands::demo::{self, Stage, StageOptions};
use crate::commands::import;
use anyhow::Context;
use chart::Sample;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use crm_sync_app::local::WebhookServer;
use crm_sync_app::{ImportObjects, ImportRequest};
use serde::Serialize;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long one single change may take before it counts as lost.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(30);
/// The burst gives up when no new value arrived for this long.
const BURST_STALL: Duration = Duration::from_secs(60);
/// How often the burst's waiting values are read back from HubSpot.
const BURST_POLL: Duration = Duration::from_millis(20);
/// Edits of the burst in flight at once.
const BURST_EDITORS: usize = 8;
/// Contacts read back per control call while the burst is waited for.
const BURST_READ_BATCH: usize = 2_000;

#[derive(Debug, Serialize)]
pub struct ImportFigures {
    pub records: u64,
    pub seconds: f64,
    pub records_per_second: f64,
    pub salesforce_calls: u64,
    pub hubspot_calls: u64,
    pub salesforce_calls_per_record: f64,
    pub hubspot_calls_per_record: f64,
    pub hubspot_contacts_after: usize,
    /// HubSpot notifications of the import's own writes dropped as echoes.
    pub echoes_recognised: u64,
    /// CPU time of this process during the import (user + system; the
    /// sandbox included unless it runs in its own process).
    pub cpu_seconds: Option<f64>,
    pub cpu_us_per_record: Option<f64>,
    /// With `--sandbox-process`: the sandbox process's CPU time during the
    /// import.
    pub sandbox_cpu_seconds: Option<f64>,
    pub sandbox_cpu_us_per_record: Option<f64>,
    /// CPU seconds per second of this process while records were being
    /// written (from the first checkpoint to the end): how many of the
    /// machine's cores it kept busy, leaving out the read before the first
    /// page.
    pub cores_while_writing: Option<f64>,
    /// With `--sandbox-process`: the same of the sandbox process.
    pub sandbox_cores_while_writing: Option<f64>,
    /// With `--real-limits`: the HubSpot calls made, at HubSpot's rate.
    pub hubspot_floor_seconds: Option<f64>,
    /// With `--real-limits`: the import's time over its floor.
    pub floor_ratio: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct LatencyFigures {
    pub changes: usize,
    pub arrived: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// The burst of changes made as users (`--burst`).
#[derive(Debug, Serialize)]
pub struct BurstFigures {
    pub changes: usize,
    pub arrived: usize,
    /// From the first edit until the last value was seen in HubSpot.
    pub seconds: f64,
    /// How long making the edits took.
    pub edit_seconds: f64,
    /// Calls from the first edit until the last value was seen.
    pub salesforce_calls: u64,
    pub hubspot_calls: u64,
    pub salesforce_calls_per_change: f64,
    pub hubspot_calls_per_change: f64,
    /// With `--real-limits`: the burst's HubSpot calls at HubSpot's rate.
    pub hubspot_floor_seconds: Option<f64>,
    /// With `--real-limits`: the burst's time over its floor.
    pub floor_ratio: Option<f64>,
    /// Per change, from its edit to the first poll that saw its value.
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct Figures {
    pub measured_at: String,
    pub build: &'static str,
    /// HubSpot's real limits (`--real-limits`) or an unthrottled sandbox.
    pub real_limits: bool,
    /// Whether the sandbox ran in a process of its own.
    pub sandbox_process: bool,
    pub import: ImportFigures,
    /// This process's peak resident set after the import (the sandbox's
    /// included unless it runs in its own process).
    pub peak_memory_mib: Option<f64>,
    /// With `--sandbox-process`: the sandbox process's peak resident set
    /// after the import.
    pub sandbox_peak_memory_mib: Option<f64>,
    pub latency: LatencyFigures,
    pub burst: Option<BurstFigures>,
    /// Once a second during the import.
    pub samples: Vec<Sample>,
    /// The chart of the samples.
    pub chart: String,
}

/// A process's peak resident set (`VmHWM`), in KiB: this one's (`None`)
/// or another's; `None` off Linux.
pub fn peak_memory_kib(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(proc_file(pid, "status")).ok()?;
    parse_vm_hwm(&status)
}

fn proc_file(pid: Option<u32>, name: &str) -> PathBuf {
    match pid {
        Some(pid) => PathBuf::from(format!("/proc/{pid}/{name}")),
        None => PathBuf::from(format!("/proc/self/{name}")),
    }
}

fn parse_vm_hwm(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// HubSpot requests per second at the real limit (190 per 10 s).
const HUBSPOT_CALLS_PER_SECOND: f64 = 19.0;

/// CPU time (user + system) a process has used, this one's (`None`) or
/// another's, from `/proc/<pid>/stat` (in clock ticks of 1/100 s, Linux's
/// `USER_HZ`); `None` off Linux.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    parse_cpu_ticks(&std::fs::read_to_string(proc_file(pid, "stat")).ok()?).map(|ticks| ticks as f64 / 100.0)
}

/// The chart's path: the JSON's, with `.svg`.
pub fn chart_path(output: &Path) -> PathBuf {
    output.with_extension("svg")
}

/// `calls` over `per`, 0 for none.
fn ratio(calls: u64, per: u64) -> f64 {
    if per == 0 { 0.0 } else { calls as f64 / per as f64 }
}

/// With real limits: the floor (HubSpot calls at 19 per second) and the
/// time over it.
fn floor(real_limits: bool, hubspot_calls: u64, seconds: f64) -> (Option<f64>, Option<f64>) {
    let floor = real_limits.then(|| hubspot_calls as f64 / HUBSPOT_CALLS_PER_SECOND);
    (floor, floor.filter(|f| *f > 0.0).map(|f| seconds / f))
}

/// utime + stime: fields 14 and 15, counted after the command name (which
/// is in parentheses and may hold spaces).
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name, field 3 (state) is index 0: utime (14) is index 11.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<Figures> {
    let build = if cfg!(debug_assertions) { "debug" } else { "release" };
    if build == "debug" {
        eprintln!("note: a debug build; run `cargo run --release -p crm-sync -- bench` for real figures");
    }
    let place = if args.sandbox_process { "a sandbox process of its own" } else { "the sandbox" };
    println!("seeding {} Salesforce contacts in {place}", args.records);
    // Dropping the stage (on any error below) kills a sandbox process.
    let stage = demo::stage(&StageOptions {
        seed: 11,
        leads: 0,
        contacts: args.records,
        accounts: 0,
        hubspot_rate_per_10s: if args.real_limits { None } else { Some(1_000_000) },
        idle_timeout: Duration::from_secs(3600),
        // The latency phase measures the steady state: the first scheduled
        // sweep is due 15 minutes after the runtime starts, not during it.
        sweep_at_start: false,
        // Measured on an org that is set up already.
        crm_sync_fields: true,
        sandbox_process: args.sandbox_process,
    })
    .await?;
    let server = WebhookServer::start_on(stage.app.clone(), demo::stage_listener(&stage)?)
        .context("starting the webhook server")?;
    let sandbox_pid = stage.sandbox.pid();

    println!("importing");
    let (import, samples) = import(args, &stage).await?;
    let peak_memory_mib = peak_memory_kib(None).map(|kib| kib as f64 / 1024.0);
    let sandbox_peak_memory_mib = sandbox_pid.and_then(|pid| peak_memory_kib(Some(pid))).map(|kib| kib as f64 / 1024.0);

    let (stop, stopped) = watch::channel(false);
    let runtime = stage.runtime.clone();
    let worker = tokio::spawn(async move { runtime.run(stopped).await });
    println!("timing {} single changes, Salesforce edit -> outbound message -> HubSpot write", args.changes);
    let latency = single_changes(args, &stage).await;
    let burst = match latency {
        Ok(_) if args.burst > 0 => {
            println!("a burst of {} changes made as users in Salesforce", args.burst);
            burst(args, &stage).await.map(Some)
        }
        _ => Ok(None),
    };
    let _ = stop.send(true);
    worker.await.context("the runtime task panicked")?.context("the local runtime failed")?;
    server.shutdown().await.context("stopping the webhook server")?;
    stage.sandbox.shutdown().await;
    let (latency, burst) = (latency?, burst?);

    let title = format!(
        "crm-sync bench: {} contacts, {} build, HubSpot {}, sandbox {}",
        args.records,
        build,
        if args.real_limits { "at its real limits" } else { "unthrottled" },
        if args.sandbox_process { "in its own process" } else { "in process" }
    );
    let svg = chart::svg(&samples, args.real_limits.then_some(HUBSPOT_CALLS_PER_SECOND), &title);
    let chart_file = chart_path(&args.output);
    let figures = Figures {
        measured_at: chrono::Utc::now().to_rfc3339(),
        build,
        real_limits: args.real_limits,
        sandbox_process: args.sandbox_process,
        import,
        peak_memory_mib,
        sandbox_peak_memory_mib,
        latency,
        burst,
        samples,
        chart: chart_file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
    };
    if let Some(parent) = args.output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&args.output, serde_json::to_string_pretty(&figures)? + "\n")
        .with_context(|| format!("writing {}", args.output.display()))?;
    std::fs::write(&chart_file, svg).with_context(|| format!("writing {}", chart_file.display()))?;
    println!("{}", table(&figures));
    println!("written to {} and {}", args.output.display(), chart_file.display());
    Ok(figures)
}

/// The import, sampled once a second.
async fn import(args: &BenchArgs, stage: &Stage) -> anyhow::Result<(ImportFigures, Vec<Sample>)> {
    let request =
        ImportRequest { objects: ImportObjects::Contacts, filter: None, chunk_size: None, add_to_segment: false };
    let sandbox_pid = stage.sandbox.pid();
    let calls_before = demo::calls(stage).await?;
    let echoes_before = stage.app.echoes_recognised();
    let before = Before {
        at: Instant::now(),
        calls: calls_before,
        cpu: cpu_seconds(None),
        sandbox_pid,
        sandbox_cpu: sandbox_pid.and_then(|pid| cpu_seconds(Some(pid))),
    };
    let job = crm_sync_app::import_start(&stage.app, &request).await.context("starting the import")?;
    let (done, mut finished) = watch::channel(false);
    let importing = async {
        let result = import::follow(&stage.runtime, &job).await;
        let _ = done.send(true);
        result
    };
    let sampling = async {
        let mut samples = vec![Sample {
            seconds: 0.0,
            records: 0,
            hubspot_calls: 0,
            salesforce_calls: 0,
            cpu_seconds: before.cpu.map(|_| 0.0),
            sandbox_cpu_seconds: before.sandbox_cpu.map(|_| 0.0),
        }];
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = finished.changed() => break,
            }
            match sample(stage, &job, &before).await {
                Ok(s) => samples.push(s),
                Err(error) => tracing::warn!(error = format!("{error:#}"), "BenchSampleFailed"),
            }
        }
        samples
    };
    let (imported, mut samples) = tokio::join!(importing, sampling);
    imported?;
    let last = sample(stage, &job, &before).await?;
    let (seconds, cpu, sandbox_cpu) = (last.seconds, last.cpu_seconds, last.sandbox_cpu_seconds);
    samples.push(last);
    let (sf_after, hs_after) = demo::calls(stage).await?;
    let (sf, hs) = (sf_after - before.calls.0, hs_after - before.calls.1);
    let per_record_us = |cpu: Option<f64>| cpu.filter(|_| args.records > 0).map(|c| c * 1e6 / args.records as f64);
    let (hubspot_floor_seconds, floor_ratio) = floor(args.real_limits, hs, seconds);
    let figures = ImportFigures {
        records: args.records,
        seconds,
        records_per_second: if seconds > 0.0 { args.records as f64 / seconds } else { 0.0 },
        salesforce_calls: sf,
        hubspot_calls: hs,
        salesforce_calls_per_record: ratio(sf, args.records),
        hubspot_calls_per_record: ratio(hs, args.records),
        hubspot_contacts_after: usize::try_from(demo::hubspot_live_contacts(stage).await?).unwrap_or(usize::MAX),
        echoes_recognised: stage.app.echoes_recognised() - echoes_before,
        cpu_seconds: cpu,
        cpu_us_per_record: per_record_us(cpu),
        sandbox_cpu_seconds: sandbox_cpu,
        sandbox_cpu_us_per_record: per_record_us(sandbox_cpu),
        cores_while_writing: chart::cores_while_writing(&samples, |s| s.cpu_seconds),
        sandbox_cores_while_writing: chart::cores_while_writing(&samples, |s| s.sandbox_cpu_seconds),
        hubspot_floor_seconds,
        floor_ratio,
    };
    Ok((figures, samples))
}

/// What the import's samples count from.
struct Before {
    at: Instant,
    /// Salesforce and HubSpot calls.
    calls: (u64, u64),
    cpu: Option<f64>,
    sandbox_pid: Option<u32>,
    sandbox_cpu: Option<f64>,
}

/// Records handled so far (the job's progress), and calls made and CPU
/// time used since `before`.
async fn sample(stage: &Stage, job: &crm_sync_app::ImportJob, before: &Before) -> anyhow::Result<Sample> {
    let seconds = before.at.elapsed().as_secs_f64();
    let cpu = cpu_seconds(None).zip(before.cpu).map(|(now, then)| now - then);
    let sandbox_cpu =
        before.sandbox_pid.and_then(|pid| cpu_seconds(Some(pid))).zip(before.sandbox_cpu).map(|(now, then)| now - then);
    let stored = stage.app.store().get_import_job(&job.id).await?.context("the import job is gone")?;
    let (progress, _) = crm_sync_app::import_progress(stage.app.store(), stored).await?;
    let (sf, hs) = demo::calls(stage).await?;
    Ok(Sample {
        seconds,
        records: progress.counts.read,
        hubspot_calls: hs.saturating_sub(before.calls.1),
        salesforce_calls: sf.saturating_sub(before.calls.0),
        cpu_seconds: cpu,
        sandbox_cpu_seconds: sandbox_cpu,
    })
}

/// Single changes, one after another, each timed until it reads back.
async fn single_changes(args: &BenchArgs, stage: &Stage) -> anyhow::Result<LatencyFigures> {
    let targets = demo::linked_contacts(stage.app.store(), "Contact", args.changes as usize).await?;
    let mut samples = Vec::with_capacity(targets.len());
    for (i, (salesforce_id, hubspot_id)) in targets.iter().enumerate() {
        let phone = format!("+1 555 {:07}", i + 1);
        let edited = Instant::now();
        demo::edit_salesforce_as_user(stage, "Contact", salesforce_id, &json!({ "Phone": phone })).await?;
        loop {
            let arrived = demo::hubspot_record(stage, hubspot_id)
                .await?
                .and_then(|p| p.get("phone").and_then(Value::as_str).map(|v| v == phone))
                .unwrap_or(false);
            if arrived {
                samples.push(edited.elapsed().as_secs_f64() * 1000.0);
                break;
            }
            if edited.elapsed() > CHANGE_TIMEOUT {
                tracing::warn!(change = i, "ChangeNotArrived");
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    samples.sort_by(f64::total_cmp);
    Ok(LatencyFigures {
        changes: targets.len(),
        arrived: samples.len(),
        p50_ms: percentile(&samples, 50.0),
        p95_ms: percentile(&samples, 95.0),
        p99_ms: percentile(&samples, 99.0),
        max_ms: samples.last().copied().unwrap_or(0.0),
    })
}

/// The burst's phone number of change `i`: distinct from the single
/// changes' (`+1 555 ...`) and from each other.
pub fn burst_phone(i: usize) -> String {
    format!("+1 556 {:07}", i + 1)
}

/// One change of the burst: when its edit was answered, when its value was
/// first seen in HubSpot.
#[derive(Debug, Clone, Copy, Default)]
struct Timing {
    edited: Option<Instant>,
    seen: Option<Instant>,
}

/// The burst: every edit made with a few in flight, the values read back
/// in batches while the edits are still being made.
async fn burst(args: &BenchArgs, stage: &Stage) -> anyhow::Result<BurstFigures> {
    let targets = demo::linked_contacts(stage.app.store(), "Contact", args.burst as usize).await?;
    if targets.len() < args.burst as usize {
        eprintln!("note: only {} linked contacts to edit in the burst (fewer than {})", targets.len(), args.burst);
    }
    let timings = Arc::new(Mutex::new(vec![Timing::default(); targets.len()]));
    let before = demo::calls(stage).await?;
    let first_edit = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let editing = async {
        let editor = || async {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((salesforce_id, _)) = targets.get(i) else { return anyhow::Ok(()) };
                demo::edit_salesforce_as_user(stage, "Contact", salesforce_id, &json!({ "Phone": burst_phone(i) }))
                    .await?;
                timings.lock().unwrap_or_else(|p| p.into_inner())[i].edited = Some(Instant::now());
            }
        };
        let editors: Vec<_> = (0..BURST_EDITORS).map(|_| editor()).collect();
        let results = futures::future::join_all(editors).await;
        let edit_seconds = first_edit.elapsed().as_secs_f64();
        results.into_iter().collect::<anyhow::Result<Vec<()>>>().map(|_| edit_seconds)
    };
    let waiting = async {
        let mut last_progress = Instant::now();
        loop {
            let waiting: Vec<usize> = {
                let t = timings.lock().unwrap_or_else(|p| p.into_inner());
                (0..t.len()).filter(|&i| t[i].edited.is_some() && t[i].seen.is_none()).collect()
            };
            let all_seen = {
                let t = timings.lock().unwrap_or_else(|p| p.into_inner());
                t.iter().all(|t| t.seen.is_some())
            };
            if all_seen {
                return anyhow::Ok(());
            }
            for batch in waiting.chunks(BURST_READ_BATCH) {
                let ids: Vec<&str> = batch.iter().map(|&i| targets[i].1.as_str()).collect();
                let values = demo::hubspot_property(stage, &ids, "phone").await?;
                let now = Instant::now();
                let mut t = timings.lock().unwrap_or_else(|p| p.into_inner());
                for &i in batch {
                    let expected = burst_phone(i);
                    if values.get(&targets[i].1).and_then(Option::as_deref) == Some(expected.as_str()) {
                        t[i].seen = Some(now);
                        last_progress = now;
                    }
                }
            }
            if last_progress.elapsed() > BURST_STALL {
                tracing::warn!("BurstStalled");
                return anyhow::Ok(());
            }
            tokio::time::sleep(BURST_POLL).await;
        }
    };
    let (edit_seconds, ()) = tokio::try_join!(editing, waiting)?;
    let after = demo::calls(stage).await?;
    let timings = timings.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let last_seen = timings.iter().filter_map(|t| t.seen).max();
    let seconds = last_seen.map_or_else(|| first_edit.elapsed(), |at| at - first_edit).as_secs_f64();
    let mut latencies: Vec<f64> =
        timings.iter().filter_map(|t| Some((t.seen? - t.edited?).as_secs_f64() * 1000.0)).collect();
    latencies.sort_by(f64::total_cmp);
    let (sf, hs) = (after.0 - before.0, after.1 - before.1);
    let changes = targets.len() as u64;
    let (hubspot_floor_seconds, floor_ratio) = floor(args.real_limits, hs, seconds);
    Ok(BurstFigures {
        changes: targets.len(),
        arrived: latencies.len(),
        seconds,
        edit_seconds,
        salesforce_calls: sf,
        hubspot_calls: hs,
        salesforce_calls_per_change: ratio(sf, changes),
        hubspot_calls_per_change: ratio(hs, changes),
        hubspot_floor_seconds,
        floor_ratio,
        p50_ms: percentile(&latencies, 50.0),
        p95_ms: percentile(&latencies, 95.0),
        p99_ms: percentile(&latencies, 99.0),
        max_ms: latencies.last().copied().unwrap_or(0.0),
    })
}

pub fn table(f: &Figures) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(["figure", "value"]);
    let rows = [
        ("build", f.build.to_owned()),
        (
            "HubSpot limits",
            if f.real_limits { "real (190 per 10 s, search 5 per s)" } else { "unthrottled" }.to_owned(),
        ),
        ("contacts imported", f.import.records.to_string()),
        ("import time", format!("{:.1} s", f.import.seconds)),
        ("records per second", format!("{:.0}", f.import.records_per_second)),
        (
            "Salesforce calls (per record)",
            format!("{} ({:.5})", f.import.salesforce_calls, f.import.salesforce_calls_per_record),
        ),
        (
            "HubSpot calls (per record)",
            format!("{} ({:.5})", f.import.hubspot_calls, f.import.hubspot_calls_per_record),
        ),
        ("HubSpot contacts after", f.import.hubspot_contacts_after.to_string()),
        ("echoes recognised", f.import.echoes_recognised.to_string()),
        (
            if f.sandbox_process { "CPU per record (crm-sync)" } else { "CPU per record (incl. sandbox)" },
            f.import.cpu_us_per_record.map_or("-".into(), |us| format!("{us:.0} µs")),
        ),
        (
            "CPU per record (sandbox process)",
            f.import.sandbox_cpu_us_per_record.map_or("-".into(), |us| format!("{us:.0} µs")),
        ),
        (
            if f.sandbox_process {
                "cores busy while writing (crm-sync)"
            } else {
                "cores busy while writing (incl. sandbox)"
            },
            f.import.cores_while_writing.map_or("-".into(), |c| format!("{c:.2}")),
        ),
        (
            "cores busy while writing (sandbox process)",
            f.import.sandbox_cores_while_writing.map_or("-".into(), |c| format!("{c:.2}")),
        ),
        (
            "HubSpot floor (ratio)",
            f.import
                .hubspot_floor_seconds
                .zip(f.import.floor_ratio)
                .map_or("-".into(), |(floor, ratio)| format!("{floor:.1} s ({ratio:.2}x)")),
        ),
        (
            if f.sandbox_process { "peak memory (VmHWM, crm-sync)" } else { "peak memory (VmHWM, incl. sandbox)" },
            f.peak_memory_mib.map_or("-".into(), |m| format!("{m:.0} MiB")),
        ),
        (
            "peak memory (VmHWM, sandbox process)",
            f.sandbox_peak_memory_mib.map_or("-".into(), |m| format!("{m:.0} MiB")),
        ),
        ("single changes arrived", format!("{} of {}", f.latency.arrived, f.latency.changes)),
        ("edit-to-write p50", format!("{:.1} ms", f.latency.p50_ms)),
        ("edit-to-write p95", format!("{:.1} ms", f.latency.p95_ms)),
        ("edit-to-write p99", format!("{:.1} ms", f.latency.p99_ms)),
        ("edit-to-write max", format!("{:.1} ms", f.latency.max_ms)),
    ];
    for (name, value) in rows {
        table.add_row([name.to_owned(), value]);
    }
    if let Some(b) = &f.burst {
        let rows = [
            ("burst changes arrived", format!("{} of {}", b.arrived, b.changes)),
            ("burst: edits made in", format!("{:.1} s", b.edit_seconds)),
            ("burst: first edit to last write", format!("{:.1} s", b.seconds)),
            (
                "burst: Salesforce calls (per change)",
                format!("{} ({:.4})", b.salesforce_calls, b.salesforce_calls_per_change),
            ),
            ("burst: HubSpot calls (per change)", format!("{} ({:.4})", b.hubspot_calls, b.hubspot_calls_per_change)),
            (
                "burst: HubSpot floor (ratio)",
                b.hubspot_floor_seconds
                    .zip(b.floor_ratio)
                    .map_or("-".into(), |(floor, ratio)| format!("{floor:.1} s ({ratio:.2}x)")),
            ),
            ("burst: edit-to-write p50", format!("{:.0} ms", b.p50_ms)),
            ("burst: edit-to-write p95", format!("{:.0} ms", b.p95_ms)),
            ("burst: edit-to-write p99", format!("{:.0} ms", b.p99_ms)),
            ("burst: edit-to-write max", format!("{:.0} ms", b.max_ms)),
        ];
        for (name, value) in rows {
            table.add_row([name.to_owned(), value]);
        }
    }
    table.add_row(["import samples (chart)".to_owned(), format!("{} ({})", f.samples.len(), f.chart)]);
    table
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_resident_set_is_read_from_the_vm_hwm_line() {
        let status = "Name:\tcrm-sync\nVmPeak:\t  900000 kB\nVmHWM:\t  123456 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(123_456));
        assert_eq!(parse_vm_hwm("Name:\tx\n"), None);
    }

    #[test]
    fn cpu_time_is_user_plus_system_ticks_after_the_command_name() {
        let stat = "4242 (crm sync) S 1 4242 4242 0 -1 4194560 500 0 0 0 1234 56 0 0 20 0 3 0 100 0 0";
        assert_eq!(parse_cpu_ticks(stat), Some(1234 + 56));
        assert_eq!(parse_cpu_ticks("4242 (x) S 1"), None);
    }

    #[test]
    fn the_chart_sits_beside_the_json_with_the_same_stem() {
        assert_eq!(chart_path(Path::new("bench-results/bench.json")), PathBuf::from("bench-results/bench.svg"));
        assert_eq!(chart_path(Path::new("/tmp/run-2")), PathBuf::from("/tmp/run-2.svg"));
    }

    #[test]
    fn floors_are_set_only_with_real_limits() {
        assert_eq!(floor(false, 190, 20.0), (None, None));
        assert_eq!(floor(true, 190, 20.0), (Some(10.0), Some(2.0)));
        assert_eq!(floor(true, 0, 20.0), (Some(0.0), None));
        assert_eq!(ratio(5, 0), 0.0);
    }

    #[test]
    fn every_change_of_a_burst_has_a_value_of_its_own() {
        let phones: std::collections::HashSet<String> = (0..10_000).map(burst_phone).collect();
        assert_eq!(phones.len(), 10_000);
        assert!(!phones.contains("+1 555 0000001"), "not a single change's value");
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&samples, 50.0), 50.0);
        assert_eq!(percentile(&samples, 95.0), 95.0);
        assert_eq!(percentile(&[7.0], 95.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
