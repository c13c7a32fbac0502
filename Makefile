# detec_fraude — one command to run, one to test. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
REQUIREMENTS := ml_model/requirements.txt auth_service/requirements.txt \
                transaction_service/requirements.txt fraud_detection_service/requirements.txt \
                requirements-dev.txt
INSTALLED := $(VENV)/.installed
MODEL_DIR ?= ml_model/models
MODEL_METADATA := $(MODEL_DIR)/model_metadata.json
# Code whose change makes the trained artifacts stale.
MODEL_SOURCES := $(filter-out ml_model/testing.py ml_model/attribution.py ml_model/reasons.py,$(wildcard ml_model/*.py)) \
                 ml_model/requirements.txt
POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/test
PYTEST := $(BIN)/pytest -q -p no:cacheprovider

export PATH := $(BIN):$(PATH)

.PHONY: help install train run demo test test-ml test-plumbing test-auth test-transaction test-fraud test-e2e test-drill test-fuzz \
        test-loop loop test-deploy test-bench test-postgres lint bench bench-all images compose-up compose-down compose-test clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "}; /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(INSTALLED) ## Create .venv and install every service's pinned requirements plus dev tools (no-op when up to date)

$(INSTALLED): $(REQUIREMENTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(addprefix -r ,$(REQUIREMENTS))
	@touch $@

train: $(MODEL_METADATA) ## Train the default model when its artifacts are missing or older than the code that makes them

$(MODEL_METADATA): $(MODEL_SOURCES) | $(INSTALLED)
	$(BIN)/python ml_model/train_model.py --output-dir $(MODEL_DIR)

run: install train ## Install, train when needed, create local secrets once, migrate, start all three services (Ctrl-C stops them)
	@scripts/run_local.sh

loop: install ## The learning loop on real processes: simulate, label, export, train a challenger, shadow, compare, promote, reload (LOOP_ARGS="--postgres URL")
	$(BIN)/python scripts/learning_loop.py $(LOOP_ARGS)

demo: install train ## Start the stack if it is not up, run example_usage.py, stop what was started
	@scripts/demo.sh

test: install test-ml test-plumbing test-auth test-fraud test-transaction test-e2e test-loop test-drill test-fuzz test-deploy test-bench ## Run every test suite (SQLite; PostgreSQL suites too when POSTGRES_URL is set)

test-ml: install
	cd ml_model && $(PYTEST)

test-plumbing: install
	cd fastapi_plumbing && $(PYTEST)

test-auth: install
	cd auth_service && $(PYTEST)

test-fraud: install
	cd fraud_detection_service && $(PYTEST)

test-transaction: install
	cd transaction_service && $(PYTEST)

test-e2e: install train
	$(PYTEST) tests/e2e

test-loop: install ## The learning loop end to end (scripts/learning_loop.py --quick; ~5 min)
	$(PYTEST) tests/loop

test-drill: install train ## Fault drill over the real processes: kill -9 and restart mid-stream (tests/standing; ~1 min)
	$(PYTEST) tests/standing/test_fault_drill.py

test-fuzz: install train ## Schemathesis against the three services' OpenAPI documents on the real processes (~3 min)
	$(PYTEST) tests/standing/test_schema_fuzz.py

test-deploy: install
	$(PYTEST) tests/deploy

test-bench: install
	$(PYTEST) tests/bench

test-postgres: install ## Run the database-backed suites against PostgreSQL at POSTGRES_URL (default: the local server)
	cd auth_service && POSTGRES_URL=$(POSTGRES_URL) REQUIRE_POSTGRES=1 $(PYTEST)
	cd fastapi_plumbing && POSTGRES_URL=$(POSTGRES_URL) REQUIRE_POSTGRES=1 $(PYTEST)
	cd fraud_detection_service && POSTGRES_URL=$(POSTGRES_URL) REQUIRE_POSTGRES=1 $(PYTEST)
	cd transaction_service && POSTGRES_URL=$(POSTGRES_URL) REQUIRE_POSTGRES=1 $(PYTEST)
	POSTGRES_URL=$(POSTGRES_URL) $(PYTEST) tests/loop
	POSTGRES_URL=$(POSTGRES_URL) REQUIRE_POSTGRES=1 $(PYTEST) tests/standing/test_fault_drill.py
	POSTGRES_URL=$(POSTGRES_URL) REQUIRE_POSTGRES=1 $(PYTEST) tests/standing/test_capture_locks.py
	POSTGRES_URL=$(POSTGRES_URL) REQUIRE_POSTGRES=1 $(PYTEST) tests/bench/test_postgres.py

lint: install ## Static checks (ruff)
	$(BIN)/ruff check .

bench: install train ## Benchmarks (scripts/benchmark.py); writes bench/results.json and a table
	$(BIN)/python scripts/benchmark.py $(BENCH_ARGS)

# Full runs one after the other (never side by side: they share the machine), each into its own folder; the
# table is written even when a run reports a failed phase, and the target then fails. About an hour on 2 cores.
# combine refuses a results.json older than this target (a run that died before writing left it) and fails
# on a run that did not finish, whose column it marks. The scorer's speed and training touch no database:
# measured once, in the SQLite run (their sample sizes unchanged, a few minutes saved).
BENCH := $(BIN)/python scripts/benchmark.py
bench-all: install train ## SQLite and PostgreSQL (POSTGRES_URL) full runs, then capture with WORKERS=2 on both; bench/combined.md side by side
	@failed=0; since=$$(date -u +%Y-%m-%dT%H:%M:%S+00:00); \
	$(BENCH) --out bench/sqlite $(BENCH_ARGS) || failed=1; \
	$(BENCH) --out bench/postgres --postgres "$(POSTGRES_URL)" --skip scoring training $(BENCH_ARGS) || failed=1; \
	$(BENCH) --out bench/sqlite-workers2 --workers 2 --only capture $(BENCH_ARGS) || failed=1; \
	$(BENCH) --out bench/postgres-workers2 --workers 2 --only capture --postgres "$(POSTGRES_URL)" $(BENCH_ARGS) || failed=1; \
	$(BIN)/python scripts/bench/report.py combine bench/sqlite/results.json bench/postgres/results.json \
	  bench/sqlite-workers2/results.json bench/postgres-workers2/results.json --out bench/combined.md \
	  --since "$$since" || failed=1; \
	exit $$failed

images: ## Build the three images, tagged with the commit (trains first when artifacts are missing)
	scripts/build_images.sh

compose-up: ## docker compose up --build in the background, until every service is healthy (needs Docker; DEPLOYMENT.md)
	docker compose up --build --detach --wait --wait-timeout 900

compose-down: ## docker compose down -v (removes the containers, the database and the generated secrets)
	docker compose down -v

compose-test: ## Plain `docker compose up --build` on a clean clone: smoke-test it, restart a service, tear it down
	scripts/compose.sh test

clean: ## Remove local data (databases, keys, secrets) and trained artifacts; keeps .venv
	rm -rf data ml_model/reports bench
	find $(MODEL_DIR) -mindepth 1 ! -name .gitkeep -delete 2>/dev/null || true
