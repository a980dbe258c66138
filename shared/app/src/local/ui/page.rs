//! The HTML of the sync-health page (maud: escaped by default, checked at
//! compile time). Plain forms and links; no script.

use super::chart::usage_chart;
use super::{Filters, Notice, PageData, UiOptions};
use crate::usecases::health::{category_names, record_of};
use crm_sync_domain::ObjectPair;
use crm_sync_store::{ImportJob, JobStatus, SyncHealthError};
use maud::{DOCTYPE, Markup, PreEscaped, html};

const STYLE: &str = r#"
:root { --fg:#1d2330; --muted:#5b6577; --line:#d9dee7; --bg:#f6f7f9; --accent:#0b6bcb; --bad:#b42318; --ok:#067647; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:var(--bg); }
header { background:#101828; color:#fff; padding:12px 24px; display:flex; gap:16px; align-items:baseline; }
header h1 { font-size:18px; margin:0; }
header .when { color:#c7cdd8; font-size:12px; }
main { padding:16px 24px 48px; max-width:1280px; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:12px 16px; margin:16px 0; }
h2 { font-size:15px; margin:0 0 8px; }
table { border-collapse:collapse; width:100%; }
th, td { text-align:left; padding:5px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { font-weight:600; color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.02em; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
td.message { max-width:420px; overflow-wrap:anywhere; }
code, .id { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size:12px; }
a { color:var(--accent); }
form.inline { display:inline; margin:0; }
button { font:inherit; padding:3px 10px; border:1px solid var(--accent); color:var(--accent); background:#fff; border-radius:5px; cursor:pointer; }
button.primary { background:var(--accent); color:#fff; }
.filters { display:flex; gap:8px; align-items:end; flex-wrap:wrap; margin-bottom:10px; }
.filters label { display:flex; flex-direction:column; font-size:12px; color:var(--muted); }
.filters select, .filters input { font:inherit; padding:3px 6px; }
.notice { background:#ecfdf3; border:1px solid #abefc6; color:var(--ok); padding:8px 12px; border-radius:6px; }
.empty { color:var(--muted); }
.muted { color:var(--muted); font-size:12px; }
.bad { color:var(--bad); }
.charts { display:grid; grid-template-columns:repeat(auto-fit, minmax(440px, 1fr)); gap:12px; }
figure.chart { margin:0; }
figure.chart figcaption { font-size:13px; margin-bottom:4px; }
figure.chart svg { width:100%; height:auto; }
svg .plot { fill:#fafbfc; stroke:var(--line); }
svg .bar { fill:#b2ccff; }
svg .total { fill:none; stroke:var(--accent); stroke-width:2; }
svg .cap { stroke:var(--bad); stroke-dasharray:6 4; stroke-width:1.5; }
svg .axis { fill:var(--muted); font-size:11px; }
progress { width:160px; vertical-align:middle; }
.login { max-width:420px; margin:12vh auto; }
.login input { width:100%; font:inherit; padding:6px 8px; margin:8px 0; }
"#;

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="same-origin";
                title { (title) " · crm-sync" }
                style { (PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
}

/// The login form (the page's answer to every request without a session).
pub(super) fn login(message: Option<&str>) -> Markup {
    layout(
        "Log in",
        html! {
            section.login {
                h2 { "crm-sync sync health" }
                p { "Open the address printed by " code { "crm-sync serve" } " or " code { "crm-sync ui" }
                    " when it started, or paste its login token here." }
                @if let Some(message) = message { p.bad #login-error { (message) } }
                form method="post" action="/ui/login" {
                    input type="password" name="token" autocomplete="off" placeholder="login token" required;
                    button.primary type="submit" { "Log in" }
                }
            }
        },
    )
}

/// A short page saying why nothing was done.
pub(super) fn problem(title: &str, detail: &str) -> Markup {
    layout(
        title,
        html! {
            main {
                section #problem {
                    h2 { (title) }
                    p { (detail) }
                    p { a href="/ui" { "Back to sync health" } }
                }
            }
        },
    )
}

/// People's name of a stored category.
fn category_label(name: &str) -> String {
    match name {
        "api_limit" => "API limit".to_owned(),
        other => {
            let spaced = other.replace('_', " ");
            let mut chars = spaced.chars();
            chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
        }
    }
}

fn hidden_back(filters: &Filters) -> Markup {
    html! { input type="hidden" name="back" value=(filters.encoded()); }
}

fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

fn notice_text(notice: Notice, options: &UiOptions) -> String {
    let then = if options.workers_here {
        "the sync workers take them now"
    } else {
        "a running `crm-sync serve` (or the deployment's sync workers) syncs them"
    };
    match notice {
        Notice::Queued(0) => "Nothing to resync.".to_owned(),
        Notice::Queued(n) => format!("{n} record(s) queued for resync; {then}."),
        Notice::Replayed(0) => "No dead letters to replay.".to_owned(),
        Notice::Replayed(n) => format!("{n} dead letter(s) put back on the sync queue; {then}."),
        Notice::Gone => "That error is resolved already; nothing was queued.".to_owned(),
    }
}

/// The whole page.
pub(super) fn page(data: &PageData, notice: Option<Notice>, csrf: &str, options: &UiOptions) -> Markup {
    layout(
        "Sync health",
        html! {
            header {
                h1 { "crm-sync · sync health" }
                span.when { "as of " (data.now.format("%Y-%m-%d %H:%M:%S UTC")) }
            }
            main {
                @if let Some(notice) = notice { p.notice #notice role="status" { (notice_text(notice, options)) } }
                (counts(data, csrf))
                (errors(data, csrf, options))
                (usage(data))
                (imports(&data.imports))
                (dead_letters(data, csrf))
            }
        },
    )
}

fn counts(data: &PageData, csrf: &str) -> Markup {
    let categories = category_names();
    html! {
        section #counts {
            h2 { "Errors by category and object (" (data.counts.total) ")" }
            table {
                thead { tr {
                    th { "Category" }
                    @for pair in ObjectPair::ALL { th.num { (pair.as_str()) } }
                    th.num { "All" }
                    th {}
                } }
                tbody {
                    @for category in &categories {
                        @let total = data.counts.by_category.get(category).copied().unwrap_or(0);
                        tr data-category=(category) {
                            td { a href=(Filters { category: category.clone(), ..Filters::default() }.query(&[])) { (category_label(category)) } }
                            @for pair in ObjectPair::ALL {
                                @let n = data.counts.get(category, pair);
                                td.num {
                                    @if n > 0 {
                                        a href=(Filters { category: category.clone(), object: pair.as_str().to_owned(), q: String::new() }.query(&[])) { (n) }
                                    } @else { span.muted { "0" } }
                                }
                            }
                            td.num { strong { (total) } }
                            td {
                                @if total > 0 {
                                    form.inline method="post" action="/ui/resync/category" {
                                        (csrf_field(csrf))
                                        (hidden_back(&data.filters))
                                        input type="hidden" name="category" value=(category);
                                        button type="submit" name="resync-category" value=(category) { "Resync " (total) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn record_cell(id: Option<&str>, link: Option<String>) -> Markup {
    html! {
        @match (id, link) {
            (Some(id), Some(url)) => a.id href=(url) target="_blank" rel="noopener noreferrer" { (id) },
            (Some(id), None) => span.id { (id) },
            (None, _) => span.muted { "—" },
        }
    }
}

fn errors(data: &PageData, csrf: &str, options: &UiOptions) -> Markup {
    let f = &data.filters;
    let links = &options.links;
    html! {
        section #errors {
            h2 { "Errors" }
            form.filters method="get" action="/ui" {
                label { "Category"
                    select name="category" {
                        option value="" { "All" }
                        @for category in category_names() {
                            option value=(category) selected[f.category == category] { (category_label(&category)) }
                        }
                    }
                }
                label { "Object"
                    select name="object" {
                        option value="" { "All" }
                        @for pair in ObjectPair::ALL {
                            option value=(pair.as_str()) selected[f.object == pair.as_str()] { (pair.as_str()) }
                        }
                    }
                }
                label { "Text"
                    input type="search" name="q" value=(f.q) placeholder="message or record id";
                }
                button.primary type="submit" { "Filter" }
                a href="/ui" { "Clear" }
                a #export href=(format!("/ui/export.csv{}", f.query(&[]))) download="sync-health.csv" { "Export CSV" }
            }
            p.muted #matching { (data.matching) " matching"
                @if data.matching > data.errors.len() { ", first " (data.errors.len()) " shown (the export has all)" } }
            @if data.errors.is_empty() {
                p.empty { "No sync-health errors" @if data.counts.total > 0 { " match these filters" } "." }
            } @else {
                table {
                    thead { tr {
                        th { "Category" } th { "Object" } th { "Salesforce" } th { "HubSpot" }
                        th.num { "Attempts" } th { "Last seen" } th { "Message" } th {}
                    } }
                    tbody {
                        @for e in &data.errors { (error_row(e, csrf, f, links)) }
                    }
                }
            }
        }
    }
}

fn error_row(e: &SyncHealthError, csrf: &str, filters: &Filters, links: &super::RecordLinks) -> Markup {
    let sf_link = e.salesforce_id.as_deref().and_then(|id| links.salesforce(id));
    let hs_link = e.hubspot_id.as_deref().and_then(|id| links.hubspot(e.pair, id));
    html! {
        tr.error-row data-key=(e.key) {
            td { (category_label(&e.category)) }
            td { (e.pair.as_str()) }
            td { (record_cell(e.salesforce_id.as_deref(), sf_link)) }
            td { (record_cell(e.hubspot_id.as_deref(), hs_link)) }
            td.num { (e.attempts) }
            td { (e.last_seen.format("%Y-%m-%d %H:%M")) }
            td.message { (e.message) }
            td {
                @if record_of(e).is_some() {
                    form.inline method="post" action="/ui/resync/record" {
                        (csrf_field(csrf))
                        (hidden_back(filters))
                        input type="hidden" name="key" value=(e.key);
                        button type="submit" { "Resync" }
                    }
                }
            }
        }
    }
}

fn usage(data: &PageData) -> Markup {
    html! {
        section #usage {
            h2 { "API usage, last 24 hours" }
            div.charts {
                (usage_chart("salesforce", &data.history.salesforce, data.usage.salesforce.cap))
                (usage_chart("hubspot", &data.history.hubspot, data.usage.hubspot.cap))
            }
            p.muted { "Imports and resyncs stop " (data.usage.salesforce.reserve)
                " Salesforce calls short of the cap; live changes may use the rest." }
        }
    }
}

fn status_label(job: &ImportJob) -> &'static str {
    match job.status {
        JobStatus::Planned => "planned",
        JobStatus::Running => "running",
        JobStatus::Paused => "paused",
        JobStatus::Completed => "completed",
        JobStatus::Failed => "failed",
    }
}

fn imports(jobs: &[(ImportJob, Vec<crm_sync_store::ImportChunk>)]) -> Markup {
    html! {
        section #imports {
            h2 { "Imports" }
            @if jobs.is_empty() {
                p.empty { "No imports yet." }
            } @else {
                table {
                    thead { tr {
                        th { "Job" } th { "Status" } th { "Chunks" } th.num { "Read" } th.num { "Written" }
                        th.num { "Skipped" } th.num { "Failed" } th { "Started" }
                    } }
                    tbody {
                        @for (job, chunks) in jobs {
                            tr.import-row data-job=(job.id) {
                                td.id { (job.id) }
                                td { (status_label(job))
                                    @if let Some(error) = &job.error { div.bad.muted { (error) } } }
                                td {
                                    progress max=(job.chunks_total.max(1)) value=(job.chunks_done) {}
                                    " " (job.chunks_done) " / " (job.chunks_total)
                                    @let running = chunks.iter().filter(|c| c.status == crm_sync_store::ChunkStatus::Running).count();
                                    @if running > 0 { span.muted { " (" (running) " running)" } }
                                }
                                td.num { (job.counts.read) }
                                td.num { (job.counts.queued) }
                                td.num { (job.counts.skipped) }
                                td.num { (job.counts.failed) }
                                td { (job.created_at.format("%Y-%m-%d %H:%M")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn dead_letters(data: &PageData, csrf: &str) -> Markup {
    let letters = &data.dead_letters;
    let mut by_category: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for letter in letters {
        *by_category.entry(letter.category.as_str()).or_default() += 1;
    }
    let replay = |category: &str, label: String| {
        html! {
            form.inline method="post" action="/ui/dead-letters/replay" {
                (csrf_field(csrf))
                (hidden_back(&data.filters))
                input type="hidden" name="category" value=(category);
                button type="submit" { (label) }
            }
        }
    };
    html! {
        section #dead-letters {
            h2 { "Dead letters (" (letters.len()) ")" }
            @if letters.is_empty() {
                p.empty { "No dead letters." }
            } @else {
                p.muted { "Sync messages that gave up after their retries. Replay puts them back on the sync queue once the cause is fixed." }
                table {
                    thead { tr { th { "Category" } th.num { "Messages" } th {} } }
                    tbody {
                        @for (category, count) in &by_category {
                            tr.dead-category data-category=(category) {
                                td { (category_label(category)) }
                                td.num { (count) }
                                td { (replay(category, format!("Replay {count}"))) }
                            }
                        }
                    }
                }
                p { (replay("", format!("Replay all {}", letters.len()))) }
                table {
                    thead { tr { th { "Message" } th { "Category" } th.num { "Attempts" } th.num { "Records" } th { "First record" } th { "Error" } } }
                    tbody {
                        @for l in letters {
                            tr.dead-row {
                                td.id { (l.id) } td { (category_label(&l.category)) } td.num { (l.attempts) }
                                td.num { (l.intents) } td.id { (l.first_record) } td.message { (l.message) }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_read_as_words() {
        assert_eq!(category_label("permissions_or_access"), "Permissions or access");
        assert_eq!(category_label("api_limit"), "API limit");
        assert_eq!(category_label("duplicates"), "Duplicates");
    }

    #[test]
    fn text_from_the_crm_is_escaped() {
        let page = problem("Nothing was queued", "<script>alert(1)</script>").into_string();
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(page.contains("&lt;script&gt;"), "{page}");
    }
}
