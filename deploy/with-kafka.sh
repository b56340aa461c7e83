#!/usr/bin/env bash
# Run a command with a Kafka broker available: start the local one if none is
# up, and stop it afterwards only if this script started it. With
# KAFKA_BOOTSTRAP_SERVERS set, the external broker is used and nothing starts.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kafka="$here/kafka/kafka.sh"
started=0
if [[ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]] && ! "$kafka" status >/dev/null 2>&1; then
  "$kafka" up || exit 1
  started=1
fi
cleanup() { if [[ $started == 1 ]]; then "$kafka" down; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM
"$@"
