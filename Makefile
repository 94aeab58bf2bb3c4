# `make run` and `make test` each set up what they need first: Python 3.10+ and make are enough.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
BENCH_INSTALLED := $(VENV)/.bench-installed
PIP_INSTALL := -m pip install --quiet --disable-pip-version-check

.PHONY: run test lint typecheck unit bench lambda clean

run: $(INSTALLED)
	$(BIN)/python assignment.py --config fixtures/widget.json

test: lint typecheck unit

lint: $(INSTALLED)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .

typecheck: $(INSTALLED)
	$(BIN)/python -m mypy

unit: $(INSTALLED)
	$(BIN)/python -m pytest

bench: $(BENCH_INSTALLED)
	$(BIN)/python bench.py

# The shipped Lambda events, through the real AWS Lambda runtime client (EVENTS=... to choose),
# with the log settings deploy/template.yaml gives the function unless they are set (task_testing's).
EVENTS ?= fixtures/lambda_event.json
lambda: $(INSTALLED)
	$(BIN)/python -m task_testing assignment.handler $(EVENTS)

clean:
	rm -rf $(VENV) build dist *.egg-info .coverage .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# A failed set-up removes the half-made environment, so the next run starts afresh.
$(INSTALLED): requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "This project needs Python 3.10 or newer; $(PYTHON) is " + sys.version.split()[0] + ". Run make PYTHON=python3.12 (or another 3.10+).")'
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV) && $(BIN)/python $(PIP_INSTALL) -r requirements.txt || { rm -rf $(VENV); exit 1; }
	touch $@

$(BENCH_INSTALLED): $(INSTALLED) requirements-bench.txt
	$(BIN)/python $(PIP_INSTALL) -r requirements-bench.txt
	touch $@
