#!/usr/bin/env bash
# `make chaos`: start the local broker if needed, run the full chaos plan against it (tests/chaos.py), stop what
# it started; exit non-zero on any loss. Options pass through, e.g. `make chaos CHAOS_ARGS="--items 20000"`.
set -uo pipefail
cd "$(dirname "$0")/.."
started=0
if ! scripts/kafka.sh status >/dev/null 2>&1; then
  scripts/kafka.sh up || exit 1
  started=1
fi
stop() { [ "$started" = 1 ] && scripts/kafka.sh down; }
trap stop EXIT
export NEWSFEED_BROKER="kafka://127.0.0.1:${KAFKA_PORT:-9092}"
.venv/bin/python -m tests.chaos "$@"
