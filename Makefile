# The README's two set-up commands are `make run` and `make test`; the rest are helpers.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# Where tests find the real services (the defaults match a local PostgreSQL/Redis).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/recsite
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test install install-dev lint format bench-ingest bench-quality seed smoke

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --disable-pip-version-check -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PIP) install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

## make run: install, migrate, create the operator, (optionally) load demo data, start web + worker.
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py ensure_operator
	@if [ "$(DEMO)" = "1" ]; then $(PY) manage.py seed_demo; fi
	bash scripts/run.sh

## make test: install everything (Chromium from Debian included); the suite on PostgreSQL + Redis, then again on SQLite (no browser).
test: install-dev
	bash scripts/install_chromium.sh
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) $(PY) -m pytest
	DATABASE_URL=sqlite:///$(CURDIR)/var/test.sqlite3 CELERY_BROKER_URL=$(TEST_BROKER_URL) $(PY) -m pytest -m "not browser"

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

seed: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo

smoke: install
	bash scripts/smoke_embedded.sh
