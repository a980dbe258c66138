//! `crm-sync dead-letters list|replay [--category C]`: the sync queue's
//! dead letters, with the error each gave up on (from sync health), and
//! putting them back on the queue. Works on the state and the queue alone:
//! locally a running `serve`, or the next one, syncs what was replayed; on
//! AWS the sync-worker function does.

use super::health::parse_category;
use crate::backend::Operator;
use anyhow::Context;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use crm_sync_app::usecases::dead_letters::{DeadLetter, list_dead_letters, replay_dead_letters};
use std::io::Write;

/// Prints the dead letters (of `category` when given) as a table.
pub async fn list(opened: &Operator, category: Option<&str>, out: &mut dyn Write) -> anyhow::Result<usize> {
    let category = category.map(parse_category).transpose()?;
    let letters = list_dead_letters(opened.sync_queue.as_ref(), opened.store.as_ref(), category.as_deref())
        .await
        .context("listing dead letters")?;
    if letters.is_empty() {
        writeln!(out, "no dead letters")?;
    } else {
        writeln!(out, "{}", table(&letters))?;
    }
    Ok(letters.len())
}

/// Puts the dead letters (of `category` when given) back on the sync queue
/// and says how many.
pub async fn replay(opened: &Operator, category: Option<&str>, out: &mut dyn Write) -> anyhow::Result<usize> {
    let category = category.map(parse_category).transpose()?;
    let replayed = replay_dead_letters(opened.sync_queue.as_ref(), opened.store.as_ref(), category.as_deref())
        .await
        .context("replaying dead letters")?;
    match replayed.len() {
        0 => writeln!(out, "no dead letters to replay")?,
        n => {
            writeln!(out, "{}", table(&replayed))?;
            let who = if opened.deployment.is_some() { "the sync-worker function" } else { "`crm-sync serve`" };
            writeln!(out, "{n} put back on the sync queue; {who} syncs them")?;
        }
    }
    Ok(replayed.len())
}

fn table(letters: &[DeadLetter]) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic).set_header([
        "message",
        "category",
        "attempts",
        "records",
        "first record",
        "error",
    ]);
    for l in letters {
        table.add_row([
            l.id.clone(),
            l.category.clone(),
            l.attempts.to_string(),
            l.intents.to_string(),
            l.first_record.clone(),
            l.message.clone(),
        ]);
    }
    table
}
