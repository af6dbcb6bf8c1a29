#!/usr/bin/env bash
# The local Apache Kafka broker for development and tests: one KRaft node (broker + controller) on 127.0.0.1.
#
#   scripts/kafka.sh up      resolve the jars (cached), format storage once, start, wait until it answers
#   scripts/kafka.sh down    stop exactly the process `up` started
#   scripts/kafka.sh status  say whether it runs
#
# Settings (environment): KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT+1), KAFKA_HOME (.kafka under the
# project), KAFKA_HEAP (512m), KAFKA_START_TIMEOUT (seconds to wait for it to answer, 180). Jars go to $KAFKA_HOME/libs; data, config, pid file and logs to KAFKA_STATE
# ($KAFKA_HOME by default): data in data-<port>, logs in logs/.
#
# A secured broker (KAFKA_SECURITY=SASL_SSL): the client listener speaks SASL_SSL with SCRAM-SHA-512 only, the
# controller listener stays PLAINTEXT on 127.0.0.1. On first start openssl makes a CA and a broker certificate
# for 127.0.0.1 in KAFKA_SSL_DIR ($KAFKA_STATE/ssl-<port>; clients trust its ca.crt), and the storage
# (data-<port>-sasl) is formatted with two SCRAM users: `admin` (the broker itself, random password) and
# KAFKA_SCRAM_USER (newsfeed) with KAFKA_SCRAM_PASSWORD (random when unset, kept in KAFKA_SSL_DIR/client.pass).
# Users are created when the storage is formatted: to change a password, delete the data directory.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
port=${KAFKA_PORT:-9092}
controller_port=${KAFKA_CONTROLLER_PORT:-$((port + 1))}
home=${KAFKA_HOME:-$root/.kafka}
heap=${KAFKA_HEAP:-512m}
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka/pom.xml")
libs=$home/libs/$version-$(cksum <"$here/kafka/pom.xml" | cut -d" " -f1)
state=${KAFKA_STATE:-$home}
security=${KAFKA_SECURITY:-PLAINTEXT}
case "$security" in
  PLAINTEXT) data=$state/data-$port ;;
  SASL_SSL) data=$state/data-$port-sasl ;;
  *) echo "kafka.sh: KAFKA_SECURITY must be PLAINTEXT or SASL_SSL, not $security" >&2; exit 2 ;;
esac
ssl_dir=${KAFKA_SSL_DIR:-$state/ssl-$port}
scram_user=${KAFKA_SCRAM_USER:-newsfeed}
logs=$state/logs
pidfile=$state/kafka-$port.pid
conf=$state/server-$port.properties

die() { echo "kafka.sh: $*" >&2; exit 1; }

need() {
  command -v java >/dev/null 2>&1 || die "Java 17+ is required to run the local Kafka broker, and 'java' is not on PATH (Debian: apt-get install openjdk-17-jre-headless)."
  command -v mvn >/dev/null 2>&1 || [ -f "$libs/.complete" ] || die "Maven is required once to fetch the Kafka $version jars, and 'mvn' is not on PATH (Debian: apt-get install maven)."
  [ "$security" = PLAINTEXT ] || command -v openssl >/dev/null 2>&1 || [ -f "$ssl_dir/.complete" ] \
    || die "openssl is required to make the secured broker's certificates, and 'openssl' is not on PATH."
}

# The secured broker's own passwords: random, made once, kept in files only their owner reads.
secret() { [ -s "$ssl_dir/$1" ] || (umask 077 && openssl rand -hex 24 >"$ssl_dir/$1"); cat "$ssl_dir/$1"; }

