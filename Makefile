# The two commands a user needs: `make run` and `make test`. Everything installs from this repository.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test install setup bench lint clean-db

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --silent
	touch $@

install: $(BIN)/.installed

## Set up the database, demo data and admin, then serve on http://127.0.0.1:5000
setup: install
	$(FLASK) crm init
	$(FLASK) crm seed-demo
	$(FLASK) crm create-admin admin --if-missing

run: setup
	@echo "Serving the CRM console on http://$(HOST):$(PORT) (Ctrl+C stops it)"
	CRM_DEV_IDP=1 $(FLASK) run --host $(HOST) --port $(PORT)

## The layers (import-linter contracts in pyproject.toml), then the whole suite: unit, integration (SQLite, and PostgreSQL when CRM_TEST_DATABASE_URL is set), browser tests
test: install node_modules/.installed
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Benchmarks (not tests): results in bench/results/; CRM_BENCH_DATABASE_URL adds PostgreSQL
bench: install
	$(BIN)/python -m bench.run

lint: install
	$(BIN)/ruff check crm tests bench app.py

clean-db:
	rm -f instance/crm.sqlite3 instance/crm.sqlite3-wal instance/crm.sqlite3-shm
