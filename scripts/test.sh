#!/usr/bin/env bash
# Every test of the project, from a fresh clone: installs its tools, starts the
# local AWS emulators on loopback, runs the Rust tests (unit, property, client,
# sandbox, contract on both adapter sets, end-to-end, Lambda handlers), the
# conformance checks with the official CRM client libraries, and the SAM
# template checks; formatting (cargo fmt) is checked first, lints (clippy,
# warnings denied) right after the build; stops the emulators on the way out.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

cargo fmt --all --check
scripts/tools.sh

# shellcheck source=scripts/emulators.sh
source scripts/emulators.sh
emulators_start
trap emulators_stop EXIT

cargo build --workspace --all-targets --locked
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked --no-fail-fast
tests/conformance/run.sh
scripts/check-template.sh
echo "all tests passed"
