# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# make run: the simulator's port, and where the worker delivers (that simulator, unless set).
SIMULATOR_PORT ?= 8010
OPERATOR_GATEWAY_URL ?= http://127.0.0.1:$(SIMULATOR_PORT)
RUN_ENV = PORT=$(PORT) SIMULATOR_PORT=$(SIMULATOR_PORT) OPERATOR_GATEWAY_URL=$(OPERATOR_GATEWAY_URL)

.PHONY: run run-web test test-fast test-server lint loadtest bench bench-delivery chaos cluster ha clean

$(BIN)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

# Tests, lint and load tools on top of the runtime.
$(BIN)/.installed-dev: $(BIN)/.installed requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

run: $(BIN)/.installed
	@$(RUN_ENV) $(BIN)/python -m config.make_run check
	$(BIN)/python manage.py migrate --noinput
	@$(RUN_ENV) $(BIN)/python -m config.make_run banner
	@# Web and delivery worker write their metrics to one directory: the web's /metrics shows both.
	rm -rf .metrics && mkdir .metrics
	@# honcho start -f Procfile, then the embedded PostgreSQL stops if no process of it is left.
	$(RUN_ENV) PROMETHEUS_MULTIPROC_DIR=$(CURDIR)/.metrics $(BIN)/python -m config.make_run procfile

# The web server alone: sales are accepted and queued, nothing is delivered (benchmarks of the HTTP path).
run-web: $(BIN)/.installed
	$(BIN)/python manage.py migrate --noinput
	PORT=$(PORT) $(BIN)/python -m config.serve

test: $(BIN)/.installed-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The unit suite: everything but tests/system (live servers, concurrency, chaos, hostile input).
test-fast: $(BIN)/.installed-dev
	$(BIN)/python -m pytest -m "not system" $(PYTEST_ARGS)

# The tests that check what the database server does (marker `server`, tests/conftest.py): CI's
# second pass, on PostgreSQL 15, after `make test` ran everything on the embedded server.
test-server: $(BIN)/.installed-dev
	$(BIN)/python -m pytest -m server $(PYTEST_ARGS)

# What CI checks before the tests: lint, format, types, import contracts.
lint: $(BIN)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

# Operators: locust against a fresh database, then reconcile and cross-check (see README).
loadtest: $(BIN)/.installed-dev
	$(BIN)/python -m loadtests.run_loadtest

# Side-by-side benchmark: echo POST, recharges spread and hot, batches, pgbench.
bench: $(BIN)/.installed-dev
	$(BIN)/python -m loadtests.bench $(BENCH_ARGS)

# Delivery: sale rate (web alone), draining a 20,000 backlog, p99 sale-to-final under steady load.
bench-delivery: $(BIN)/.installed
	$(BIN)/python -m loadtests.delivery_bench $(BENCH_ARGS)

# Fault injection: killed workers, PostgreSQL restarts, a lock storm, dropped clients.
chaos: $(BIN)/.installed-dev
	$(BIN)/python -m loadtests.chaos --mode $(or $(MODE),short) $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) .pgdata staticfiles .pytest_cache .hypothesis .metrics simulator.sqlite3*

# Several machines on this one (issue 11): PostgreSQL primary + streaming replica, a PgBouncer
# each, two app servers with their delivery workers, the simulator, HAProxy; Ctrl-C stops it.
# CLUSTER_ARGS="--check" runs the checks and exits; "--check --measure 10" also measures.
cluster: $(BIN)/.installed-dev
	$(BIN)/python -m loadtests.cluster $(CLUSTER_ARGS)

# The cluster with automatic failover (issue 22): a pg_auto_failover monitor, a primary and a
# synchronous standby under the same PgBouncers, app servers and HAProxy; Ctrl-C stops it.
# HA_ARGS="--check" kills the primary once under load and checks every sale;
# "--check --failovers 3 --measure 10" three times, alternating nodes, then sync vs async sale rate.
ha: $(BIN)/.installed-dev
	$(BIN)/python -m loadtests.ha $(HA_ARGS)
