# Xiaoshen — two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= 8501
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install browser index run test lint bench sample-policies clean fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

# torch first, from the CPU wheel: anything that pulls torch in later would otherwise fetch a CUDA build.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,llm-test]'
	touch $(STAMP)

install: $(STAMP)

# Incremental: unchanged files cost no embedding work, so this is cheap when the index is current.
index: install
	$(BIN)/xiaoshen ingest data/sample_policies --prune

run: index
	$(BIN)/xiaoshen app --port $(PORT)

# The end-to-end test drives the app in Debian's chromium (never a browser downloaded by Playwright).
browser:
	[ -x /usr/bin/chromium ] || { $(SUDO) apt-get update -qq && \
		$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

test: install browser
	$(BIN)/ruff check .
	XIAOSHEN_REQUIRE_BROWSER=1 $(BIN)/python -m pytest

# The reader and clause-splitter fuzz tests of `make test`, with FUZZ_SCALE times the examples, fresh each run.
fuzz: install
	FUZZ_SCALE=$${FUZZ_SCALE:-60} $(BIN)/python -m pytest tests/test_fuzz_ingest.py -p no:cacheprovider \
		--timeout=0 -q --hypothesis-show-statistics

lint: install
	$(BIN)/ruff check .

bench: index
	$(BIN)/python bench/run.py

sample-policies: install
	$(BIN)/python scripts/build_sample_policies.py

clean:
	rm -rf var .pytest_cache test-artifacts
