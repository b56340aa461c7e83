# tokenmeter — `make help` lists the targets. Every target sets up what it needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
KAFKA := deploy/kafka/kafka.sh
STAMP := $(VENV)/.installed
PEER_VENV := .venv-peer
PEER_STAMP := $(PEER_VENV)/.installed

.PHONY: help venv kafka-up kafka-down run test test-unit lint schema bench chaos chaos-quick fuzz clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] in ((3, 11), (3, 12)) else "Python 3.11 or 3.12 is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==26.3
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP) ## Create .venv and install tokenmeter with its dev tools

# The Quix Streams peer of `make bench` runs in its own virtualenv (its pins differ from ours).
$(PEER_STAMP): deploy/bench/peer-requirements.txt
	$(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/pip install --quiet --upgrade pip==26.3
	$(PEER_VENV)/bin/pip install --quiet -r deploy/bench/peer-requirements.txt
	@touch $(PEER_STAMP)

kafka-up: ## Start the local Kafka 4.x broker (fetches jars on first use; no-op if running)
	@$(KAFKA) up

kafka-down: ## Stop the local Kafka broker
	@$(KAFKA) down

run: venv ## Start Kafka + the all-in-one process (meter, sink, /metrics, /v1/totals) + demo load; Ctrl-C stops all
	@bash deploy/run.sh

test: venv ## Run unit and integration tests (starts a Kafka broker if none is running, stops it after)
	@bash deploy/prometheus/ensure.sh
	@bash deploy/with-kafka.sh $(BIN)/pytest $(PYTEST_ARGS)

test-unit: venv ## Run unit tests only (nothing started)
	$(BIN)/pytest -m 'not kafka and not clickhouse and not e2e' $(PYTEST_ARGS)

lint: venv ## ruff and mypy --strict
	$(BIN)/ruff check services tests
	$(BIN)/mypy

schema: venv ## Regenerate schemas/ (event, price book, plans, openapi.json), deploy/README.md's metrics table, the dashboards
	@for s in usage-event.v1 price-book.v1 plans.v1 openapi metrics dashboards; do $(BIN)/tokenmeter schema $$s --write; done

bench: venv $(PEER_STAMP) ## tokenmeter vs the floor (aiokafka fetch+parse) vs a Quix Streams peer, 200k events; last line JSON
	@bash deploy/with-kafka.sh $(BIN)/python -m tokenmeter.bench --peer-python $(PEER_VENV)/bin/python \
		--out deploy/bench/results.json $(BENCH_ARGS)

chaos: venv ## Fault suite: 50k events, kill -9s, broker restart, ClickHouse outage, rebalance; SEED=n repeats a run
	@SEED=$(SEED) $(BIN)/python -m tokenmeter.chaos $(CHAOS_ARGS)

chaos-quick: venv ## The ~2-minute chaos suite that make test also runs; SEED=n repeats a run
	@SEED=$(SEED) $(BIN)/python -m tokenmeter.chaos --quick $(CHAOS_ARGS)

fuzz: venv ## Schemathesis against the API with 500 requests per operation and key (make test runs 15); FUZZ_EXAMPLES=n
	@TOKENMETER_FUZZ_EXAMPLES=$(or $(FUZZ_EXAMPLES),500) deploy/with-kafka.sh $(BIN)/pytest -q tests/api/test_fuzz.py

clean: kafka-down ## Stop Kafka and delete runtime data (var/)
	rm -rf var
