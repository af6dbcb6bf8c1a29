# newsfeed: the commands a developer and CI run. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
KAFKA_PORT ?= 9092
export KAFKA_PORT
STAMP := $(VENV)/.installed

.PHONY: help install run test chaos unit integration lint typecheck bench kafka-up kafka-down kafka-status clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing newsfeed and its tools into $(VENV) (log: $(VENV)/install.log) ..."
	@$(BIN)/python -m pip install --quiet --upgrade pip >$(VENV)/install.log 2>&1 \
	  && $(BIN)/python -m pip install -e '.[dev]' >>$(VENV)/install.log 2>&1 \
	  || { tail -30 $(VENV)/install.log; exit 1; }
	@touch $(STAMP)

install: $(STAMP) ## install the project and its tools into .venv (newsfeed at .venv/bin/newsfeed)

kafka-up: ## start the local Kafka broker (127.0.0.1:$KAFKA_PORT); idempotent
	@scripts/kafka.sh up

kafka-down: ## stop the local Kafka broker started by kafka-up
	@scripts/kafka.sh down

kafka-status:
	@scripts/kafka.sh status

run: install ## start Kafka and a worker, replay the sample feed, show each output topic; Ctrl-C stops all
	@scripts/run.sh

test: install ## start Kafka, run the whole suite (unit + integration) against it, stop Kafka
	@scripts/test.sh

chaos: install ## 100,000 items through two workers under kills, a broker stop, refused outputs and a new worker
	@scripts/chaos.sh $(CHAOS_ARGS)

unit: install ## the unit tests only (no broker)
	$(BIN)/pytest tests/unit

lint: install ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install ## benchmarks: offline stages, end to end through Kafka, scaling, memory (writes bench/results/)
	@scripts/bench.sh

clean: kafka-down ## stop Kafka and remove its data and the worker's state
	rm -rf .kafka/data-* .newsfeed
