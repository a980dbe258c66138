//! Keeps `docs/spec-coverage.md` honest: every test it names exists in the
//! sync core's sources.
#![allow(clippy::unwrap_used, clippy::expect_used)]

const COVERAGE: &str = include_str!("../../../docs/spec-coverage.md");

const SOURCES: [&str; 27] = [
    include_str!("../src/chunks.rs"),
    include_str!("../src/config/mod.rs"),
    include_str!("../src/config/defaults.rs"),
    include_str!("../src/config/entry.rs"),
    include_str!("../src/config/error.rs"),
    include_str!("../src/config/mapping.rs"),
    include_str!("../src/config/parse.rs"),
    include_str!("../src/config/rule.rs"),
    include_str!("../src/config/segment.rs"),
    include_str!("../src/config/sync_config.rs"),
    include_str!("../src/config/types.rs"),
    include_str!("../src/properties.rs"),
    include_str!("../src/decision.rs"),
    include_str!("../src/error.rs"),
    include_str!("../src/intent.rs"),
    include_str!("../src/matching.rs"),
    include_str!("../src/model.rs"),
    include_str!("../src/moves.rs"),
    include_str!("../src/rules.rs"),
    include_str!("../src/special.rs"),
    include_str!("sync_rules.rs"),
    include_str!("special_fields.rs"),
    include_str!("properties.rs"),
    include_str!("spec_coverage.rs"),
    // Rules proven next to the code that reads files and vendor answers.
    include_str!("../../app/src/config_file.rs"),
    include_str!("../../crm/src/salesforce/error.rs"),
    include_str!("../../crm/src/hubspot/classify.rs"),
];

/// The backticked names in the table rows' last column.
fn named_tests() -> Vec<String> {
    COVERAGE
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---") && !l.starts_with("| rule"))
        .filter_map(|l| l.trim_end_matches('|').rsplit('|').next())
        .flat_map(|cell| {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(|name| name.rsplit("::").next().unwrap_or(name).to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn every_test_named_in_the_spec_coverage_document_exists() {
    let names = named_tests();
    assert!(names.len() > 80, "only {} names found", names.len());
    let missing: Vec<&String> =
        names.iter().filter(|n| !SOURCES.iter().any(|s| s.contains(&format!("fn {n}(")))).collect();
    assert!(missing.is_empty(), "named in docs/spec-coverage.md but not found: {missing:?}");
}
