#!/usr/bin/env bash
# Runs every fuzz target of the module for the given time each (default 10s).
# `make fuzz` runs it long; `make test` runs a short pass (FUZZTIME_CI, a
# count of inputs such as 1000x: a time limit can end a slow target in the
# middle of an input, which go test reports as a failure).
# A crash fails the run; the failing input is kept in the package's
# testdata/fuzz/ directory, where `go test` replays it from then on.
set -euo pipefail
t=${1:-10s}
cd "$(dirname "$0")/.."
start=$SECONDS
log=$(mktemp)
trap 'rm -f "$log"' EXIT
n=0
for dir in $(grep -rl --include='*_test.go' '^func Fuzz' . | grep -v node_modules | xargs -n1 dirname | sort -u); do
  for f in $(grep -h '^func Fuzz' "$dir"/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do
    echo "fuzz $dir $f ($t)"
    go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" "$dir" >"$log" 2>&1 || { cat "$log"; exit 1; }
    n=$((n + 1))
  done
done
echo "fuzz: $n targets, $t each, $((SECONDS - start)) s"
