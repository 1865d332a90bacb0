#!/usr/bin/env bash
# Builds influxd 1.8.10 (the InfluxDB the hub's integration tests start) into
# $(go env GOPATH)/bin, outside the checkout so that a fresh clone on the same
# machine finds it (INFLUXD_BIN_DIR overrides). Idempotent: it does nothing
# when the binary is already there or in the repository's .cache/bin. The
# build takes four to nine minutes on a 2-core machine. internal/influxtest
# finds the binary through $INFLUXD, PATH, .cache/bin or $GOPATH/bin.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${INFLUXD_BIN_DIR:-$(go env GOPATH)/bin}"
want="v1.8.10"

# go install leaves the version string "unknown": the binary's presence is the test.
for have in "$bin/influxd" "$root/.cache/bin/influxd"; do
  if [ -x "$have" ]; then
    echo "install-influxd: $have already installed"
    exit 0
  fi
done
mkdir -p "$bin"
echo "install-influxd: building influxd $want into $bin (takes a few minutes)"
# pkg@version ignores the repository's go.mod; CGO off for a static binary.
CGO_ENABLED=0 GOBIN="$bin" go install "github.com/influxdata/influxdb/cmd/influxd@$want"
echo "install-influxd: $bin/influxd"
