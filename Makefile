# `make run` and `make test` each set up what they need first: Python 3.10+ and make are enough.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
BENCH_INSTALLED := $(VENV)/.bench-installed
PIP_INSTALL := -m pip install --quiet --disable-pip-version-check

.PHONY: run test lint typecheck unit bench lambda lambda-zip deploy-files clean

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

# deploy/ is what task_deploy writes for Widget, and these lines are the one place its arguments
# live: test_deploy.py reads them (make -n) and fails when deploy/ differs from what they write.
DEPLOY_DIR ?= deploy
LAMBDA_RUNTIME := python3.12
WIDGET_SECRETS := --secret password=env:DB_PASSWORD
WIDGET_IMAGE := 123456789012.dkr.ecr.us-east-1.amazonaws.com/widget:1
deploy-files: $(INSTALLED)
	$(BIN)/python -m task_deploy sam assignment:Widget --handler assignment.handler --runtime $(LAMBDA_RUNTIME) --code-uri ../dist/lambda.zip --trigger direct --trigger http --trigger url --trigger sqs --trigger sqs-fifo --trigger sns --trigger eventbridge --trigger kinesis --trigger dynamodb $(WIDGET_SECRETS) -o $(DEPLOY_DIR)/template.yaml
	$(BIN)/python -m task_deploy batch-job assignment:Widget --image $(WIDGET_IMAGE) $(WIDGET_SECRETS) -o $(DEPLOY_DIR)/batch-job-definition.json
	$(BIN)/python -m task_deploy k8s-job assignment:Widget --image $(WIDGET_IMAGE) --completions 3 $(WIDGET_SECRETS) -o $(DEPLOY_DIR)/k8s-job.yaml

# The code deploy/template.yaml deploys: refused (exit 2) unless .venv's Python is $(LAMBDA_RUNTIME)'s.
lambda-zip: $(INSTALLED)
	$(BIN)/python -m task_deploy zip --handler assignment.handler --runtime $(LAMBDA_RUNTIME) -o dist/lambda.zip

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
