# `make run` and `make test` each set up what they need first: Python 3 and make are enough.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench lambda clean

run: $(INSTALLED)
	$(BIN)/python assignment.py --config fixtures/widget.json

test: lint typecheck unit

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(INSTALLED)
	$(BIN)/mypy

unit: $(INSTALLED)
	$(BIN)/pytest

bench: $(INSTALLED)
	$(BIN)/python bench.py

# The shipped Lambda event, through the real AWS Lambda runtime client.
lambda: $(INSTALLED)
	$(BIN)/python lambda_local.py fixtures/lambda_event.json

clean:
	rm -rf $(VENV) .coverage .mypy_cache .ruff_cache

$(INSTALLED): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@
