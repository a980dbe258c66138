//! `crm-sync resync record|segment`: the resync use cases, with the cost of a
//! segment said (and agreed to) before it starts.

use crate::args::SystemArg;
use anyhow::Context;
use crm_sync_app::domain::{ObjectPair, SfObject};
use crm_sync_app::local::LocalRuntime;
use crm_sync_app::{App, RecordRef, Segment, SegmentReview};
use std::io::{BufRead, Write};

/// Names the record as the use case wants it.
pub fn record_ref(system: SystemArg, object: &str, id: &str) -> anyhow::Result<RecordRef> {
    let id = id.trim().to_owned();
    match system {
        SystemArg::Hubspot => {
            let object = pair(object)?;
            Ok(RecordRef::Hubspot { object, id })
        }
        SystemArg::Salesforce => {
            let object = match object.trim().to_ascii_lowercase().as_str() {
                "lead" => SfObject::Lead,
                "contact" => SfObject::Contact,
                "account" => SfObject::Account,
                "opportunity" => SfObject::Opportunity,
                other => anyhow::bail!(
                    "`{other}` is not a Salesforce object the sync knows; use Lead, Contact, Account or Opportunity"
                ),
            };
            Ok(RecordRef::Salesforce { object, id })
        }
    }
}

/// A HubSpot object name: contact, company or deal.
pub fn pair(object: &str) -> anyhow::Result<ObjectPair> {
    match object.trim().to_ascii_lowercase().as_str() {
        "contact" | "contacts" => Ok(ObjectPair::Contact),
        "company" | "companies" => Ok(ObjectPair::Company),
        "deal" | "deals" => Ok(ObjectPair::Deal),
        other => anyhow::bail!("`{other}` is not a HubSpot object the sync knows; use contact, company or deal"),
    }
}

/// Syncs one record now and says what happened. Exit status follows it.
pub async fn record(app: &App, record: &RecordRef) -> anyhow::Result<bool> {
    let report = crm_sync_app::resync_record(app, record).await.context("resyncing the record")?;
    let created: u64 = report.stats.created.values().sum();
    let updated: u64 = report.stats.updated.values().sum();
    println!(
        "resync: {created} created, {updated} updated, {} unchanged, {} skipped",
        report.stats.unchanged,
        report.stats.skipped.values().sum::<u64>()
    );
    for (reason, count) in &report.stats.skipped {
        println!("  skipped ({count}): {reason}");
    }
    match report.error {
        None => Ok(true),
        Some(error) => {
            println!("not synced: {error}");
            Ok(false)
        }
    }
}

/// The cost, as said before asking.
pub fn review_text(review: &SegmentReview) -> String {
    let verdict = if review.within_budget {
        "the budget allows it"
    } else {
        "the budget does NOT allow it now: it will pause when the budget is spent"
    };
    format!(
        "{} record(s); about {} Salesforce API calls ({} left of today's budget) and {} HubSpot calls; {verdict}",
        review.records, review.salesforce_calls, review.salesforce_remaining, review.hubspot_calls
    )
}

/// Asks on the terminal; only `y` or `yes` agrees.
pub fn confirm(question: &str, input: &mut dyn BufRead, output: &mut dyn Write) -> anyhow::Result<bool> {
    write!(output, "{question} [y/N] ")?;
    output.flush()?;
    let mut answer = String::new();
    input.read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

/// Queues one record on the deployment's sync queue (the deployed
/// sync-worker function syncs it), as a segment of one: the same use case,
/// budget check included.
pub async fn queue_record(app: &App, record: &RecordRef) -> anyhow::Result<bool> {
    let segment = Segment::Records { records: vec![record.clone()] };
    let queued = crm_sync_app::resync_segment(app, &segment).await.context("queueing the resync")?;
    println!("{queued} record(s) queued on the sync queue; the sync-worker function syncs them");
    println!("(`crm-sync health` with the same --backend and --stack shows what failed)");
    Ok(true)
}

/// Reviews the segment, asks (unless `yes`) and queues it; with a local
/// runtime, works it here, else leaves it to the deployment's workers.
pub async fn segment(app: &App, runtime: Option<&LocalRuntime>, segment: &Segment, yes: bool) -> anyhow::Result<bool> {
    let review = crm_sync_app::resync_segment_review(app, segment).await.context("reviewing the segment")?;
    println!("{}", review_text(&review));
    if review.records == 0 {
        return Ok(true);
    }
    if !yes {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut output = std::io::stdout();
        if !confirm("start the resync?", &mut input, &mut output)? {
            println!("not started");
            return Ok(false);
        }
    }
    let queued = crm_sync_app::resync_segment(app, segment).await.context("queueing the resync")?;
    let Some(runtime) = runtime else {
        println!("{queued} record(s) queued on the sync queue; the sync-worker function syncs them");
        return Ok(true);
    };
    println!("{queued} record(s) queued; syncing");
    let report = runtime.run_until_idle().await.context("working the resync")?;
    println!(
        "done: {} message(s), {} retried, {} failed (see `crm-sync health`)",
        report.messages, report.retried, report.failed
    );
    Ok(report.failed == 0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn only_yes_agrees_to_a_segment_resync() {
        for (typed, agreed) in [("y\n", true), ("YES\n", true), ("\n", false), ("no\n", false), ("sure\n", false)] {
            let mut out = Vec::new();
            let answer = confirm("start?", &mut typed.as_bytes(), &mut out).unwrap();
            assert_eq!(answer, agreed, "typed {typed:?}");
        }
    }

    #[test]
    fn salesforce_objects_are_named_case_insensitively_and_unknown_ones_refused() {
        assert!(matches!(
            record_ref(SystemArg::Salesforce, "lead", "00Q000000000001AAA").unwrap(),
            RecordRef::Salesforce { object: SfObject::Lead, .. }
        ));
        assert!(record_ref(SystemArg::Salesforce, "Case", "500000000000001AAA").is_err());
        assert!(matches!(
            record_ref(SystemArg::Hubspot, "Company", "42").unwrap(),
            RecordRef::Hubspot { object: ObjectPair::Company, .. }
        ));
    }

    #[test]
    fn the_review_says_when_the_budget_does_not_allow_a_segment() {
        let review = SegmentReview {
            records: 5000,
            salesforce_calls: 50,
            hubspot_calls: 100,
            salesforce_remaining: 10,
            within_budget: false,
        };
        let text = review_text(&review);
        assert!(text.contains("5000 record(s)"), "{text}");
        assert!(text.contains("NOT allow"), "{text}");
    }
}
