#!/usr/bin/env bash
# Installs, idempotently, what `make test` needs beyond Go: Mosquitto from
# Debian's packages, influxd 1.8.10 (scripts/install-influxd.sh), Chromium and
# playwright-core (scripts/install-browser.sh). Safe to run again: it installs only what is missing.
set -euo pipefail

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "install-test-deps: installing ${need_apt[*]} from Debian's packages"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-test-deps: need root or sudo to apt-get install ${need_apt[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # Debian starts the packaged service; tests start their own brokers.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
    $SUDO systemctl stop mosquitto || true
  fi
fi
# InfluxDB 1.8.10 for the hub's metrics tests, built from source by go install.
"$(dirname "$0")/install-influxd.sh"
# Chromium and playwright-core for the UI's browser tests.
"$(dirname "$0")/install-browser.sh"

echo "install-test-deps: mosquitto $( (mosquitto -h 2>/dev/null || /usr/sbin/mosquitto -h 2>/dev/null) | head -1 | awk '{print $3}')"
