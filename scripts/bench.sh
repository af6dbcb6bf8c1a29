#!/usr/bin/env bash
# `make bench`: offline stages, end to end through a local Kafka broker, scaling, memory; then feed parsing
# and the search index.
# Prints the figures with the machine's state and writes bench/results/latest.json (+ latest.txt).
#
# The broker: BENCH_KAFKA_PORT if set; else KAFKA_PORT if set to something other than the Makefile's default
# 9092; else 19292 -- a broker of its own, so the bench neither loads nor litters a development broker. The
# broker is started if nothing answers on that port, and stopped at the end only if this script started it.
# Other knobs (BENCH_ITEMS, BENCH_REPEATS, BENCH_MEMORY_ITEMS, BENCH_SKIP, BENCH_BUDGET_S, ...): see bench/report.py.
# The headline stream is bench/streams.py's realistic one; its corpora are read from ../shared/data/dev/ (BENCH_DATA_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${BENCH_KAFKA_PORT:-}" ]; then
  port=$BENCH_KAFKA_PORT
elif [ -n "${KAFKA_PORT:-}" ] && [ "$KAFKA_PORT" != 9092 ]; then
  port=$KAFKA_PORT
else
  port=19292
fi
export KAFKA_PORT=$port
export BENCH_BROKER="kafka://127.0.0.1:$port"

started=0
stop() {
  if [ "$started" = 1 ]; then scripts/kafka.sh down || true; fi
}
trap stop EXIT
trap 'exit 130' INT TERM

if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "bench: using the broker already listening on 127.0.0.1:$port" >&2
else
  scripts/kafka.sh up
  started=1
fi

# Bounded: the report keeps to BENCH_BUDGET_S (900 s) by itself; this is the backstop.
# A part cut short still prints what it measured, and the parts after it run.
status=0
timeout --signal=TERM --kill-after=30 "${BENCH_TIMEOUT:-2400}" .venv/bin/python bench/report.py || status=$?
# Sources and sinks around the pipeline (README "Feeds in", "Search what came out"): feed and crawl parsing
# rates, replay through the broker, indexing and query times over 100,000 articles.
echo "== feeds: parse + map + validate, RSS/Atom/WARC, and newsfeed replay through the broker (bench/feeds_bench.py) ==" >&2
timeout --signal=TERM --kill-after=30 900 .venv/bin/python bench/feeds_bench.py --broker "$BENCH_BROKER" || status=$?
echo "== search index: indexing and queries over 100,000 articles (bench/index_bench.py) ==" >&2
timeout --signal=TERM --kill-after=30 900 .venv/bin/python bench/index_bench.py --broker "$BENCH_BROKER" || status=$?
exit "$status"
