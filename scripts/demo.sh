#!/usr/bin/env bash
# Runs the whole system on one machine with embedded defaults: the hub (with
# its embedded MQTT broker, store and web UI), firmware-sim with two gateways
# of three machines, and one agent per gateway. State lives in .demo/, so a
# second run resumes where the first stopped. Ctrl-C stops everything:
# producers first (simulator), then the agents (they flush their outbox and
# snapshot their models), then the hub.
#
# Environment: MW_HTTP (default 127.0.0.1:8080), MW_MQTT (127.0.0.1:1883),
# MW_STATE (.demo), MW_SPEED (simulator time compression, 1), MW_RATE
# (readings per machine per second, 10), MW_FAULT_ONSET (when gw1/motor-1
# starts to fail, 45s).
set -euo pipefail
# Job control puts each component in a process group of its own, so a Ctrl-C
# on the terminal reaches only this script, which then stops the components
# in order.
set -m
cd "$(dirname "$0")/.."

http=${MW_HTTP:-127.0.0.1:8080}
mqtt=${MW_MQTT:-127.0.0.1:1883}
state=${MW_STATE:-.demo}
speed=${MW_SPEED:-1}
rate=${MW_RATE:-10}
onset=${MW_FAULT_ONSET:-45s}
broker="tcp://$mqtt"
mkdir -p "$state/logs"

pids=()
stopping=""
stop() {
  stopping=1
  trap - INT TERM EXIT
  echo
  echo "demo: stopping (simulator, agents, then hub)…"
  # Reverse start order: the simulator, then the agents, then the hub.
  for ((i=${#pids[@]}-1; i>=0; i--)); do
    kill -INT "${pids[$i]}" 2>/dev/null || true
    wait "${pids[$i]}" 2>/dev/null || true
  done
  echo "demo: stopped; state kept in $state/ (run 'make demo' again to resume, 'make clean' to forget)"
}
trap stop INT TERM EXIT

bin/hub serve --data "$state/hub" --http "$http" --mqtt "$mqtt" --status-every 5s &
pids+=($!)

# Wait for the hub's health endpoint before starting its clients.
for _ in $(seq 1 100); do
  if curl -fsS "http://$http/healthz" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
curl -fsS "http://$http/healthz" >/dev/null || { echo "demo: hub did not become healthy on http://$http" >&2; exit 1; }

# The hub signs every command it sends with a key it made at its first start;
# the agents trust the hub's public keys and refuse anything unsigned.
trusted="$state/hub/keys/trusted.pem"
[ -f "$trusted" ] || { echo "demo: the hub wrote no signing keys ($trusted)" >&2; exit 1; }
printf 'signing:\n  required: true\n  trusted_keys: [%s]\n' "$trusted" >"$state/agent-signing.yaml"

for gw in gw1 gw2; do
  port=$((9100 + ${gw#gw}))
  bin/agent run --config "$state/agent-signing.yaml" --gateway "$gw" --broker "$broker" --state "$state/agent-$gw" --http "127.0.0.1:$port" \
    >>"$state/logs/agent-$gw.log" 2>&1 &
  pids+=($!)
done

bin/firmware-sim --broker "$broker" --speed "$speed" --rate "$rate" --fault-onset "$onset" --labels-out "$state/labels.json" \
  >>"$state/logs/firmware-sim.log" 2>&1 &
pids+=($!)

echo "demo: Millwright is running — open http://$http and log in with a user printed above"
echo "demo: (logins also in $state/hub/demo-logins.txt; logs in $state/logs/; Ctrl-C to stop)"
wait -n "${pids[@]}" || true
[ -n "$stopping" ] || echo "demo: a component exited; see $state/logs/" >&2
