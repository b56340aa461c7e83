#!/usr/bin/env bash
# `make run`: the embedded default. Starts the local Kafka broker (unless
# KAFKA_BOOTSTRAP_SERVERS is set or one is running), then the all-in-one
# tokenmeter process with a demo gateway load. Ctrl-C stops everything it started.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
port="${TOKENMETER_HTTP_PORT:-6066}"
api="${TOKENMETER_HTTP_API_PORT:-8080}"
cat <<MSG

  tokenmeter is starting (Kafka, meter, ClickHouse sink, pages on 127.0.0.1:$port, the HTTP API
  on 127.0.0.1:$api, demo load).
  Within a minute, in another terminal:

    watch -n 2 $repo/.venv/bin/tokenmeter totals        # rated per-tenant totals, refreshed
    curl -s 127.0.0.1:$port/v1/totals?tenant=demo-acme   # the same as JSON
    curl -s 127.0.0.1:$port/metrics | grep ^tokenmeter_  # Prometheus metrics
    curl -s '127.0.0.1:$api/v1/usage?tenant=demo-acme&from=2026-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&group_by=model'
    (sending events over HTTP: see the README, "The HTTP API")

  Ctrl-C stops everything this command started.

MSG
exec bash "$here/with-kafka.sh" "$repo/.venv/bin/tokenmeter" run --demo-rate "${DEMO_RATE:-50}"
