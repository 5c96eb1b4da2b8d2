# Every target that needs Python first runs `install`, so a fresh clone needs nothing else.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export QNABOT_HOME ?= $(CURDIR)/.qnabot
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test test-fast lint format bench soak package deploy lock clean

install: $(STAMP)

# Pinned dependencies, the project itself, and the local embeddings model exported to ONNX.
$(STAMP): requirements.lock requirements-nodeps.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	HF_HUB_OFFLINE=1 $(PY) -m knowledge.embeddings.export_onnx
	@touch $(STAMP)

# Load the demo content into $(QNABOT_HOME) and start the local server with the chat page.
run: install
	$(VENV)/bin/qnabot serve --load-demo --host $(HOST) --port $(PORT)

test: install
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not slow and not browser"

lint: install
	$(VENV)/bin/ruff check .

format: install
	$(VENV)/bin/ruff format .

# Latency, memory, import and accuracy figures up to 1,000,000 questions (bench/README.md);
# the knowledge bases are kept in build/bench-kb for the next run.
bench: install
	$(PY) -m bench.run --keep build/bench-kb

soak: install
	$(PY) -m bench.soak

# Lambda artifacts under build/, with their sizes.
package: install
	$(PY) -m infra.package --measure

# Deploy to AWS with the AWS CLI (see infra/README.md).
deploy: package
	@test -n "$(STACK)" && test -n "$(REGION)" || { echo "usage: make deploy STACK=name REGION=region [PARAMS='AdminEmail=you@example.com ...']" >&2; exit 2; }
	infra/deploy.sh $(STACK) $(REGION) $(PARAMS)

# Re-resolve requirements.in into exact pins (run after changing requirements.in).
lock:
	@rm -rf /tmp/qnabot-lock && $(PYTHON) -m venv /tmp/qnabot-lock
	/tmp/qnabot-lock/bin/pip install -q -r requirements.in -r requirements-model.txt
	/tmp/qnabot-lock/bin/pip freeze --exclude-editable | grep -v '^pip==' > requirements.lock

clean:
	rm -rf $(VENV) build artifacts .pytest_cache
