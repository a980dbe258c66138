//! `crm-sync bench`: figures for the README, measured against the in-process
//! CRM sandbox through the real local runtime.
//!
//! 1. An import of N Salesforce contacts into an empty HubSpot: records per
//!    second, API calls per record on each side (from the sandbox's
//!    counters), and the process's peak memory (`VmHWM`; the sandbox's own
//!    copy of the records lives in the same process and is included).
//! 2. Latency of single changes: a contact edited in Salesforce as a user,
//!    delivered as an outbound message to the webhook endpoint, synced by a
//!    worker and written to HubSpot; timed from the edit until the new value
//!    reads back from HubSpot (p50, p95, max).
//!
//! With `--real-limits` the sandbox answers at HubSpot's own limits (190
//! requests per 10 s, 5 searches per s), and the import's time is set
//! against its floor: the HubSpot calls it made at 19 per second.
//!
//! Nothing is asserted about time; the figures are printed and written as
//! JSON.

use crate::args::BenchArgs;
use crate::commands::demo::{self, StageOptions};
use crate::commands::import;
use anyhow::Context;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use crm_sync_app::local::WebhookServer;
use crm_sync_app::{ImportObjects, ImportRequest};
use serde::Serialize;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long one single change may take before it counts as lost.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(30);

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
    /// CPU time of the whole process during the import (user + system;
    /// the in-process sandbox included).
    pub cpu_seconds: Option<f64>,
    pub cpu_us_per_record: Option<f64>,
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

#[derive(Debug, Serialize)]
pub struct Figures {
    pub measured_at: String,
    pub build: &'static str,
    /// HubSpot's real limits (`--real-limits`) or an unthrottled sandbox.
    pub real_limits: bool,
    pub import: ImportFigures,
    pub peak_memory_mib: Option<f64>,
    pub latency: LatencyFigures,
}

/// The process's peak resident set (`VmHWM`), in KiB; `None` off Linux.
pub fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_hwm(&status)
}

