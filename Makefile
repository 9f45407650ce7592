# Parley: `make run` serves, `make test` tests. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST    ?= 127.0.0.1
PORT    ?= 8000
WORKERS ?= 1
export HOST PORT WORKERS

# The scale-out services the test suite runs against (scripts/services.sh starts them if needed).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_REDIS_URL    ?= redis://127.0.0.1:6379/0
PYTEST := $(BIN)/python -m pytest
BIOME  := node_modules/.bin/biome

.PHONY: run test test-embedded test-scaled lint format bench soak services browser clean

# The project itself, editable (--no-deps: requirements.txt pinned them): the `parley` terminal client's console script.
$(VENV)/.runtime: requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# Biome (the JavaScript linter and formatter) from the npm registry, at package-lock.json's version.
node_modules/.installed: package.json package-lock.json
	@bash scripts/node.sh
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

run: $(VENV)/.runtime
	$(BIN)/python manage.py migrate --noinput -v 0
	$(BIN)/python -m parley.serve

services:
	@bash scripts/services.sh

browser:
	@bash scripts/chromium.sh

lint: $(VENV)/.dev node_modules/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIOME) check --error-on-warnings chat/static search/static
	$(BIN)/mypy

format: $(VENV)/.dev node_modules/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	$(BIOME) check --write chat/static search/static

# The whole suite twice: embedded (SQLite + in-process fan-out) and scaled (PostgreSQL + Redis).
# Multi-process tests start their own servers on PostgreSQL + Redis, so they run once.
test: $(VENV)/.dev services browser lint
	$(MAKE) --no-print-directory test-embedded
	$(MAKE) --no-print-directory test-scaled

test-embedded: $(VENV)/.dev
	@echo "== tests: SQLite + in-process fan-out =="
	env -u DATABASE_URL -u REDIS_URL PARLEY_REDIS_PREFIX=parley-test-$$$$ $(PYTEST) -m "not scaled_only" $(PYTEST_ARGS)

test-scaled: $(VENV)/.dev
	@echo "== tests: PostgreSQL + Redis =="
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) PARLEY_REDIS_PREFIX=parley-test-$$$$ \
		PARLEY_TEST_DATABASE=test_parley_$$$$ \
		$(PYTEST) -m "not embedded_only" $(PYTEST_ARGS)

bench: $(VENV)/.dev services
	$(BIN)/python -m bench $(BENCH_ARGS)

# Hostile clients and failing backends against two processes; a table, non-zero exit on a missed target.
soak: $(VENV)/.dev services
	$(BIN)/python -m soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) node_modules db.sqlite3* test-db.sqlite3* tests/artifacts .pytest_cache .ruff_cache
