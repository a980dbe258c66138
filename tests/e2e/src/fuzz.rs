//! A small, seeded fuzzer over arbitrary bytes for the parsers and the
//! webhook endpoints (`tests/fuzz.rs`).
//!
//! Each target has a corpus of inputs kept in the repository
//! (`tests/e2e/fuzz/<target>/`): well-formed samples and every input that
//! once broke something. A run feeds each corpus file as it is, then
//! `FUZZ_CASES` generated inputs (default per target): arbitrary bytes, or a
//! corpus file mutated a few times (bits flipped, bytes inserted, removed,
//! duplicated, spliced from another file, cut short, or a token that parsers
//! find hard dropped in). Generation is seeded (`FUZZ_SEED`, default fixed),
//! so a run is repeatable. A failing input is shrunk by proptest, written to
//! `target/fuzz-failures/`, and the failure names the seed and the file to
//! add to the corpus once fixed.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use std::path::{Path, PathBuf};

/// Tokens that break naive parsers: delimiters, entities, huge numbers,
/// control and multi-byte characters, nesting openers.
const TOKENS: &[&[u8]] = &[
    b"<",
    b">",
    b"</",
    b"/>",
    b"\"",
    b"'",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"&",
    b"&amp;",
    b"&#0;",
    b"&#x110000;",
    b"&unknown;",
    b"<![CDATA[",
    b"]]>",
    b"<!DOCTYPE x [<!ENTITY a \"aaaa\">]>",
    b"<?xml version=\"1.0\"?>",
    b"xsi:nil=\"true\"",
    b"null",
    b"true",
    b"-1",
    b"0",
    b"1e400",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"\\u0000",
    b"\\ud800",
    b"\0",
    b"\xff\xfe",
    b"\xc3\x28",
    b"\xf0\x9f\x92\xa9",
    b"\n",
    b"\r\n",
    b"\t",
    b"- ",
    b"? ",
    b"*a",
    b"&a",
    b"!!binary",
    b"%YAML 1.2\n",
    b"---\n",
];

/// One change to an input. Positions are taken modulo the input's length.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    Insert(Index, Vec<u8>),
    Remove(Index, usize),
    Duplicate(Index, usize),
    Splice(Index, Index, Index, usize),
    CutAt(Index),
    Token(Index, Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit(at, bit)),
        2 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(at, b)| Mutation::Insert(at, b)),
        2 => (any::<Index>(), 1usize..64).prop_map(|(at, n)| Mutation::Remove(at, n)),
        1 => (any::<Index>(), 1usize..256).prop_map(|(at, n)| Mutation::Duplicate(at, n)),
        1 => (any::<Index>(), any::<Index>(), any::<Index>(), 1usize..128)
            .prop_map(|(at, file, from, n)| Mutation::Splice(at, file, from, n)),
        1 => any::<Index>().prop_map(Mutation::CutAt),
        3 => (any::<Index>(), any::<Index>()).prop_map(|(at, token)| Mutation::Token(at, token)),
    ]
}

fn at(index: &Index, input: &[u8]) -> usize {
    index.index(input.len() + 1)
}

fn apply(mut input: Vec<u8>, mutation: &Mutation, corpus: &[Vec<u8>]) -> Vec<u8> {
    match mutation {
        Mutation::FlipBit(i, bit) if !input.is_empty() => {
            let i = i.index(input.len());
            input[i] ^= 1 << bit;
        }
        Mutation::FlipBit(..) => {}
        Mutation::Insert(i, bytes) => {
            let i = at(i, &input);
            input.splice(i..i, bytes.iter().copied());
        }
        Mutation::Remove(i, n) => {
            let i = at(i, &input);
            let end = (i + n).min(input.len());
            input.drain(i..end);
        }
        Mutation::Duplicate(i, n) => {
            let i = at(i, &input);
            let end = (i + n).min(input.len());
            let copy = input[i..end].to_vec();
            input.splice(i..i, copy);
        }
        Mutation::Splice(i, file, from, n) => {
            let other = &corpus[file.index(corpus.len())];
            let start = at(from, other).min(other.len());
            let end = (start + n).min(other.len());
            let i = at(i, &input);
            input.splice(i..i, other[start..end].iter().copied());
        }
        Mutation::CutAt(i) => {
            let i = at(i, &input);
            input.truncate(i);
        }
        Mutation::Token(i, token) => {
            let i = at(i, &input);
            let token = TOKENS[token.index(TOKENS.len())];
            input.splice(i..i, token.iter().copied());
        }
    }
    input
}

/// Arbitrary bytes, or a corpus file with one to eight mutations.
pub fn inputs(corpus: Vec<Vec<u8>>) -> BoxedStrategy<Vec<u8>> {
    let seeds = corpus.clone();
    let mutated = (any::<Index>(), prop::collection::vec(mutation(), 1..8)).prop_map(move |(file, mutations)| {
        let start = seeds[file.index(seeds.len())].clone();
        mutations.iter().fold(start, |input, m| apply(input, m, &seeds))
    });
    if corpus.is_empty() {
        return prop::collection::vec(any::<u8>(), 0..2048).boxed();
    }
    prop_oneof![1 => prop::collection::vec(any::<u8>(), 0..2048), 4 => mutated].boxed()
}

/// The corpus directory of a target.
pub fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(target)
}

/// Every file of a target's corpus, in name order.
pub fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the corpus {} cannot be read: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_file())
        .map(|entry| {
            let bytes = std::fs::read(entry.path()).unwrap_or_default();
            (entry.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    files.sort();
    files
}

/// How many generated inputs a run feeds a target.
pub fn cases(default: u32) -> u32 {
    std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The run's seed: `FUZZ_SEED`, or a fixed one.
pub fn seed() -> u64 {
    std::env::var("FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(20_261_202)
}

/// Runs one target: the corpus as it is, then the generated inputs. `check`
/// says what is wrong with the answer to one input, if anything; a panic
/// counts as wrong too.
pub fn run(target: &str, default_cases: u32, check: impl Fn(&[u8]) -> Result<(), String>) {
    let corpus = corpus(target);
    assert!(!corpus.is_empty(), "the corpus of {target} is empty");
    for (name, bytes) in &corpus {
        if let Err(why) = check(bytes) {
            panic!("{target}: corpus file {name}: {why}");
        }
    }
    let seed = seed();
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..8 + target.len().min(24)].copy_from_slice(&target.as_bytes()[..target.len().min(24)]);
    let config = Config { cases: cases(default_cases), failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &key));
    let strategy = inputs(corpus.into_iter().map(|(_, bytes)| bytes).collect());
    let outcome = runner.run(&strategy, |input| check(&input).map_err(TestCaseError::fail));
    if let Err(failure) = outcome {
        let (why, input) = match failure {
            proptest::test_runner::TestError::Fail(why, input) => (why.to_string(), input),
            proptest::test_runner::TestError::Abort(why) => panic!("{target}: the run stopped: {why}"),
        };
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap_or(Path::new("."));
        let dir = root.join("target").join("fuzz-failures");
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join(format!("{target}-{seed}"));
        let _ = std::fs::write(&file, &input);
        panic!(
            "{target} (FUZZ_SEED={seed}): {why}\ninput ({} bytes, shrunk): {:?}\nwritten to {}; once fixed, copy it \
             into {} so that every run checks it",
            input.len(),
            String::from_utf8_lossy(&input[..input.len().min(400)]),
            file.display(),
            corpus_dir(target).display()
        );
    }
}