make_certificates() {
  [ -f "$ssl_dir/.complete" ] && return 0
  mkdir -p "$ssl_dir" && chmod 700 "$ssl_dir"
  (
    cd "$ssl_dir"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj "/CN=newsfeed local CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -newkey rsa:2048 -nodes -keyout broker.key -out broker.csr -subj "/CN=127.0.0.1"
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nkeyUsage=critical,digitalSignature,keyEncipherment\n%s\n' \
      'extendedKeyUsage=serverAuth,clientAuth' >broker.ext
    openssl x509 -req -in broker.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out broker.crt -days 30 \
      -extfile broker.ext
    # Kafka reads PEM stores: the unencrypted PKCS#8 key and its chain in one file, the CA in another.
    cat broker.key broker.crt ca.crt >broker.pem
    chmod 644 ca.crt
  ) >"$logs/certificates-$port.log" 2>&1 || die "making certificates failed; see $logs/certificates-$port.log"
  touch "$ssl_dir/.complete"
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

# Short-lived tools (storage format): the client compiler alone starts the JVM faster on a busy machine.
kafka_java() { java -Xms"$heap" -Xmx"$heap" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
  -Dlog4j2.configurationFile="$here/kafka/log4j2.yaml" -Dkafka.logs.dir="$logs" -cp "$libs/*" "$@"; }

listener_config() {
  if [ "$security" = PLAINTEXT ]; then
    cat <<CONF
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
CONF
    return 0
  fi
  cat <<CONF
listeners=SASL_SSL://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=SASL_SSL://127.0.0.1:$port
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(secret admin.pass)";
ssl.keystore.type=PEM
ssl.keystore.location=$ssl_dir/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$ssl_dir/ca.crt
ssl.client.auth=none
CONF
}

write_config() {
  (umask 077 && : >"$conf")
  cat >"$conf" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$controller_port
controller.listener.names=CONTROLLER
$(listener_config)
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
  mkdir -p "$home" "$state" "$logs"
  resolve
  [ "$security" = PLAINTEXT ] || make_certificates
  write_config
  if [ ! -f "$data/meta.properties" ]; then
    local users=()
    if [ "$security" = SASL_SSL ]; then
      local password=${KAFKA_SCRAM_PASSWORD:-$(secret client.pass)}
      [[ $password =~ ^[A-Za-z0-9._~-]+$ ]] || die "KAFKA_SCRAM_PASSWORD may hold only letters, digits and ._~-"
      [[ $scram_user =~ ^[A-Za-z0-9._~-]+$ ]] || die "KAFKA_SCRAM_USER may hold only letters, digits and ._~-"
      users=(--add-scram "SCRAM-SHA-512=[name=admin,password=$(secret admin.pass)]"
             --add-scram "SCRAM-SHA-512=[name=$scram_user,password=$password]")
    fi
    kafka_java kafka.tools.StorageTool format --standalone -t "newsfeed-local-$port" -c "$conf" "${users[@]}" \
      >"$logs/format-$port.log" 2>&1 || die "formatting storage failed; see $logs/format-$port.log"
  fi
  nohup java -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -Dlog4j2.configurationFile="$here/kafka/log4j2.yaml" \
    -Dkafka.logs.dir="$logs" -cp "$libs/*" kafka.Kafka "$conf" >"$logs/server-$port.out" 2>&1 </dev/null &
  echo $! >"$pidfile"
  local deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-180}))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if ! running; then
      rm -f "$pidfile"
      die "the broker exited during start-up; see $logs/server-$port.out"
    fi
    if answers && grep -q "Kafka Server started" "$logs/server-$port.out" 2>/dev/null; then
      echo "kafka.sh: Kafka $version up on 127.0.0.1:$port (pid $(cat "$pidfile"))" >&2
      [ "$security" = PLAINTEXT ] || client_hint
      return 0
    fi
    sleep 0.1
  done
  down
  die "the broker did not answer within ${KAFKA_START_TIMEOUT:-180} s; see $logs/server-$port.out"
}

client_hint() {
  local password="\$(cat $ssl_dir/client.pass)"
  [ -n "${KAFKA_SCRAM_PASSWORD:-}" ] && password='<KAFKA_SCRAM_PASSWORD>'
  cat >&2 <<HINT
kafka.sh: SASL_SSL with SCRAM-SHA-512; a client uses
  NEWSFEED_BROKER=kafka://127.0.0.1:$port NEWSFEED_SECURITY_PROTOCOL=SASL_SSL NEWSFEED_SASL_MECHANISM=SCRAM-SHA-512
  NEWSFEED_SASL_USERNAME=$scram_user NEWSFEED_SASL_PASSWORD=$password NEWSFEED_SSL_CAFILE=$ssl_dir/ca.crt
HINT
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
