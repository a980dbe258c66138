#!/usr/bin/env bash
# Checks template.yaml offline with the tools scripts/tools.sh installs:
# cfn-lint (CloudFormation resource schemas and best practices) and
# `sam validate --lint` (the SAM transform). Both must pass.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
venv="$root/.tools/venv/bin"
if [ ! -x "$venv/cfn-lint" ] || [ ! -x "$venv/sam" ]; then
  scripts/tools.sh
fi

echo "check-template: cfn-lint" >&2
"$venv/cfn-lint" template.yaml

echo "check-template: sam validate --lint" >&2
# Offline: the region only names the resource schemas; no AWS call is made.
# Telemetry off so that the check never reaches out.
AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 \
  "$venv/sam" validate --lint --template-file template.yaml
echo "check-template: ok" >&2
