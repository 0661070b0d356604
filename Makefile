# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Every install takes its exact versions from the lock (see `make lock`); the stamps are keyed
# on pyproject.toml and the lock, so a changed dependency or a refreshed lock reinstalls.
LOCK := requirements/constraints.txt
HASH := $(shell cat pyproject.toml $(LOCK) | md5sum | cut -c1-8)
RUN_STAMP := $(VENV)/.installed-run-$(HASH)
STAMP := $(VENV)/.installed-dev-$(HASH)
# pip first (the one in the lock knows --build-constraint), then the project: -c pins what it
# installs, --build-constraint pins hatchling in the isolated build of the editable install.
PIN_PIP := $(BIN)/pip install --quiet -c $(LOCK) pip
PIP_INSTALL := $(BIN)/pip install --quiet -c $(LOCK) --build-constraint $(LOCK)
# The resolver `make lock` runs in a throwaway venv (a tool, not a dependency), and the oldest
# Python the lock serves: fastapi 0.165 needs 3.11, which the image runs too.
UV := uv==0.13.9
LOCK_PYTHON := 3.11

.PHONY: run test lint bench system-deps postgres clean lock lock-upgrade

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# `make run` needs only the service's own dependencies; tests and benchmarks add [dev] (and so
# also satisfy `make run`). An install voids the stamps of other hashes: going back to an
# earlier lock must reinstall it, not find its old stamp.
DROP_OTHER_STAMPS := find $(VENV) -maxdepth 1 -name '.installed-*' ! -name '*-$(HASH)' -delete
$(RUN_STAMP): $(BIN)/python pyproject.toml $(LOCK)
	$(PIN_PIP)
	$(PIP_INSTALL) -e .
	$(DROP_OTHER_STAMPS)
	touch $(RUN_STAMP)

$(STAMP): $(BIN)/python pyproject.toml $(LOCK)
	$(PIN_PIP)
	$(PIP_INSTALL) -e '.[dev]'
	$(DROP_OTHER_STAMPS)
	touch $(STAMP) $(RUN_STAMP)

## run: start datacat on http://127.0.0.1:8080 with the SQLite file ./datacat.db
run: $(RUN_STAMP)
	$(BIN)/datacat serve

## test: install what the tests need (venv, Chromium, Go, PostgreSQL running) and run them all
test: $(STAMP) system-deps postgres
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest

## bench: the benchmark suite (see bench/README.md); prints JSON lines and a Markdown table
bench: $(STAMP) system-deps
	$(BIN)/python -m bench

system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v wrk >/dev/null 2>&1 || missing="$$missing wrk"; \
	command -v go >/dev/null 2>&1 || missing="$$missing golang-go"; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

postgres:
	@bash scripts/ensure-postgres.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

## lock: re-resolve $(LOCK) after editing pyproject.toml's dependencies (pins that still fit stay)
lock:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT \
	&& $(PYTHON) -m venv "$$tmp" && "$$tmp/bin/pip" install --quiet $(UV) \
	&& "$$tmp/bin/uv" pip compile --quiet --universal --python-version $(LOCK_PYTHON) \
		--extra dev --custom-compile-command 'make lock' $(LOCK_FLAGS) \
		pyproject.toml requirements/tools.in -o $(LOCK)

## lock-upgrade: the same, moving every package to its newest release that fits
lock-upgrade:
	$(MAKE) lock LOCK_FLAGS=--upgrade

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache test-artifacts
