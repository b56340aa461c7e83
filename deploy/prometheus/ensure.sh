#!/usr/bin/env bash
# Make sure `promtool` and `prometheus` are on the PATH: the tests prove the alert rules and the
# dashboards against the real thing. Installs Debian's `prometheus` package when it can (root
# with apt-get); otherwise fails with the command to run. Never skips.
set -euo pipefail
if command -v promtool >/dev/null && command -v prometheus >/dev/null; then
  exit 0
fi
if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
  echo "ensure.sh: installing Debian's prometheus package (promtool and the server)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
  command -v promtool >/dev/null && exit 0
fi
echo "ensure.sh: Prometheus is not installed. Install it, then run the tests again:" >&2
echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends prometheus" >&2
exit 1
