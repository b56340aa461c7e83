#!/usr/bin/env bash
# `make run`: the embedded default. Starts the local Kafka broker (unless
# KAFKA_BOOTSTRAP_SERVERS is set or one is running), then the all-in-one
# tokenmeter process with a demo gateway load. Ctrl-C stops everything it started.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
port="${TOKENMETER_HTTP_PORT:-6066}"
api="${TOKENMETER_HTTP_API_PORT:-8080}"
bin="$repo/.venv/bin/tokenmeter"
# A fresh admin API key for this demo, in var/demo-admin.key (the README's curls read it); the
# previous demo key is revoked, so only one exists at a time.
keyfile="$repo/var/demo-admin.key"
mkdir -p "$repo/var"
if [[ -s "$keyfile" ]]; then
  old="$(cut -d_ -f2 "$keyfile")"
  "$bin" keys revoke "$old" >/dev/null 2>&1 || true
fi
( umask 077; "$bin" keys create --role admin --name "make run demo" >"$keyfile" 2>/dev/null ) \
  || { echo "run.sh: could not create the demo API key" >&2; exit 1; }
cat <<MSG

  tokenmeter is starting (Kafka, meter, ClickHouse sink, pages on 127.0.0.1:$port, the HTTP API
  on 127.0.0.1:$api, demo load).
  Within a minute, in another terminal:

    watch -n 2 $repo/.venv/bin/tokenmeter totals        # rated per-tenant totals, refreshed
    curl -s 127.0.0.1:$port/v1/totals?tenant=demo-acme   # the same as JSON
    curl -s 127.0.0.1:$port/metrics | grep ^tokenmeter_  # Prometheus metrics
    curl -s -H "Authorization: Bearer \$(cat $keyfile)" \\
      '127.0.0.1:$api/v1/usage?tenant=demo-acme&from=2026-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&group_by=model'
    (an admin API key for the demo is in var/demo-admin.key; sending events over HTTP: README, "The HTTP API")

  Ctrl-C stops everything this command started.

MSG
exec bash "$here/with-kafka.sh" "$repo/.venv/bin/tokenmeter" run --demo-rate "${DEMO_RATE:-50}"
