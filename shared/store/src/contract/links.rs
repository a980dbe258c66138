//! Checks of [`LinkStore`]: uniqueness of both ids, versions, batches of
//! writes and reads, listing, and racing creates.

use std::sync::Arc;

use super::harness::{Harness, R, epoch, expect_condition_failed, link};
use crate::error::StoreError;
use crate::ports::*;

pub async fn a_created_link_is_found_by_either_id(h: &dyn Harness) -> R {
    let store = h.store().await?;
    let l = link(ObjectPair::Contact, "003A", "101");
    assert_eq!(store.put_link(&l, LinkCondition::MustNotExist).await?, 1);
    let by_sf = store.get_link_by_salesforce(ObjectPair::Contact, "003A").await?;
    let by_hs = store.get_link_by_hubspot(ObjectPair::Contact, "101").await?;
    let by_sf = by_sf.unwrap_or_else(|| panic!("link not found by Salesforce id"));
    assert_eq!(Some(&by_sf), by_hs.as_ref(), "both lookups return the same link");
    assert_eq!(by_sf.version, 1);
    assert_eq!(by_sf.fingerprints, l.fingerprints);
    assert_eq!(by_sf.salesforce_object, "Contact");
    assert!(store.get_link_by_hubspot(ObjectPair::Company, "101").await?.is_none(), "pairs are separate");
    assert!(store.get_link_by_salesforce(ObjectPair::Contact, "003B").await?.is_none());
    Ok(())
}

pub async fn a_second_link_for_either_id_fails_the_condition(h: &dyn Harness) -> R {
    let store = h.store().await?;
    store.put_link(&link(ObjectPair::Contact, "003A", "101"), LinkCondition::MustNotExist).await?;
    expect_condition_failed(
        "same Salesforce id",
        store.put_link(&link(ObjectPair::Contact, "003A", "102"), LinkCondition::MustNotExist).await,
    );
    expect_condition_failed(
        "same HubSpot id",
        store.put_link(&link(ObjectPair::Contact, "003B", "101"), LinkCondition::MustNotExist).await,
    );
    assert!(store.get_link_by_hubspot(ObjectPair::Contact, "102").await?.is_none(), "loser wrote nothing");
    assert!(store.get_link_by_salesforce(ObjectPair::Contact, "003B").await?.is_none(), "loser wrote nothing");
    // The same ids in another pair are another link.
    store.put_link(&link(ObjectPair::Company, "003A", "101"), LinkCondition::MustNotExist).await?;
    Ok(())
}

pub async fn a_link_update_needs_the_current_version(h: &dyn Harness) -> R {
    let store = h.store().await?;
    let mut l = link(ObjectPair::Deal, "006A", "9001");
    store.put_link(&l, LinkCondition::MustNotExist).await?;
    l.fingerprints.insert("amount".to_owned(), "fp-100".to_owned());
    assert_eq!(store.put_link(&l, LinkCondition::VersionIs(1)).await?, 2);
    l.fingerprints.insert("amount".to_owned(), "fp-200".to_owned());
    expect_condition_failed("stale version", store.put_link(&l, LinkCondition::VersionIs(1)).await);
    let stored = store.get_link_by_hubspot(ObjectPair::Deal, "9001").await?;
    let stored = stored.unwrap_or_else(|| panic!("link vanished"));
    assert_eq!(stored.version, 2);
    assert_eq!(stored.fingerprints.get("amount").map(String::as_str), Some("fp-100"), "stale write lost");
    expect_condition_failed(
        "update of a missing link",
        store.put_link(&link(ObjectPair::Deal, "006Z", "9009"), LinkCondition::VersionIs(1)).await,
    );
    expect_condition_failed(
        "update that changes the HubSpot id",
        store.put_link(&link(ObjectPair::Deal, "006A", "9002"), LinkCondition::VersionIs(2)).await,
    );
    Ok(())
}

