#!/usr/bin/env bash
# Apache Kafka, one KRaft node (broker + controller) on 127.0.0.1, from Maven Central:
#   bash scripts/infra/kafka.sh up|down
# `org.apache.kafka:kafka_2.13` and its runtime dependencies (plus the slf4j → log4j2 binding) are
# copied by Maven into $TAILSAMPLER_CACHE/kafka-<version>/libs once; the broker runs from that
# classpath with its main class, state under $TAILSAMPLER_INFRA_DIR/kafka (removed by `down`).
# Env file: TAILSAMPLER_KAFKA_BROKERS=127.0.0.1:<port>.
# Knobs: TAILSAMPLER_KAFKA_VERSION (4.4.0), TAILSAMPLER_KAFKA_PORT (9092),
#        TAILSAMPLER_KAFKA_CONTROLLER_PORT (9093), TAILSAMPLER_KAFKA_HEAP (512m).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/infra/lib.sh
INFRA_COMPONENT=kafka

VERSION="${TAILSAMPLER_KAFKA_VERSION:-4.4.0}"
PORT="${TAILSAMPLER_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${TAILSAMPLER_KAFKA_CONTROLLER_PORT:-9093}"
HEAP="${TAILSAMPLER_KAFKA_HEAP:-512m}"
INSTALL="$TAILSAMPLER_CACHE/kafka-$VERSION"
STATE="$TAILSAMPLER_INFRA_DIR/kafka"
PIDFILE="$STATE/kafka.pid"
LOG="$STATE/kafka.log"