fn parse_vm_hwm(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// HubSpot requests per second at the real limit (190 per 10 s).
const HUBSPOT_CALLS_PER_SECOND: f64 = 19.0;

/// CPU time (user + system) this process has used, from `/proc/self/stat`
/// (in clock ticks of 1/100 s, Linux's `USER_HZ`); `None` off Linux.
pub fn cpu_seconds() -> Option<f64> {
    parse_cpu_ticks(&std::fs::read_to_string("/proc/self/stat").ok()?).map(|ticks| ticks as f64 / 100.0)
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
    println!("seeding {} Salesforce contacts in the sandbox", args.records);
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
    })
    .await?;
    let server = WebhookServer::start_on(stage.app.clone(), demo::stage_listener(&stage)?)
        .context("starting the webhook server")?;

    println!("importing");
    let request =
        ImportRequest { objects: ImportObjects::Contacts, filter: None, chunk_size: None, add_to_segment: false };
    let (sf_before, hs_before) = demo::calls(&stage);
    let (echoes_before, cpu_before) = (stage.app.echoes_recognised(), cpu_seconds());
    let started = Instant::now();
    let job = crm_sync_app::import_start(&stage.app, &request).await.context("starting the import")?;
    import::follow(&stage.runtime, &job).await?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(cpu_before).map(|(after, before)| after - before);
    let (sf_after, hs_after) = demo::calls(&stage);
    let (sf, hs) = (sf_after - sf_before, hs_after - hs_before);
    let per = |calls: u64| if args.records == 0 { 0.0 } else { calls as f64 / args.records as f64 };
    let import = ImportFigures {
        records: args.records,
        seconds,
        records_per_second: if seconds > 0.0 { args.records as f64 / seconds } else { 0.0 },
        salesforce_calls: sf,
        hubspot_calls: hs,
        salesforce_calls_per_record: per(sf),
        hubspot_calls_per_record: per(hs),
        hubspot_contacts_after: stage.sandbox.hubspot().live_count(crm_sandbox::hubspot::ObjectType::Contacts),
        echoes_recognised: stage.app.echoes_recognised() - echoes_before,
        cpu_seconds: cpu,
        cpu_us_per_record: cpu.filter(|_| args.records > 0).map(|c| c * 1e6 / args.records as f64),
        hubspot_floor_seconds: args.real_limits.then(|| hs as f64 / HUBSPOT_CALLS_PER_SECOND),
        floor_ratio: args
            .real_limits
            .then(|| hs as f64 / HUBSPOT_CALLS_PER_SECOND)
            .filter(|floor| *floor > 0.0)
            .map(|floor| seconds / floor),
    };
    let peak_memory_mib = peak_memory_kib().map(|kib| kib as f64 / 1024.0);

    println!("timing {} single changes, Salesforce edit -> outbound message -> HubSpot write", args.changes);
    let (stop, stopped) = watch::channel(false);
    let runtime = stage.runtime.clone();
    let worker = tokio::spawn(async move { runtime.run(stopped).await });
    let targets = demo::linked_contacts(stage.app.store(), "Contact", args.changes as usize).await?;
    let mut samples = Vec::with_capacity(targets.len());
    for (i, (salesforce_id, hubspot_id)) in targets.iter().enumerate() {
        let phone = format!("+1 555 {:07}", i + 1);
        let edited = Instant::now();
        stage
            .sandbox
            .salesforce()
            .update_as_user("Contact", salesforce_id, json!({ "Phone": phone }))
            .map_err(|e| anyhow::anyhow!("editing a contact in Salesforce: {e:?}"))?;
        loop {
            let arrived = demo::hubspot_record(&stage, hubspot_id)
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
    let _ = stop.send(true);
    worker.await.context("the runtime task panicked")?.context("the local runtime failed")?;
    server.shutdown().await.context("stopping the webhook server")?;
    stage.sandbox.shutdown().await;

    samples.sort_by(f64::total_cmp);
    let latency = LatencyFigures {
        changes: targets.len(),
        arrived: samples.len(),
        p50_ms: percentile(&samples, 50.0),
        p95_ms: percentile(&samples, 95.0),
        p99_ms: percentile(&samples, 99.0),
        max_ms: samples.last().copied().unwrap_or(0.0),
    };
    let figures = Figures {
        measured_at: chrono::Utc::now().to_rfc3339(),
        build,
        real_limits: args.real_limits,
        import,
        peak_memory_mib: peak_memory_mib.or_else(|| peak_memory_kib().map(|kib| kib as f64 / 1024.0)),
        latency,
    };
    if let Some(parent) = args.output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&args.output, serde_json::to_string_pretty(&figures)? + "\n")
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!("{}", table(&figures));
    println!("written to {}", args.output.display());
    Ok(figures)
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
        ("CPU per record (incl. sandbox)", f.import.cpu_us_per_record.map_or("-".into(), |us| format!("{us:.0} µs"))),
        (
            "HubSpot floor (ratio)",
            f.import
                .hubspot_floor_seconds
                .zip(f.import.floor_ratio)
                .map_or("-".into(), |(floor, ratio)| format!("{floor:.1} s ({ratio:.2}x)")),
        ),
        ("peak memory (VmHWM, incl. sandbox)", f.peak_memory_mib.map_or("-".into(), |m| format!("{m:.0} MiB"))),
        ("single changes arrived", format!("{} of {}", f.latency.arrived, f.latency.changes)),
        ("edit-to-write p50", format!("{:.1} ms", f.latency.p50_ms)),
        ("edit-to-write p95", format!("{:.1} ms", f.latency.p95_ms)),
        ("edit-to-write p99", format!("{:.1} ms", f.latency.p99_ms)),
        ("edit-to-write max", format!("{:.1} ms", f.latency.max_ms)),
    ];
    for (name, value) in rows {
        table.add_row([name.to_owned(), value]);
    }
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
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&samples, 50.0), 50.0);
        assert_eq!(percentile(&samples, 95.0), 95.0);
        assert_eq!(percentile(&[7.0], 95.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