pub async fn a_batch_of_link_writes_reports_each_write_on_its_own(h: &dyn Harness) -> R {
    let store = h.store().await?;
    store.put_link(&link(ObjectPair::Contact, "00QX", "500"), LinkCondition::MustNotExist).await?;
    let mut writes: Vec<LinkWrite> = (0..30)
        .map(|i| LinkWrite {
            link: link(ObjectPair::Contact, &format!("00Q{i:03}"), &format!("{}", 1000 + i)),
            condition: LinkCondition::MustNotExist,
        })
        .collect();
    writes.push(LinkWrite { link: link(ObjectPair::Contact, "00QX", "501"), condition: LinkCondition::MustNotExist });
    let results = store.put_links(&writes).await?;
    assert_eq!(results.len(), 31);
    for r in &results[..30] {
        assert!(matches!(r, Ok(1)), "fresh link written: {r:?}");
    }
    assert!(matches!(results[30], Err(StoreError::ConditionFailed { .. })), "duplicate refused: {:?}", results[30]);
    assert!(store.get_link_by_hubspot(ObjectPair::Contact, "1029").await?.is_some());
    Ok(())
}

pub async fn a_link_delete_needs_the_current_version(h: &dyn Harness) -> R {
    let store = h.store().await?;
    let l = link(ObjectPair::Company, "001A", "77");
    store.put_link(&l, LinkCondition::MustNotExist).await?;
    store.put_link(&l, LinkCondition::VersionIs(1)).await?;
    expect_condition_failed("stale delete", store.delete_link(ObjectPair::Company, "001A", 1).await);
    assert!(store.delete_link(ObjectPair::Company, "001A", 2).await?);
    assert!(!store.delete_link(ObjectPair::Company, "001A", 2).await?, "already gone");
    assert!(store.get_link_by_hubspot(ObjectPair::Company, "77").await?.is_none());
    // Both ids are free again.
    store.put_link(&link(ObjectPair::Company, "001B", "77"), LinkCondition::MustNotExist).await?;
    store.put_link(&link(ObjectPair::Company, "001A", "78"), LinkCondition::MustNotExist).await?;
    Ok(())
}

pub async fn links_are_listed_in_pages_per_pair(h: &dyn Harness) -> R {
    let store = h.store().await?;
    let writes: Vec<LinkWrite> = (0..25)
        .map(|i| LinkWrite {
            link: link(ObjectPair::Company, &format!("001{i:03}"), &format!("{}", 7000 + i)),
            condition: LinkCondition::MustNotExist,
        })
        .collect();
    for r in store.put_links(&writes).await? {
        r?;
    }
    store.put_link(&link(ObjectPair::Contact, "003Z", "1"), LinkCondition::MustNotExist).await?;
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..100 {
        let page = store.list_links(ObjectPair::Company, after.as_deref(), 10).await?;
        assert!(page.links.len() <= 10, "page respects the limit");
        seen.extend(page.links.into_iter().map(|l| l.salesforce_id));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    seen.sort();
    let expected: Vec<String> = (0..25).map(|i| format!("001{i:03}")).collect();
    assert_eq!(seen, expected, "every link of the pair once, none of another pair");
    Ok(())
}

pub async fn concurrent_creates_of_one_link_write_it_once(h: &dyn Harness) -> R {
    let store = h.store().await?;
    let attempts = (0..8).map(|i| {
        let store = Arc::clone(&store);
        // Same Salesforce record; half the racers saw another HubSpot id.
        let l = link(ObjectPair::Contact, "003RACE", if i % 2 == 0 { "900" } else { "901" });
        async move { store.put_link(&l, LinkCondition::MustNotExist).await }
    });
    let results = futures::future::join_all(attempts).await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "exactly one racer creates the link: {results:?}");
    for r in &results {
        if let Err(e) = r {
            assert!(e.is_retryable(), "a lost race is a condition failure or a retryable conflict: {e:?}");
        }
    }
    let stored = store.get_link_by_salesforce(ObjectPair::Contact, "003RACE").await?;
    let stored = stored.unwrap_or_else(|| panic!("winner's link missing"));
    let other = if stored.hubspot_id == "900" { "901" } else { "900" };
    assert!(store.get_link_by_hubspot(ObjectPair::Contact, other).await?.is_none(), "no half-written loser");
    Ok(())
}