install_kafka() {
  [ -f "$INSTALL/libs/.complete" ] && return 0
  command -v java >/dev/null || infra_fail "java not found (Java 17+ is needed)"
  command -v mvn >/dev/null || infra_fail "mvn not found (Maven resolves Kafka from Maven Central)"
  infra_log "installing Apache Kafka $VERSION from Maven Central into $INSTALL"
  mkdir -p "$INSTALL"
  cat >"$INSTALL/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>tailsampler.infra</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>$VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$VERSION</version></dependency>
  </dependencies>
</project>
EOF
  rm -rf "$INSTALL/libs.tmp"
  if ! mvn -q -B -f "$INSTALL/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$INSTALL/libs.tmp" >"$INSTALL/mvn.log" 2>&1; then
    tail -n 40 "$INSTALL/mvn.log" >&2 || true
    infra_fail "maven could not resolve org.apache.kafka:kafka_2.13:$VERSION (log: $INSTALL/mvn.log)"
  fi
  ls "$INSTALL/libs.tmp"/kafka_2.13-"$VERSION".jar >/dev/null || infra_fail "kafka_2.13-$VERSION.jar missing after copy"
  # Kafka logs through slf4j 1.7 and brings log4j2 (kafka-server); the binding between the two is the
  # log4j-slf4j-impl of that same log4j version.
  local core log4j
  core=$(ls "$INSTALL/libs.tmp"/log4j-core-*.jar 2>/dev/null | head -n 1)
  [ -n "$core" ] || infra_fail "no log4j-core among Kafka $VERSION's dependencies; cannot pick the slf4j binding"
  log4j=$(basename "$core" .jar)
  log4j=${log4j#log4j-core-}
  if ! mvn -q -B -f "$INSTALL/pom.xml" dependency:copy -Dartifact="org.apache.logging.log4j:log4j-slf4j-impl:$log4j" \
      -DoutputDirectory="$INSTALL/libs.tmp" >>"$INSTALL/mvn.log" 2>&1; then
    tail -n 40 "$INSTALL/mvn.log" >&2 || true
    infra_fail "maven could not resolve org.apache.logging.log4j:log4j-slf4j-impl:$log4j (log: $INSTALL/mvn.log)"
  fi
  rm -rf "$INSTALL/libs"
  mv "$INSTALL/libs.tmp" "$INSTALL/libs"
  touch "$INSTALL/libs/.complete"
}

# Sends a Metadata v4 request (all topics) over bash's /dev/tcp and succeeds when the answer carries
# our correlation id and at least one broker: the broker is registered and serving, not just listening.
metadata_ok() {
  local reply
  reply=$(
    exec 3<>"/dev/tcp/127.0.0.1/$PORT" || exit 1
    # size 20 | api_key 3 | api_version 4 | correlation_id 0x7a7a7a7a | client_id "probe" | topics null | allow_auto_topic_creation false
    printf '\x00\x00\x00\x14\x00\x03\x00\x04\x7a\x7a\x7a\x7a\x00\x05probe\xff\xff\xff\xff\x00' >&3
    timeout 5 head -c 16 <&3 | od -An -v -tx1 | tr -d ' \n'
  ) 2>/dev/null || return 1
  # bytes: size(4) correlation_id(4) throttle_time_ms(4) brokers count(4)
  [ "${#reply}" -eq 32 ] && [ "${reply:8:8}" = "7a7a7a7a" ] && [ $((16#${reply:24:8})) -ge 1 ] && [ $((16#${reply:24:8})) -lt 1000 ]
}

wait_ready() {
  local i
  infra_wait_port "$PORT" 120 "$PIDFILE" "$LOG"
  for ((i = 0; i < 240; i++)); do
    metadata_ok && return 0
    infra_running "$PIDFILE" || { tail -n 40 "$LOG" >&2 || true; infra_fail "kafka exited before answering metadata (log: $LOG)"; }
    sleep 0.25
  done
  tail -n 40 "$LOG" >&2 || true
  infra_fail "kafka listens on $PORT but answers no metadata request after 60s (log: $LOG)"
}

write_env() {
  printf 'TAILSAMPLER_KAFKA_BROKERS=127.0.0.1:%s\n' "$PORT" >"$STATE/env"
}

up() {
  install_kafka
  mkdir -p "$STATE"
  if infra_running "$PIDFILE" && metadata_ok; then
    write_env
    infra_log "already running on 127.0.0.1:$PORT"
    return 0
  fi
  infra_stop "$PIDFILE"
  infra_port_free "$PORT" || infra_fail "port $PORT is taken by another process (set TAILSAMPLER_KAFKA_PORT)"
  infra_port_free "$CONTROLLER_PORT" || infra_fail "port $CONTROLLER_PORT is taken by another process (set TAILSAMPLER_KAFKA_CONTROLLER_PORT)"
  rm -rf "$STATE/data" "$STATE/env"
  mkdir -p "$STATE/data"

  cat >"$STATE/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$STATE/data
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.io.threads=2
num.network.threads=2
num.recovery.threads.per.data.dir=1
log.cleaner.threads=1
EOF
  cat >"$STATE/log4j2.properties" <<'EOF'
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.console.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
logger.apache.name = org.apache.kafka
logger.apache.level = warn
EOF
  local java_opts=(-Xms128m "-Xmx$HEAP" -XX:+UseSerialGC -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$STATE/log4j2.properties" -cp "$INSTALL/libs/*")
  # A Kafka cluster id is 16 random bytes in URL-safe base64 without padding (22 characters). One that
  # starts with '-' reads as an option to `format -t` (about 1 draw in 64); Kafka's own Uuid.randomUuid
  # draws again in that case, and so do we.
  local cluster_id=-
  while [[ $cluster_id == -* ]]; do
    cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
  done
  if ! java "${java_opts[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$STATE/server.properties" >"$STATE/format.log" 2>&1; then
    cat "$STATE/format.log" >&2 || true
    infra_fail "formatting the KRaft storage failed (log: $STATE/format.log)"
  fi
  : >"$LOG"
  infra_start "$PIDFILE" "$LOG" java "${java_opts[@]}" kafka.Kafka "$STATE/server.properties"
  wait_ready
  write_env
  infra_log "Apache Kafka $VERSION ready on 127.0.0.1:$PORT (controller 127.0.0.1:$CONTROLLER_PORT)"
}

down() {
  infra_down "$PIDFILE" "$STATE" "$PORT" "$CONTROLLER_PORT"
}

infra_main "$@"
