//! Keeps `docs/spec-coverage.md` honest. Every row of its tables names the
//! runtime code that applies a SPEC rule and the end-to-end or model tests
//! that would fail without it, each as `path::function` from the repository
//! root. This test checks that every runtime reference is a function outside
//! test code, and that every test reference is a test function in one of the
//! suites that drive the product through its own doors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

/// Where tests that count as end-to-end or model tests live.
const TEST_SUITES: [&str; 2] = ["tests/e2e/tests/", "cli/tests/"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One table row: the rule's text, its runtime references and its test references.
#[derive(Debug)]
struct Row {
    line: usize,
    rule: String,
    runtime: Vec<String>,
    tests: Vec<String>,
}

fn backticked(cell: &str) -> Vec<String> {
    cell.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// The rows of every `| rule | runtime | tests |` table.
fn rows(doc: &str) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let mut in_table = false;
    for (i, line) in doc.lines().enumerate() {
        let line = line.trim();
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.first() == Some(&"rule") {
            if cells != ["rule", "runtime", "tests"] {
                return Err(format!("line {}: a table's columns must be rule | runtime | tests", i + 1));
            }
            in_table = true;
            continue;
        }
        if !in_table || cells.iter().all(|c| c.chars().all(|ch| ch == '-' || ch == ':')) {
            continue;
        }
        if cells.len() != 3 {
            return Err(format!("line {}: expected 3 cells, found {}", i + 1, cells.len()));
        }
        rows.push(Row {
            line: i + 1,
            rule: cells[0].to_owned(),
            runtime: backticked(cells[1]),
            tests: backticked(cells[2]),
        });
    }
    Ok(rows)
}

/// Splits `path/to/file.rs::function` into the file and the function.
fn split_reference(reference: &str) -> Option<(&str, &str)> {
    let (path, function) = reference.rsplit_once("::")?;
    (path.ends_with(".rs") && !function.is_empty() && function.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some((path, function))
}

/// The code of a source file before its first inline `#[cfg(test)]` item
/// (the unit tests at the end of a file): what ships. A test module kept in
/// its own file (`#[cfg(test)] mod tests;`) does not end the shipped code.
fn shipped(source: &str) -> &str {
    let mut from = 0;
    while let Some(found) = source[from..].find("#[cfg(test)]") {
        let at = from + found;
        let after = source[at + "#[cfg(test)]".len()..].trim_start();
        let out_of_line = after
            .strip_prefix("mod ")
            .is_some_and(|rest| rest.find([';', '{']).is_some_and(|end| rest.as_bytes()[end] == b';'));
        if !out_of_line {
            return &source[..at];
        }
        from = at + 1;
    }
    source
}

/// Whether `function` is defined as `fn function(` or `fn function<`.
fn defines(source: &str, function: &str) -> Option<usize> {
    [format!("fn {function}("), format!("fn {function}<")].iter().filter_map(|p| source.find(p.as_str())).min()
}

/// Whether the function at `at` is preceded by a test attribute (only other
/// attributes, doc comments and `async`/`pub` may sit between).
fn is_test_at(source: &str, at: usize) -> bool {
    let line_start = source[..at].rfind('\n').map_or(0, |i| i + 1);
    for line in source[..line_start].lines().rev() {
        let line = line.trim();
        if line.starts_with("#[test]") || line.starts_with("#[tokio::test") {
            return true;
        }
        if !(line.starts_with("#[") || line.starts_with("///") || line.starts_with("//")) {
            return false;
        }
    }
    false
}

/// What is wrong with one runtime reference, if anything.
fn check_runtime(root: &Path, reference: &str) -> Option<String> {
    let Some((path, function)) = split_reference(reference) else {
        return Some(format!("`{reference}` is not `path/to/file.rs::function`"));
    };
    if path.contains("/tests/") || path.starts_with("tests/") || path.contains("/testing/") {
        return Some(format!("`{reference}` is test code, not runtime code"));
    }
    let Ok(source) = std::fs::read_to_string(root.join(path)) else {
        return Some(format!("`{reference}`: no file {path}"));
    };
    defines(shipped(&source), function).is_none().then(|| format!("`{reference}`: no fn {function} in shipped code"))
}

/// What is wrong with one test reference, if anything.
fn check_test(root: &Path, reference: &str) -> Option<String> {
    let Some((path, function)) = split_reference(reference) else {
        return Some(format!("`{reference}` is not `path/to/file.rs::test_name`"));
    };
    if !TEST_SUITES.iter().any(|suite| path.starts_with(suite)) {
        return Some(format!("`{reference}` is not in an end-to-end or model suite ({TEST_SUITES:?})"));
    }
    let Ok(source) = std::fs::read_to_string(root.join(path)) else {
        return Some(format!("`{reference}`: no file {path}"));
    };
    match defines(&source, function) {
        None => Some(format!("`{reference}`: no fn {function}")),
        Some(at) if !is_test_at(&source, at) => Some(format!("`{reference}`: fn {function} is not a test")),
        Some(_) => None,
    }
}

fn problems(root: &Path, doc: &str) -> Vec<String> {
    let rows = match rows(doc) {
        Ok(rows) => rows,
        Err(error) => return vec![error],
    };
    let mut problems = Vec::new();
    for row in &rows {
        if row.runtime.is_empty() || row.tests.is_empty() {
            problems.push(format!("line {} ({}): needs both runtime code and a test", row.line, row.rule));
        }
        problems.extend(
            row.runtime.iter().filter_map(|r| check_runtime(root, r)).map(|p| format!("line {}: {p}", row.line)),
        );
        problems
            .extend(row.tests.iter().filter_map(|t| check_test(root, t)).map(|p| format!("line {}: {p}", row.line)));
    }
    problems
}

#[test]
fn every_rule_in_the_spec_coverage_document_names_runtime_code_and_a_test_that_exist() {
    let root = repo_root();
    let doc = std::fs::read_to_string(root.join("docs/spec-coverage.md")).expect("docs/spec-coverage.md");
    let rows = rows(&doc).expect("tables");
    assert!(rows.len() >= 40, "only {} rules listed", rows.len());
    let problems = problems(&root, &doc);
    assert!(problems.is_empty(), "docs/spec-coverage.md:\n{}", problems.join("\n"));
}

#[test]
fn the_checker_refuses_test_code_as_runtime_and_plain_functions_as_tests() {
    let root = repo_root();
    let here = "tests/e2e/tests/spec_coverage.rs";
    let doc = format!(
        "| rule | runtime | tests |\n|---|---|---|\n\
         | a | `{here}::repo_root` | `{here}::repo_root` |\n\
         | b | `shared/domain/src/matching.rs::no_such_function` | `{here}::the_checker_refuses_test_code_as_runtime_and_plain_functions_as_tests` |\n\
         | c | `shared/domain/src/matching.rs::pick_salesforce_match` | |\n"
    );
    let found = problems(&root, &doc);
    assert!(found.iter().any(|p| p.contains("is test code")), "{found:?}");
    assert!(found.iter().any(|p| p.contains("fn repo_root is not a test")), "{found:?}");
    assert!(found.iter().any(|p| p.contains("no fn no_such_function")), "{found:?}");
    assert!(found.iter().any(|p| p.contains("needs both")), "{found:?}");
    assert_eq!(found.len(), 4, "{found:?}");
}

#[test]
fn a_function_only_defined_in_a_unit_test_module_is_not_runtime_code() {
    let source = "#[cfg(test)]\nmod other_tests;\npub fn shipped() {}\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn only_here() {}\n}\n";
    assert!(defines(shipped(source), "shipped").is_some());
    assert!(defines(shipped(source), "only_here").is_none());
    let at = defines(source, "only_here").unwrap();
    assert!(is_test_at(source, at));
}