/// Ids `prefix000`, `prefix001`, ... for batch checks.
fn ids(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i:03}")).collect()
}

pub async fn the_links_of_a_batch_are_read_by_either_id_in_one_call(h: &dyn Harness) -> R {
    let store = h.store().await?;
    // More links than one DynamoDB BatchGetItem page (100), asked for among
    // enough unknown ids to pass one SQLite IN list (500).
    let sf = ids("003B", 0..250);
    let hs = ids("55", 0..250);
    let writes: Vec<LinkWrite> = sf
        .iter()
        .zip(&hs)
        .map(|(s, h)| LinkWrite { link: link(ObjectPair::Contact, s, h), condition: LinkCondition::MustNotExist })
        .collect();
    for r in store.put_links(&writes).await? {
        r?;
    }
    // The same ids in another pair must not answer for contacts.
    store.put_link(&link(ObjectPair::Company, "003Z900", "55900"), LinkCondition::MustNotExist).await?;

    // Unknown ids interleaved, the linked ones in reverse, one asked twice.
    let mut asked = Vec::new();
    for (i, id) in sf.iter().rev().enumerate() {
        asked.push(id.clone());
        asked.push(format!("003Z{i:03}"));
        if i % 2 == 0 {
            asked.push(format!("003Y{i:03}"));
        }
    }
    asked.push(sf[249].clone());
    assert!(asked.len() > 500, "the batch spans more than one IN list");
    let got = store.get_links_by_salesforce_ids(ObjectPair::Contact, &asked).await?;
    let got_ids: Vec<&str> = got.iter().map(|l| l.salesforce_id.as_str()).collect();
    let expected: Vec<&str> = sf.iter().rev().map(String::as_str).collect();
    assert_eq!(got_ids, expected, "each linked id once, in order of first occurrence; unknown ids absent");
    for l in &got {
        assert_eq!(l.version, 1);
        assert_eq!(l.pair, ObjectPair::Contact);
        assert_eq!(l.fingerprints.get("email"), Some(&format!("fp-{}", l.salesforce_id)));
    }
    let one = store.get_link_by_salesforce(ObjectPair::Contact, &sf[7]).await?;
    assert_eq!(got.iter().find(|l| l.salesforce_id == sf[7]), one.as_ref(), "same link as the single read");

    let mut asked_hs: Vec<String> = hs.iter().step_by(3).cloned().collect();
    asked_hs.push("55900".to_owned());
    asked_hs.push("no-such-id".to_owned());
    let got = store.get_links_by_hubspot_ids(ObjectPair::Contact, &asked_hs).await?;
    let got_ids: Vec<&str> = got.iter().map(|l| l.hubspot_id.as_str()).collect();
    let expected: Vec<&str> = hs.iter().step_by(3).map(String::as_str).collect();
    assert_eq!(got_ids, expected, "by HubSpot id, the company link of another pair left out");
    for l in &got {
        let i = hs.iter().position(|h| *h == l.hubspot_id).unwrap_or_else(|| panic!("unasked {}", l.hubspot_id));
        assert_eq!(l.salesforce_id, sf[i], "each HubSpot id with its own Salesforce id");
    }

    assert!(store.get_links_by_salesforce_ids(ObjectPair::Contact, &[]).await?.is_empty());
    assert!(store.get_links_by_hubspot_ids(ObjectPair::Deal, &hs).await?.is_empty(), "no deal links");
    let company = store.get_links_by_salesforce_ids(ObjectPair::Company, &["003Z900".to_owned()]).await?;
    assert_eq!(company.len(), 1);
    Ok(())
}

