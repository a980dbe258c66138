//! HubSpot search through the client: filter groups, operators, paging, and
//! the 10,000-result cap worked around by splitting the time window.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod hubspot_support;

use chrono::{TimeZone, Utc};
use crm_sandbox::hubspot::HubSpotOptions;
use crm_sync_crm::hubspot::{Direction, Filter, FilterGroup, Operator, SearchRequest, Sort};
use hubspot_support::*;
use std::collections::HashSet;

fn request(groups: Vec<Vec<Filter>>) -> SearchRequest {
    SearchRequest {
        filter_groups: groups.into_iter().map(|filters| FilterGroup { filters }).collect(),
        sorts: vec![],
        properties: names(&["email", "firstname"]),
        limit: 200,
        after: None,
    }
}

#[tokio::test]
async fn filters_are_anded_within_a_group_and_ored_across_groups() {
    let sb = sandbox(fast_options()).await;
    let hs = client(&sb);
    for (email, first, city) in [
        ("a@x.io", "Ada", "Berlin"),
        ("b@x.io", "Alan", "Boston"),
        ("c@x.io", "Ada", "Boston"),
        ("d@y.io", "Grace", ""),
    ] {
        let mut p = props(&[("email", email), ("firstname", first)]);
        if !city.is_empty() {
            p.insert("city".into(), city.into());
        }
        hs.create("contacts", &p).await.unwrap();
    }
    let emails = |rs: &[crm_sync_crm::hubspot::HsObject]| -> HashSet<String> {
        rs.iter().filter_map(|r| r.property("email").map(str::to_owned)).collect()
    };

    let and = hs
        .search_all(
            "contacts",
            &request(vec![vec![
                Filter::new("firstname", Operator::Eq, "ada"),
                Filter::new("city", Operator::Eq, "Boston"),
            ]]),
        )
        .await
        .unwrap();
    assert_eq!(emails(&and), HashSet::from(["c@x.io".to_owned()]));

    let or = hs
        .search_all(
            "contacts",
            &request(vec![
                vec![Filter::new("firstname", Operator::Eq, "Grace")],
                vec![Filter::new("city", Operator::Eq, "Berlin")],
            ]),
        )
        .await
        .unwrap();
    assert_eq!(emails(&or), HashSet::from(["a@x.io".to_owned(), "d@y.io".to_owned()]));

    let missing = hs.search_all("contacts", &request(vec![vec![Filter::presence("city", false)]])).await.unwrap();
    assert_eq!(emails(&missing), HashSet::from(["d@y.io".to_owned()]));

    let any = hs
        .search_all(
            "contacts",
            &request(vec![vec![Filter::any_of("email", vec!["a@x.io".into(), "b@x.io".into()], false)]]),
        )
        .await
        .unwrap();
    assert_eq!(any.len(), 2);
    let not_in = hs
        .search_all(
            "contacts",
            &request(vec![vec![
                Filter::any_of("firstname", vec!["Ada".into()], true),
                Filter::presence("email", true),
            ]]),
        )
        .await
        .unwrap();
    assert_eq!(emails(&not_in), HashSet::from(["b@x.io".to_owned(), "d@y.io".to_owned()]));

    let token = hs
        .search_all("contacts", &request(vec![vec![Filter::new("city", Operator::ContainsToken, "bost*")]]))
        .await
        .unwrap();
    assert_eq!(token.len(), 2);
    let neq =
        hs.search_all("contacts", &request(vec![vec![Filter::new("firstname", Operator::Neq, "Ada")]])).await.unwrap();
    assert_eq!(neq.len(), 2);
}

#[tokio::test]
async fn numeric_ranges_and_sorts_are_honoured() {
    let sb = sandbox(HubSpotOptions { seed_deals: 50, ..fast_options() }).await;
    let hs = client(&sb);
    let mut req = request(vec![vec![Filter::between("amount", "20000", "60000")]]);
    req.properties = names(&["amount"]);
    req.sorts = vec![Sort { property_name: "amount".into(), direction: Direction::Descending }];
    let deals = hs.search_all("deals", &req).await.unwrap();
    assert!(!deals.is_empty());
    let amounts: Vec<f64> = deals.iter().map(|d| d.property("amount").unwrap().parse().unwrap()).collect();
    assert!(amounts.iter().all(|a| (20000.0..=60000.0).contains(a)));
    assert!(amounts.windows(2).all(|w| w[0] >= w[1]), "descending by amount");
    let gt = hs.search_all("deals", &request(vec![vec![Filter::new("amount", Operator::Gt, "60000")]])).await.unwrap();
    let lte =
        hs.search_all("deals", &request(vec![vec![Filter::new("amount", Operator::Lte, "60000")]])).await.unwrap();
    assert_eq!(gt.len() + lte.len(), 50);
}

