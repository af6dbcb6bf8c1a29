#!/usr/bin/env bash
# Run a command against the local broker: start it if nothing answers on KAFKA_PORT, run the command with
# NEWSFEED_TEST_BROKER pointing at it, stop the broker if this script started it, and exit with the command's
# status. `make test` and `make chaos` run through it.
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
"$@"
