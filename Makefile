# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HASH := $(shell cat pyproject.toml | md5sum | cut -c1-8)
RUN_STAMP := $(VENV)/.installed-run-$(HASH)
STAMP := $(VENV)/.installed-dev-$(HASH)

.PHONY: run test lint bench system-deps postgres clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# `make run` needs only the service's own dependencies; tests and benchmarks add [dev].
$(RUN_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $(RUN_STAMP)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

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

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache test-artifacts
