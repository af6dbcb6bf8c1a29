#!/usr/bin/env bash
# The local Apache Kafka broker for development and tests: one KRaft node (broker + controller) on 127.0.0.1.
#
#   scripts/kafka.sh up      resolve the jars (cached), format storage once, start, wait until it answers
#   scripts/kafka.sh down    stop exactly the process `up` started
#   scripts/kafka.sh status  say whether it runs
#
# Settings (environment): KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT+1), KAFKA_HOME (.kafka under the
# project), KAFKA_HEAP (512m). Jars go to $KAFKA_HOME/libs, data to $KAFKA_HOME/data, logs to $KAFKA_HOME/logs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
port=${KAFKA_PORT:-9092}
controller_port=${KAFKA_CONTROLLER_PORT:-$((port + 1))}
home=${KAFKA_HOME:-$root/.kafka}
heap=${KAFKA_HEAP:-512m}
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka/pom.xml")
libs=$home/libs/$version-$(cksum <"$here/kafka/pom.xml" | cut -d" " -f1)
data=$home/data-$port
logs=$home/logs
pidfile=$home/kafka-$port.pid
conf=$home/server-$port.properties

die() { echo "kafka.sh: $*" >&2; exit 1; }

need() {
  command -v java >/dev/null 2>&1 || die "Java 17+ is required to run the local Kafka broker, and 'java' is not on PATH (Debian: apt-get install openjdk-17-jre-headless)."
  command -v mvn >/dev/null 2>&1 || [ -f "$libs/.complete" ] || die "Maven is required once to fetch the Kafka $version jars, and 'mvn' is not on PATH (Debian: apt-get install maven)."
}

resolve() {
  [ -f "$libs/.complete" ] && return 0
  echo "kafka.sh: fetching Apache Kafka $version jars from Maven Central (once) ..." >&2
  mkdir -p "$libs"
  mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$libs" >"$home/mvn.log" 2>&1 \
    || die "Maven could not resolve the Kafka jars; see $home/mvn.log"
  touch "$libs/.complete"
}

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

kafka_java() { java -Xms"$heap" -Xmx"$heap" -Dlog4j2.configurationFile="$here/kafka/log4j2.yaml" \
  -Dkafka.logs.dir="$logs" -cp "$libs/*" "$@"; }

write_config() {
  cat >"$conf" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$data
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
auto.create.topics.enable=true
log.retention.hours=168
log.segment.bytes=67108864
message.max.bytes=16777216
replica.fetch.max.bytes=16777216
CONF
}

up() {
  need
  if running; then
    echo "kafka.sh: already running on 127.0.0.1:$port (pid $(cat "$pidfile"))" >&2
    return 0
  fi
  answers && die "something else already listens on 127.0.0.1:$port; set KAFKA_PORT to another port"
  mkdir -p "$home" "$logs"
  resolve
  write_config
  if [ ! -f "$data/meta.properties" ]; then
    kafka_java kafka.tools.StorageTool format --standalone -t "newsfeed-local-$port" -c "$conf" \
      >"$logs/format-$port.log" 2>&1 || die "formatting storage failed; see $logs/format-$port.log"
  fi
  nohup java -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -Dlog4j2.configurationFile="$here/kafka/log4j2.yaml" \
    -Dkafka.logs.dir="$logs" -cp "$libs/*" kafka.Kafka "$conf" >"$logs/server-$port.out" 2>&1 </dev/null &
  echo $! >"$pidfile"
  for _ in $(seq 1 600); do
    if ! running; then
      rm -f "$pidfile"
      die "the broker exited during start-up; see $logs/server-$port.out"
    fi
    if answers && grep -q "Kafka Server started" "$logs/server-$port.out" 2>/dev/null; then
      echo "kafka.sh: Kafka $version up on 127.0.0.1:$port (pid $(cat "$pidfile"))" >&2
      return 0
    fi
    sleep 0.1
  done
  down
  die "the broker did not answer within 60 s; see $logs/server-$port.out"
}

down() {
  if ! running; then
    rm -f "$pidfile"
    echo "kafka.sh: not running on port $port" >&2
    return 0
  fi
  local pid
  pid=$(cat "$pidfile")
  kill -TERM "$pid"
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; echo "kafka.sh: stopped (pid $pid)" >&2; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  echo "kafka.sh: killed (pid $pid) after 30 s" >&2
}

status() {
  if running; then echo "running on 127.0.0.1:$port (pid $(cat "$pidfile"))"; else echo "not running"; return 3; fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
