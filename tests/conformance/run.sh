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

# The official client libraries and a Node recent enough for them (22+) are
# installed by scripts/tools.sh, which also repairs an interrupted install.
"$root/scripts/tools.sh"
node_bin="$("$root/scripts/tools.sh" --node)"

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
  --cert-out "$work/cert.pem" --sf-contacts 2500 --sf-bulk-polls 2 --seed-crm-sync-fields \
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
"$node_bin" "$here/hubspot.mjs" || status=1
if [ "$status" -ne 0 ]; then
  echo "conformance: sandbox log follows" >&2
  tail -n 50 "$work/log" >&2
fi
exit "$status"
