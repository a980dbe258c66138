//! `crm-sync org-move`: after the Salesforce credentials were changed to a
//! new production org, re-matches contact links by email there and drops
//! company and deal links, once the operator agreed to what it will do.

use super::resync::confirm;
use anyhow::Context;
use crm_sync_app::{App, OrgMoveReport, OrgMoveReview};

/// What the move will do and cost, as said before asking.
pub fn review_text(review: &OrgMoveReview) -> String {
    let verdict = if review.within_budget { "the budget allows it" } else { "the budget does NOT allow it now" };
    format!(
        "moving the links to the Salesforce org of the current credentials\n\
         {:<10} {:>8}  action\n\
         {:<10} {:>8}  re-matched by email in the new org (dropped when it has no record of the email)\n\
         {:<10} {:>8}  dropped (matched or created again at their next sync)\n\
         {:<10} {:>8}  dropped (matched or created again at their next sync)\n\
         about {} Salesforce API calls ({} left of today's budget) and {} HubSpot calls; {verdict}",
        "links",
        "count",
        "contact",
        review.contact_links,
        "company",
        review.company_links,
        "deal",
        review.deal_links,
        review.salesforce_calls,
        review.salesforce_remaining,
        review.hubspot_calls,
    )
}

/// What the move did.
pub fn report_text(report: &OrgMoveReport) -> String {
    format!(
        "done: {} contact link(s) moved to the new org, {} dropped (no record of their email), \
         {} duplicate record(s) reported (see `crm-sync health --category duplicates`), \
         {} company and {} deal link(s) dropped",
        report.contacts_relinked,
        report.contacts_unmatched,
        report.duplicates,
        report.company_links_dropped,
        report.deal_links_dropped,
    )
}

/// Reviews the move, asks (unless `yes`), and runs it. False when not run.
pub async fn run(app: &App, yes: bool) -> anyhow::Result<bool> {
    let review = crm_sync_app::org_move_review(app).await.context("reviewing the move")?;
    println!("{}", review_text(&review));
    if !yes {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut output = std::io::stdout();
        if !confirm("move the links to the new org?", &mut input, &mut output)? {
            println!("not started");
            return Ok(false);
        }
    }
    let report = crm_sync_app::move_to_new_org(app).await.context("moving the links")?;
    println!("{}", report_text(&report));
    Ok(true)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_review_lists_each_pair_and_the_cost() {
        let review = OrgMoveReview {
            contact_links: 1200,
            company_links: 30,
            deal_links: 7,
            salesforce_calls: 24,
            hubspot_calls: 12,
            salesforce_remaining: 10,
            within_budget: false,
        };
        let text = review_text(&review);
        for line in ["contact        1200", "company          30", "deal              7", "24 Salesforce", "NOT allow"]
        {
            assert!(text.contains(line), "{line:?} in\n{text}");
        }
    }
}
