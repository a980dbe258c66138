//! `crm-sync dead-letters list|replay [--category C]`: the local sync
//! queue's dead letters, with the error each gave up on (from sync health),
//! and putting them back on the queue. Works on the state file alone: a
//! running `serve`, or the next one, syncs what was replayed.

use super::health::parse_category;
use anyhow::Context;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use crm_sync_app::build::local_sync_queue;
use crm_sync_app::store::SqliteStore;
use crm_sync_app::usecases::dead_letters::{DeadLetter, list_dead_letters, replay_dead_letters};
use std::io::Write;

/// Prints the dead letters (of `category` when given) as a table.
pub async fn list(store: &SqliteStore, category: Option<&str>, out: &mut dyn Write) -> anyhow::Result<usize> {
    let category = category.map(parse_category).transpose()?;
    let letters = list_dead_letters(&local_sync_queue(store), store, category.as_deref())
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
pub async fn replay(store: &SqliteStore, category: Option<&str>, out: &mut dyn Write) -> anyhow::Result<usize> {
    let category = category.map(parse_category).transpose()?;
    let replayed = replay_dead_letters(&local_sync_queue(store), store, category.as_deref())
        .await
        .context("replaying dead letters")?;
    match replayed.len() {
        0 => writeln!(out, "no dead letters to replay")?,
        n => {
            writeln!(out, "{}", table(&replayed))?;
            writeln!(out, "{n} put back on the sync queue; `crm-sync serve` syncs them")?;
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
