#!/usr/bin/env bash
# `make test`: start the local broker, run every test against it, stop the broker; exit with pytest's status.
cd "$(dirname "$0")/.."
exec scripts/with-kafka.sh .venv/bin/pytest "$@"
