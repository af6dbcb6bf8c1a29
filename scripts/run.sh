#!/usr/bin/env bash
# `make run`: start Kafka and a worker, replay the bundled sample feed, show what came out on each output
# topic, then keep the worker running; Ctrl-C stops everything this script started.
# Once mode (RUN_ONCE=1, and always under CI=true): after showing the topics, check that they hold every output
# the sample must produce (scripts/check_sample.py), stop everything and exit with the check's status.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
export NEWSFEED_BROKER=${NEWSFEED_BROKER:-kafka://127.0.0.1:${KAFKA_PORT:-9092}}
export NEWSFEED_LOG_FORMAT=${NEWSFEED_LOG_FORMAT:-console}
mkdir -p .kafka/logs
started_kafka=0
worker=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$worker" ] && kill -0 "$worker" 2>/dev/null; then
    echo "stopping the worker ..." >&2
    kill -TERM "$worker" 2>/dev/null || true
    wait "$worker" 2>/dev/null || true
  fi
  [ "$started_kafka" = 1 ] && scripts/kafka.sh down
  exit "${status:-$rc}"
}
trap cleanup EXIT
trap 'status=0; cleanup' INT TERM

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
once=0
if [ "${RUN_ONCE:-0}" = 1 ] || [ "${CI:-}" = true ]; then
  once=1
  check=0
  $bin/python scripts/check_sample.py samples/sample-feed.jsonl || check=$?
fi
for topic in search duplicates alerts deadletter; do
  printf '\n== %s.%s ==\n' "${NEWSFEED_TOPIC_PREFIX:-news}" "$topic"
  $bin/newsfeed subscribe "$topic" --from-beginning --timeout 4 --format pretty
done
# Search what came out (README "Search what came out"): index the output topics once, then query the index.
echo "indexing the output topics (log: .kafka/logs/index.log) ..." >&2
$bin/newsfeed index --once 2>>.kafka/logs/index.log
printf '\n== newsfeed search china ==\n'
$bin/newsfeed search china
printf '\n== newsfeed search --tag trade --format json ==\n'
$bin/newsfeed search --tag trade --format json
if [ "$once" = 1 ]; then
  [ "$check" = 0 ] || tail -30 "$log" >&2
  status=$check
  exit "$status"
fi
port=${NEWSFEED_WEB_PORT:-6066}
printf '\nThe worker keeps running (health: http://127.0.0.1:%s/health, metrics: /metrics). Ctrl-C stops it and Kafka.\n' "$port" >&2
wait "$worker"