pub async fn a_batch_read_sees_every_write_that_returned_before_it(h: &dyn Harness) -> R {
    let store = h.store().await?;
    let mut updated = link(ObjectPair::Deal, "006U", "8001");
    store.put_link(&updated, LinkCondition::MustNotExist).await?;
    store.put_link(&link(ObjectPair::Deal, "006D", "8002"), LinkCondition::MustNotExist).await?;
    updated.fingerprints.insert("amount".to_owned(), "fp-300".to_owned());
    updated.updated_at = epoch();
    store.put_link(&updated, LinkCondition::VersionIs(1)).await?;
    assert!(store.delete_link(ObjectPair::Deal, "006D", 1).await?);
    store.put_link(&link(ObjectPair::Deal, "006N", "8003"), LinkCondition::MustNotExist).await?;

    let asked: Vec<String> = ["006U", "006D", "006N"].iter().map(|s| s.to_string()).collect();
    let got = store.get_links_by_salesforce_ids(ObjectPair::Deal, &asked).await?;
    let got: Vec<(&str, u64)> = got.iter().map(|l| (l.salesforce_id.as_str(), l.version)).collect();
    assert_eq!(got, [("006U", 2), ("006N", 1)], "the update seen, the deleted link gone, the new one there");
    let asked: Vec<String> = ["8001", "8002", "8003"].iter().map(|s| s.to_string()).collect();
    let got = store.get_links_by_hubspot_ids(ObjectPair::Deal, &asked).await?;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].fingerprints.get("amount").map(String::as_str), Some("fp-300"));
    assert_eq!(got[1].salesforce_id, "006N");
    Ok(())
}

pub async fn a_creation_note_is_answered_until_deleted_or_too_old(h: &dyn Harness) -> R {
    let store = h.store().await?;
    let note = |id: &str, key: &str| CreationNote {
        pair: ObjectPair::Contact,
        source: System::Salesforce,
        source_id: id.to_owned(),
        target_key: key.to_owned(),
        fingerprints: [("jobtitle<->Title".to_owned(), "{\"hubspot\":\"a\"}".to_owned())].into(),
        written_at: epoch(),
    };
    store.put_creation_notes(&[note("003A", "a@example.com"), note("003B", "b@example.com")]).await?;
    // A second note of one source replaces the first.
    store.put_creation_notes(&[note("003A", "a2@example.com")]).await?;
    let asked = [
        (System::Salesforce, "003A".to_owned()),
        (System::HubSpot, "003A".to_owned()),
        (System::Salesforce, "003C".to_owned()),
        (System::Salesforce, "003B".to_owned()),
    ];
    let mut found = store.get_creation_notes(ObjectPair::Contact, &asked).await?;
    found.sort_by(|a, b| a.source_id.cmp(&b.source_id));
    let keys: Vec<(&str, &str)> = found.iter().map(|n| (n.source_id.as_str(), n.target_key.as_str())).collect();
    assert_eq!(keys, [("003A", "a2@example.com"), ("003B", "b@example.com")], "notes by side and id");
    assert_eq!(found[0].fingerprints, note("003A", "").fingerprints);
    assert!(store.get_creation_notes(ObjectPair::Company, &asked).await?.is_empty(), "pairs are separate");
    store.delete_creation_notes(ObjectPair::Contact, &[(System::Salesforce, "003A".to_owned())]).await?;
    let left = store.get_creation_notes(ObjectPair::Contact, &asked).await?;
    assert_eq!(left.iter().map(|n| n.source_id.as_str()).collect::<Vec<_>>(), ["003B"], "a deleted note is gone");
    h.advance_clock(CREATION_NOTE_LIFETIME + std::time::Duration::from_secs(1));
    assert!(store.get_creation_notes(ObjectPair::Contact, &asked).await?.is_empty(), "an old note is not answered");
    Ok(())
}
