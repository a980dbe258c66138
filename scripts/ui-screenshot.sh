#!/usr/bin/env bash
# Refreshes docs/sync-health.png, the README's picture of the sync-health
# page: runs the browser test (headless Chromium over a seeded store), which
# saves a screenshot where CRM_SYNC_UI_SCREENSHOT points.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
command -v chromium >/dev/null && command -v chromedriver >/dev/null || scripts/tools.sh
CRM_SYNC_UI_SCREENSHOT="$root/docs/sync-health.png" \
  cargo test -p crm-sync-e2e --test ui_browser --locked -- --nocapture
echo "wrote docs/sync-health.png"