#[tokio::test]
async fn search_pages_with_after_and_reports_the_total() {
    let sb = sandbox(HubSpotOptions { seed_contacts: 450, ..fast_options() }).await;
    let hs = client(&sb);
    let req = request(vec![vec![Filter::presence("email", true)]]);
    let first = hs.search_page("contacts", &req).await.unwrap();
    assert_eq!((first.results.len(), first.total), (200, Some(450)));
    let all = hs.search_all("contacts", &req).await.unwrap();
    assert_eq!(all.len(), 450);
    assert_eq!(all.iter().map(|r| &r.id).collect::<HashSet<_>>().len(), 450);
    assert_eq!(hs.calls_made(), 1 + 3);
    let too_big = SearchRequest { limit: 201, ..req };
    assert!(hs.search_page("contacts", &too_big).await.is_err());
}

#[tokio::test]
async fn the_ten_thousand_result_cap_is_worked_around_by_splitting_the_window() {
    let sb = sandbox(HubSpotOptions { seed_contacts: 10_500, ..fast_options() }).await;
    let hs = client(&sb);

    let everything = request(vec![vec![Filter::presence("email", true)]]);
    let err = hs.search_all("contacts", &everything).await.unwrap_err();
    assert!(err.message.contains("10000"), "{}", err.message);

    let mut past_cap = everything.clone();
    past_cap.after = Some("10000".into());
    let err = hs.search_page("contacts", &past_cap).await.unwrap_err();
    assert_eq!((err.status, err.code.as_str()), (400, "VALIDATION_ERROR"));

    let start = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    let end = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let before = hs.calls_made();
    let all = hs.modified_between("contacts", start, end, &[], &names(&["email"])).await.unwrap();
    assert_eq!(all.len(), 10_500);
    assert_eq!(all.iter().map(|r| &r.id).collect::<HashSet<_>>().len(), 10_500, "no record twice");
    let calls = hs.calls_made() - before;
    // 53 pages of 200 at the least, plus the probes of windows that were split.
    assert!((53..=53 + 10).contains(&calls), "{calls} calls");
    assert_eq!(sb.hubspot_control().counts().count("POST", "/crm/v3/objects/{object}/search"), hs.calls_made());
}

#[tokio::test]
async fn a_window_search_includes_extra_filters_and_excludes_the_end() {
    let sb = sandbox(fast_options()).await;
    let hs = client(&sb);
    let t0 = Utc::now() - chrono::Duration::seconds(5);
    let a = hs.create("companies", &props(&[("name", "Acme"), ("city", "Lyon")])).await.unwrap();
    hs.create("companies", &props(&[("name", "Globex"), ("city", "Osaka")])).await.unwrap();
    let found = hs
        .modified_between(
            "companies",
            t0,
            Utc::now() + chrono::Duration::seconds(5),
            &[Filter::new("city", Operator::Eq, "Lyon")],
            &[],
        )
        .await
        .unwrap();
    assert_eq!(found.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), vec![a.id.clone()]);
    let modified: chrono::DateTime<Utc> = a.property("hs_lastmodifieddate").unwrap().parse().unwrap();
    let none = hs
        .modified_between("companies", t0, modified, &[Filter::new("city", Operator::Eq, "Lyon")], &[])
        .await
        .unwrap();
    assert!(none.is_empty(), "the end of the window is exclusive");
}

#[tokio::test]
async fn a_bounded_window_listing_stops_at_a_page_boundary_and_resumes_from_where_it_stopped() {
    let sb = sandbox(HubSpotOptions { seed_contacts: 1_000, ..fast_options() }).await;
    let hs = client(&sb);
    let start = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    let end = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let modified = |r: &crm_sync_crm::hubspot::HsObject| -> chrono::DateTime<Utc> {
        r.property("lastmodifieddate").unwrap().parse().unwrap()
    };

    let first = hs.modified_between_bounded("contacts", start, end, &[], &[], 300).await.unwrap();
    assert_eq!(first.records.len(), 400, "two pages of 200: the budget is checked per page");
    assert!(first.covered_to > start && first.covered_to < end);
    assert!(first.records.iter().all(|r| modified(r) <= first.covered_to));

    let mut seen: HashSet<String> = first.records.iter().map(|r| r.id.clone()).collect();
    let mut from = first.covered_to;
    let mut listings = 1;
    while from < end {
        let next = hs.modified_between_bounded("contacts", from, end, &[], &[], 300).await.unwrap();
        assert!(next.records.iter().all(|r| modified(r) >= from), "nothing before the resume point is listed again");
        seen.extend(next.records.iter().map(|r| r.id.clone()));
        assert!(next.covered_to > from, "every listing makes progress");
        from = next.covered_to;
        listings += 1;
    }
    assert_eq!(seen.len(), 1_000, "every record listed at least once");
    assert_eq!(listings, 3);
    let whole = hs.modified_between_bounded("contacts", start, end, &[], &[], usize::MAX).await.unwrap();
    assert_eq!((whole.records.len(), whole.covered_to), (1_000, end));
}
