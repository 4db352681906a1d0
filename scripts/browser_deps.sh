#!/usr/bin/env bash
# Installs the browser tests' npm packages (playwright-core, pinned in
# tests/browser/package-lock.json) with `npm ci`. Idempotent: skipped when
# node_modules was installed from the same lock file. Chromium itself is
# Debian's (scripts/deps.sh); playwright-core never downloads a browser.
set -euo pipefail
cd "$(dirname "$0")/../tests/browser"

stamp=node_modules/.sse-bridge-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d node_modules/playwright-core ]; then
  echo "browser deps: node_modules matches package-lock.json"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "browser deps: npm not found (scripts/deps.sh installs it)" >&2
  exit 1
fi
echo "browser deps: npm ci in tests/browser"
# No browser download (we use /usr/bin/chromium), no audit or funding calls.
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 timeout 600 npm ci --no-audit --no-fund --loglevel=error
echo "$want" > "$stamp"
