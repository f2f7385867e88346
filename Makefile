# Two commands do everything on a fresh machine with python3 >= 3.11 and make:
#   make run   install, migrate, load demo data, serve the site with its worker on 127.0.0.1:8000
#   make test  install and pass the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
MANAGE := $(PY) manage.py
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run setup test test-fast browser-deps lint format bench clean

# The lock file is hash-pinned; uv installs it into a plain venv (no global state touched).
$(BIN)/.installed: requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check "uv==0.13.9"
	UV_PYTHON_DOWNLOADS=never $(BIN)/uv pip install -q --python $(PY) --require-hashes -r requirements.lock
	touch $@

install: $(BIN)/.installed

# Idempotent: safe to run on every start and on every deploy (see fly.toml release command).
setup: install
	$(MANAGE) migrate --noinput
	$(MANAGE) setup_roles
	$(MANAGE) setup_schedules

# The demo relaxes the staff MFA requirement so the demo logins work at once; production keeps it.
run: setup
	$(MANAGE) seed_demo
	STAFF_MFA_REQUIRED=$${STAFF_MFA_REQUIRED:-false} RUN_ADDR=$(HOST):$(PORT) \
		$(BIN)/honcho --procfile Procfile.dev --no-prefix start

# Browser tests drive Debian's Chromium; install it when missing (root on these machines).
browser-deps:
	@test -x /usr/bin/chromium || { \
		echo "Installing Debian's chromium for the browser tests"; \
		(apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
		echo "WARNING: could not install chromium; browser tests will be skipped"; }

test: install browser-deps
	$(BIN)/pytest

test-fast: install
	$(BIN)/pytest -m "not browser"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(PY) bench/run.py
	$(PY) bench/scheduling.py
	$(PY) bench/records.py
	$(PY) bench/realtime.py
	$(PY) bench/analytics.py

clean:
	rm -rf $(VENV) .pytest_cache
