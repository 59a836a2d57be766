# The two commands a user needs: `make run` and `make test`. Everything installs from this repository.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
HOST ?= 127.0.0.1
PORT ?= 5000
CHROMIUM := /usr/bin/chromium
PYSAML2 := .venv-pysaml2
SUDO := $(if $(filter 0,$(shell id -u)),,sudo )
SIMPLESAMLPHP_PACKAGES := simplesamlphp php-cli php-xml php-mbstring
SIMPLESAMLPHP_READY := [ -f /usr/share/simplesamlphp/www/saml2/idp/SSOService.php ] && \
  php -r 'exit(extension_loaded("dom") && extension_loaded("mbstring") ? 0 : 1);' 2>/dev/null

.PHONY: run test install chromium pysaml2 simplesamlphp setup bench lint clean-db

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --silent
	touch $@

install: $(BIN)/.installed

# The console's public URL follows HOST and PORT unless CRM_BASE_URL is set (the demo IdP's addresses are saved
# with it when the demo data is loaded).
setup run: export CRM_BASE_URL ?= http://$(HOST):$(PORT)

## Set up the database, demo data and admin, then serve on http://127.0.0.1:5000
setup: install
	$(FLASK) crm init
	$(FLASK) crm seed-demo
	$(FLASK) crm create-admin admin --if-missing

run: setup
	@echo "Serving the CRM console on http://$(HOST):$(PORT) (Ctrl+C stops it)"
	CRM_DEV_IDP=1 $(FLASK) run --host $(HOST) --port $(PORT)

## Debian's Chromium for the browser tests: installed when missing if we are root, else the command to run
chromium:
	@if [ ! -x $(CHROMIUM) ] && [ -z "$(SUDO)" ]; then \
	  echo "Installing Debian's Chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || true; \
	fi
	@[ -x $(CHROMIUM) ] || { echo "$(CHROMIUM) is missing; run: $(SUDO)apt-get install -y chromium" >&2; exit 1; }

## pysaml2 as a third-party IdP for the tests (tests/pysaml2_idp.py): a venv of its own, since pysaml2 7.5 needs an
## older cryptography than the console's, and Debian's xmlsec1, which pysaml2 signs and encrypts with
$(PYSAML2)/.installed:
	@if [ ! -x /usr/bin/xmlsec1 ] && [ -z "$(SUDO)" ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xmlsec1 >/dev/null || true; \
	fi
	@[ -x /usr/bin/xmlsec1 ] || { echo "/usr/bin/xmlsec1 is missing; run: $(SUDO)apt-get install -y xmlsec1" >&2; exit 1; }
	$(PYTHON) -m venv $(PYSAML2)
	$(PYSAML2)/bin/pip install --quiet pysaml2==7.5.5
	touch $@

pysaml2: $(PYSAML2)/.installed

## SimpleSAMLphp as a second third-party IdP for the tests (tests/simplesamlphp_idp.py): Debian's package and PHP's
## command line; the tests serve it with PHP's built-in server (the apache2 the package pulls in need not run)
simplesamlphp:
	@if ! { $(SIMPLESAMLPHP_READY); } && [ -z "$(SUDO)" ]; then \
	  echo "Installing Debian's SimpleSAMLphp for the interop tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    $(SIMPLESAMLPHP_PACKAGES) >/dev/null || true; \
	fi
	@$(SIMPLESAMLPHP_READY) || { echo "SimpleSAMLphp is missing; run: $(SUDO)apt-get install -y \
	--no-install-recommends $(SIMPLESAMLPHP_PACKAGES)" >&2; exit 1; }

## The layers (import-linter contracts in pyproject.toml), then the whole suite, nothing skipped: unit and
## integration tests on SQLite and PostgreSQL (CRM_TEST_DATABASE_URL, else a throwaway cluster the run starts and
## removes), browser tests in Chromium; in TEST_WORKERS processes (pytest-xdist, a file's tests in one of them; 0 runs
## them all in this one)
TEST_WORKERS ?= 2
test: chromium install node_modules/.installed $(PYSAML2)/.installed simplesamlphp
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest --numprocesses $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

## Benchmarks (not tests): results in bench/results/; CRM_BENCH_DATABASE_URL adds PostgreSQL
bench: install
	$(BIN)/python -m bench.run

lint: install
	$(BIN)/ruff check crm tests bench app.py

clean-db:
	rm -f instance/crm.sqlite3 instance/crm.sqlite3-wal instance/crm.sqlite3-shm
