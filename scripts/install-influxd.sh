#!/usr/bin/env bash
# Builds influxd 1.8.10 (the InfluxDB the hub's integration tests start) into
# .cache/bin under the repository, which git ignores. Idempotent: it does
# nothing when the binary is already there. The build takes about four
# minutes on a 2-core machine. internal/influxtest finds the binary there,
# or through $INFLUXD or PATH.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/.cache/bin"
want="v1.8.10"

# go install leaves the version string "unknown": the binary's presence is the test.
if [ -x "$bin/influxd" ]; then
  echo "install-influxd: $bin/influxd already installed"
  exit 0
fi
mkdir -p "$bin"
echo "install-influxd: building influxd $want into $bin (takes a few minutes)"
# pkg@version ignores the repository's go.mod; CGO off for a static binary.
CGO_ENABLED=0 GOBIN="$bin" go install "github.com/influxdata/influxdb/cmd/influxd@$want"
echo "install-influxd: $bin/influxd"
