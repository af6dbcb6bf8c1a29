#!/usr/bin/env bash
# `make run`: start Kafka and a worker, replay the bundled sample feed, show what came out on each output
# topic, then keep the worker running; Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
export NEWSFEED_BROKER=${NEWSFEED_BROKER:-kafka://127.0.0.1:${KAFKA_PORT:-9092}}
export NEWSFEED_LOG_FORMAT=${NEWSFEED_LOG_FORMAT:-console}
mkdir -p .kafka/logs
started_kafka=0
worker=
cleanup() {
  trap - EXIT INT TERM
  if [ -n "$worker" ] && kill -0 "$worker" 2>/dev/null; then
    echo "stopping the worker ..." >&2
    kill -TERM "$worker" 2>/dev/null || true
    wait "$worker" 2>/dev/null || true
  fi
  [ "$started_kafka" = 1 ] && scripts/kafka.sh down
  exit 0
}
trap cleanup EXIT INT TERM

if ! scripts/kafka.sh status >/dev/null 2>&1; then
  scripts/kafka.sh up
  started_kafka=1
fi
# The worker's table state belongs to this broker's storage: keyed by its directory id, a broker formatted anew
# (its data removed, or another port) starts from empty state, not from state its changelogs no longer hold.
meta=.kafka/data-${KAFKA_PORT:-9092}/meta.properties
if [ -z "${NEWSFEED_DATA_DIR:-}" ] && [ -f "$meta" ]; then
  export NEWSFEED_DATA_DIR=".newsfeed/local-${KAFKA_PORT:-9092}-$(sed -n 's/^directory\.id=//p' "$meta")"
fi
$bin/newsfeed topics create >/dev/null
log=.kafka/logs/worker.log
echo "starting a worker (log: $log) ..." >&2
$bin/newsfeed worker >"$log" 2>&1 &
worker=$!
for _ in $(seq 1 600); do
  grep -q worker_ready "$log" 2>/dev/null && break
  kill -0 "$worker" 2>/dev/null || { echo "the worker exited; see $log" >&2; tail -20 "$log" >&2; exit 1; }
  sleep 0.1
done
echo "replaying samples/sample-feed.jsonl ..." >&2
# A live feed, not a backfill: the sample items are published without the replay mark, so they can alert.
$bin/newsfeed replay --live --no-progress samples/sample-feed.jsonl >/dev/null
for topic in search duplicates alerts deadletter; do
  printf '\n== %s.%s ==\n' "${NEWSFEED_TOPIC_PREFIX:-news}" "$topic"
  $bin/newsfeed subscribe "$topic" --from-beginning --timeout 4 --format pretty
done
port=${NEWSFEED_WEB_PORT:-6066}
printf '\nThe worker keeps running (health: http://127.0.0.1:%s/health, metrics: /metrics). Ctrl-C stops it and Kafka.\n' "$port" >&2
wait "$worker"
