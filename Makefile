# Two commands set everything up on a fresh machine: `make test` and `make demo`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: test lint typecheck unit plan demo clean

# The virtual environment is rebuilt whenever a requirements file changes.
$(STAMP): requirements-dev.txt functions/requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

# What both stacks would create, and every policy rule's verdict; fails on a broken rule.
plan: $(STAMP)
	$(BIN)/python -m policies.plan

test: lint typecheck unit plan

clean:
	rm -rf $(VENV) .build .pytest_cache .mypy_cache .ruff_cache
