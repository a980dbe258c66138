//! Checks of [`CursorStore`]: compare-and-set advances and exact positions.

use super::harness::{Harness, R, epoch, expect_condition_failed};
use crate::ports::*;

pub async fn a_cursor_advances_only_from_the_expected_position(h: &dyn Harness) -> R {
    let store = h.store().await?;
    assert!(store.get_cursor(System::Salesforce, "Lead").await?.is_none());
    let t1 = epoch();
    let t2 = t1 + chrono::Duration::milliseconds(900_123);
    let t3 = t2 + chrono::Duration::minutes(15);
    store.advance_cursor(System::Salesforce, "Lead", None, t1, false).await?;
    expect_condition_failed("create twice", store.advance_cursor(System::Salesforce, "Lead", None, t2, false).await);
    store.advance_cursor(System::Salesforce, "Lead", Some(t1), t2, true).await?;
    expect_condition_failed(
        "stale expected",
        store.advance_cursor(System::Salesforce, "Lead", Some(t1), t3, false).await,
    );
    let c = store.get_cursor(System::Salesforce, "Lead").await?.unwrap_or_else(|| panic!("cursor missing"));
    assert_eq!(c.position, t2, "position round-trips exactly");
    assert!(c.partial, "the partial mark round-trips");
    store.advance_cursor(System::Salesforce, "Lead", Some(t2), t3, false).await?;
    let c = store.get_cursor(System::Salesforce, "Lead").await?.unwrap_or_else(|| panic!("cursor missing"));
    assert_eq!((c.position, c.partial), (t3, false), "a whole listing clears it");
    assert_eq!((c.system, c.object.as_str()), (System::Salesforce, "Lead"));
    assert!(store.get_cursor(System::HubSpot, "Lead").await?.is_none(), "per system");
    assert!(store.get_cursor(System::Salesforce, "Contact").await?.is_none(), "per object");
    Ok(())
}
