#!/usr/bin/env bash
# Installs, idempotently, what the UI browser tests (hub/ui/browsertest)
# need: Debian's chromium package and, with npm ci, the pinned
# playwright-core of hub/ui/package-lock.json. Playwright never downloads a
# browser here: the tests launch /usr/bin/chromium. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
  echo "install-browser: installing chromium from Debian's packages"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-browser: need root or sudo to apt-get install chromium" >&2; exit 1; }
    SUDO=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

command -v npm >/dev/null 2>&1 || { echo "install-browser: npm is missing (apt-get install npm)" >&2; exit 1; }
lock=hub/ui/package-lock.json
stamp=hub/ui/node_modules/.millwright-lock
if [ -f "$stamp" ] && cmp -s "$lock" "$stamp"; then
  :
else
  echo "install-browser: npm ci in hub/ui"
  (cd hub/ui && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  cp "$lock" "$stamp"
fi
echo "install-browser: $(/usr/bin/chromium --version 2>/dev/null || echo 'chromium ?'), playwright-core $(node -p 'require("./hub/ui/node_modules/playwright-core/package.json").version')"
