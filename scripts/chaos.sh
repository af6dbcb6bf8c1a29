#!/usr/bin/env bash
# `make chaos`: start the local broker if needed, run the full chaos plan against it (tests/chaos.py), stop what
# it started; exit non-zero on any loss. Options pass through, e.g. `make chaos CHAOS_ARGS="--items 20000"`.
cd "$(dirname "$0")/.."
exec scripts/with-kafka.sh .venv/bin/python -m tests.chaos "$@"
