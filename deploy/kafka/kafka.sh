#!/usr/bin/env bash
# Local single-node Apache Kafka 4.x (KRaft, broker+controller in one JVM),
# run from Maven Central jars resolved by ./pom.xml.
#
#   kafka.sh up      resolve jars if needed, format storage once, start, wait until ready
#   kafka.sh down    stop the broker this script started (no-op if none)
#   kafka.sh status  exit 0 if the broker answers on its port
#
# Idempotent: `up` on a running broker and `down` on a stopped one do nothing.
# If KAFKA_BOOTSTRAP_SERVERS is set, an external broker is in use and this
# script starts and stops nothing.
#
# Environment: KAFKA_PORT (default 9092), KAFKA_CONTROLLER_PORT (9093),
# TOKENMETER_VAR (runtime folder, default <repo>/var).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
var="${TOKENMETER_VAR:-$repo/var}"
port="${KAFKA_PORT:-9092}"
cport="${KAFKA_CONTROLLER_PORT:-9093}"
data="$var/kafka"
lib="$here/target/lib"
pidfile="$data/kafka.pid"
props="$data/server.properties"
log="$data/kafka.log"

die() { echo "kafka.sh: $*" >&2; exit 1; }

external() {
  if [[ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
    echo "kafka.sh: KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS is set; using that broker, starting nothing"
    return 0
  fi
  return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

running() { [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

check_java() {
  command -v java >/dev/null || die "Java 17+ is required (not found on PATH). Debian: apt-get install openjdk-17-jre-headless"
  local v
  v="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)"
  [[ -n "$v" && "$v" -ge 17 ]] || die "Java 17+ is required; found '$(java -version 2>&1 | head -1)'"
}

fetch_jars() {
  if [[ -f "$lib/.complete" ]]; then return 0; fi
  command -v mvn >/dev/null || die "Maven is required to fetch the Kafka jars (not found on PATH). Debian: apt-get install maven"
  echo "kafka.sh: resolving Apache Kafka jars from Maven Central (first run only)..."
  (cd "$here" && mvn -q -B dependency:copy-dependencies -DoutputDirectory=target/lib -DincludeScope=runtime) \
    || die "mvn could not resolve the Kafka jars (see output above)"
  touch "$lib/.complete"
}

write_props() {
  mkdir -p "$data/logs"
  # Optional SASL/PLAIN listener (tests of secured clients): KAFKA_SASL_PORT and
  # KAFKA_SASL_USERS="user:password,..."; the PLAINTEXT listener stays for the broker itself.
  local listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
  local advertised="PLAINTEXT://127.0.0.1:$port"
  local protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  local sasl=""
  if [[ -n "${KAFKA_SASL_PORT:-}" ]]; then
    [[ -n "${KAFKA_SASL_USERS:-}" ]] || die "KAFKA_SASL_PORT needs KAFKA_SASL_USERS=user:password,..."
    listeners="$listeners,SASL_PLAINTEXT://127.0.0.1:$KAFKA_SASL_PORT"
    advertised="$advertised,SASL_PLAINTEXT://127.0.0.1:$KAFKA_SASL_PORT"
    protocols="$protocols,SASL_PLAINTEXT:SASL_PLAINTEXT"
    local users="" pair
    for pair in ${KAFKA_SASL_USERS//,/ }; do users="$users user_${pair%%:*}=\"${pair#*:}\""; done
    sasl="sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required$users;"
  fi
  # Optional mutual-TLS listener: KAFKA_SSL_PORT, KAFKA_SSL_KEYSTORE_PEM (the broker's unencrypted
  # private key and certificate chain in one PEM file) and KAFKA_SSL_TRUSTSTORE_PEM (the CA that
  # signs client certificates; clients must present one).
  local tls=""
  if [[ -n "${KAFKA_SSL_PORT:-}" ]]; then
    [[ -f "${KAFKA_SSL_KEYSTORE_PEM:-}" && -f "${KAFKA_SSL_TRUSTSTORE_PEM:-}" ]] \
      || die "KAFKA_SSL_PORT needs KAFKA_SSL_KEYSTORE_PEM and KAFKA_SSL_TRUSTSTORE_PEM (PEM files)"
    listeners="$listeners,SSL://127.0.0.1:$KAFKA_SSL_PORT"
    advertised="$advertised,SSL://127.0.0.1:$KAFKA_SSL_PORT"
    protocols="$protocols,SSL:SSL"
    tls="listener.name.ssl.ssl.keystore.type=PEM
listener.name.ssl.ssl.keystore.location=$KAFKA_SSL_KEYSTORE_PEM
listener.name.ssl.ssl.truststore.type=PEM
listener.name.ssl.ssl.truststore.location=$KAFKA_SSL_TRUSTSTORE_PEM
listener.name.ssl.ssl.client.auth=required"
  fi
  cat > "$props" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
listener.security.protocol.map=$protocols
inter.broker.listener.name=PLAINTEXT
$sasl
$tls
log.dirs=$data/logs
num.partitions=8
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
PROPS
}

up() {
  external && return 0
  if running; then echo "kafka.sh: already running (pid $(cat "$pidfile")) on 127.0.0.1:$port"; return 0; fi
  if port_open; then die "port $port is taken by another process; stop it or set KAFKA_PORT / KAFKA_BOOTSTRAP_SERVERS"; fi
  check_java
  fetch_jars
  write_props
  local cp="$lib/*"
  if [[ ! -f "$data/logs/meta.properties" ]]; then
    local cid
    cid="$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)"
    java -Dlog4j2.configurationFile="$here/log4j2.properties" -cp "$cp" \
      kafka.tools.StorageTool format --standalone -t "$cid" -c "$props" >"$data/format.log" 2>&1 \
      || { cat "$data/format.log" >&2; die "storage format failed"; }
  fi
  echo "kafka.sh: starting broker on 127.0.0.1:$port (log: $log)"
  KAFKA_LOG_DIR="$data" nohup java -Xms256m -Xmx1g -XX:+UseG1GC \
    -Dlog4j2.configurationFile="$here/log4j2.properties" -Dkafka.logs.dir="$data" \
    -cp "$cp" kafka.Kafka "$props" >"$log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 120); do
    if ! running; then tail -40 "$log" >&2; die "broker exited during start-up"; fi
    if port_open && grep -q "Kafka Server started\|KafkaRaftServer.*started\|Transitioning from RECOVERY to RUNNING" "$log"; then
      echo "kafka.sh: ready on 127.0.0.1:$port"
      return 0
    fi
    sleep 0.5
  done
  tail -40 "$log" >&2
  die "broker not ready after 60 s"
}

down() {
  external && return 0
  if ! running; then rm -f "$pidfile"; echo "kafka.sh: not running"; return 0; fi
  local pid; pid="$(cat "$pidfile")"
  kill "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; echo "kafka.sh: stopped"; return 0; }
    sleep 0.5
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  echo "kafka.sh: killed after 30 s"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) external || { port_open && echo "kafka.sh: up on 127.0.0.1:$port" || { echo "kafka.sh: down"; exit 1; }; } ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
