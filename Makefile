# Two commands set everything up on a fresh machine: `make test` and `make demo`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: test lint typecheck unit plan demo drill browser clean

# The virtual environment is rebuilt whenever a requirements file changes.
$(STAMP): requirements-dev.txt functions/requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet pip==26.3  # pinned: pip's version is part of the package cache key
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) browser
	$(BIN)/pytest

# Debian's Chromium for the browser tests (Playwright drives it), installed only when missing.
browser:
	@command -v chromium >/dev/null || (apt-get update && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

# The whole platform locally, offline, on http://127.0.0.1:8000 (VETROI_PORT) until Ctrl-C.
demo: $(STAMP)
	$(BIN)/python -m localdemo

# The fault matrix against a fresh local environment, printed as a table.
drill: $(STAMP)
	$(BIN)/python -m localdemo.drill

# What both stacks would create, and every policy rule's verdict; fails on a broken rule.
plan: $(STAMP)
	$(BIN)/python -m policies.plan

test: lint typecheck plan unit

clean:
	rm -rf $(VENV) .build .pytest_cache .mypy_cache .ruff_cache
