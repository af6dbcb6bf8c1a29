#!/usr/bin/env bash
# `make test`: start the local broker, run every test against it, stop the broker; exit with pytest's status.
set -uo pipefail
cd "$(dirname "$0")/.."
started=0
if ! scripts/kafka.sh status >/dev/null 2>&1; then
  scripts/kafka.sh up || exit 1
  started=1
fi
stop() { [ "$started" = 1 ] && scripts/kafka.sh down; }
trap stop EXIT
export NEWSFEED_TEST_BROKER="kafka://127.0.0.1:${KAFKA_PORT:-9092}"
.venv/bin/pytest "$@"
