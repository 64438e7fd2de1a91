# Pitwall developer commands. `make up` = quick start with real data; `make test` = the test suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8001
SHARED ?= ../shared
export PITWALL_SHARED_DIR ?= $(abspath $(SHARED))

.PHONY: setup up run release serve worker beat stack test test-fast lint format bench migrate seed-data clean

$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e ".[dev]"
	touch $@

setup: $(VENV)/.installed ## install dependencies into .venv (pinned by requirements.lock)

up: setup ## fresh machine -> site with real data on :$(PORT)
	DEBUG=$${DEBUG:-true} ./scripts/quickstart.sh

run: setup
	DEBUG=$${DEBUG:-true} $(PY) manage.py runserver $${HOST:-127.0.0.1}:$(PORT)

release: setup ## deploy step, once per deploy before start: checks, migrate, seed schedules, collectstatic
	./scripts/release.sh

serve: setup ## gunicorn alone on :$(PORT) with gunicorn.conf.py (run `make release` first)
	PORT=$(PORT) $(VENV)/bin/gunicorn -c gunicorn.conf.py

stack: setup ## release, then web (gunicorn :$(PORT)) + Celery worker + one beat via honcho; needs DATABASE_URL + REDIS_URL
	DEBUG=$${DEBUG:-true} PORT=$(PORT) ./scripts/stack.sh --release

# The suite runs against the real PostgreSQL and Redis (as CI does); these defaults are the local
# services and apply only when the variables are not already set.
test: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
test: export TEST_DATABASE_NAME ?= pitwall_test
test: export REDIS_URL ?= redis://127.0.0.1:6379/15
# Two pytest-xdist workers (PYTEST_WORKERS=0 runs in one process): most of the suite's time is
# spent waiting on subprocesses, Celery workers, sockets and PostgreSQL, so two processes share two
# cores well. Each worker has its own test database, Redis database and var/ (tests/settings.py).
PYTEST_WORKERS ?= 2
test: setup ## the test suite against PostgreSQL + Redis (DATABASE_URL / REDIS_URL override the local defaults)
	$(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrate: setup
	$(PY) manage.py migrate --noinput

bench: setup
	$(PY) -m bench.run_all

clean:
	rm -rf var/test .pytest_cache
