# Xiaoshen — two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= 8501
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install browser ocr-tools scan-fonts index run test lint bench sample-policies clean fuzz lock sbom \
	office screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

# Everything from requirements.lock, each wheel checked against its SHA-256 (a swapped package fails the
# install); torch is pinned to the CPU wheel that pip finds on this machine's disk (its find-links, which
# uv is given too: uv reads no pip config). uv (itself hash-locked in requirements-uv.lock) installs the
# lock in seconds where pip takes minutes, which keeps `make test` on a fresh clone inside its budget;
# if uv fails, pip installs the same lock. Files are copied, not hard-linked from uv's cache: NLTK refuses to
# read a file with more than one link (its stopwords, which LlamaIndex's sentence splitter loads).
# Bytecode is compiled at install, as pip does: otherwise every test process compiles what it imports. The project itself last, without deps and without build
# isolation, so its build backend (setuptools) is the locked one too.
PIP := $(BIN)/python -m pip --disable-pip-version-check
FIND_LINKS = $${PIP_FIND_LINKS:-$$($(PIP) config get global.find-links 2>/dev/null)}
$(STAMP): requirements.lock requirements-uv.lock pyproject.toml | $(BIN)/python
	$(PIP) install --quiet --require-hashes -r requirements-uv.lock
	UV_FIND_LINKS="$(FIND_LINKS)" $(BIN)/uv pip install --quiet --link-mode copy --compile-bytecode --python $(BIN)/python --require-hashes \
		-r requirements.lock || $(PIP) install --quiet --require-hashes -r requirements.lock
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP) ocr-tools

# OCR of scanned policies (ingest/ocr.py): OCRmyPDF drives Debian's Tesseract with its English and
# Simplified Chinese data and Ghostscript; nothing is downloaded at run time.
ocr-tools:
	[ -x /usr/bin/tesseract ] && [ -x /usr/bin/gs ] && tesseract --list-langs 2>/dev/null | grep -qx chi_sim || { \
		$(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim ghostscript; }

# Incremental: unchanged files cost no embedding work, so this is cheap when the index is current.
index: install
	$(BIN)/xiaoshen ingest data/sample_policies --prune

run: index
	$(BIN)/xiaoshen app --port $(PORT)

# The end-to-end test drives the app in Debian's chromium (never a browser downloaded by Playwright).
browser:
	[ -x /usr/bin/chromium ] || { $(SUDO) apt-get update -qq && \
		$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }
	# Chinese review notes (and their screenshots) need a CJK font in the browser.
	fc-list | grep -q "Noto Sans CJK" || { $(SUDO) apt-get update -qq && \
		$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fonts-noto-cjk; }

# The screenshot of a Word note (scripts/screenshots.py) is the .docx as LibreOffice lays it out.
office:
	command -v soffice >/dev/null || { $(SUDO) apt-get update -qq && \
		$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libreoffice-writer-nogui; }

screenshots: index browser office
	$(BIN)/python scripts/screenshots.py

# Two workers by default (the reference machine has two cores), each model on one thread so the workers
# and the processes they start do not fight over the cores. A test module runs whole on one worker, so its
# fixtures are built once; slow modules start first (tests/conftest.py orders them) and the short ones fill
# in around them. TEST_WORKERS=0 runs serially, the models on every core.
TEST_WORKERS ?= 2
test: install browser
	$(BIN)/ruff check .
	$(if $(filter 0,$(TEST_WORKERS)),,XIAOSHEN_EMBEDDING__THREADS=1) XIAOSHEN_REQUIRE_BROWSER=1 \
		$(BIN)/python -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder)

# The reader and clause-splitter fuzz tests of `make test`, with FUZZ_SCALE times the examples, fresh each run.
fuzz: install
	FUZZ_SCALE=$${FUZZ_SCALE:-60} $(BIN)/python -m pytest tests/test_fuzz_ingest.py -p no:cacheprovider \
		--timeout=0 -q --hypothesis-show-statistics

lint: install
	$(BIN)/ruff check .

bench: index scan-fonts
	$(BIN)/python bench/run.py
	$(BIN)/python bench/ocr_bench.py

# Rendering the scanned copies (scripts/build_scanned_policies.py) needs a Chinese TrueType font.
scan-fonts:
	[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || { $(SUDO) apt-get update -qq && \
		$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fonts-wqy-microhei; }

sample-policies: install scan-fonts
	$(BIN)/python scripts/build_sample_policies.py

# Regenerate the lock after a change to pyproject.toml or constraints.txt (needs PyPI): pip resolves in a
# dry run and the lock keeps the SHA-256 of each file it chose (scripts/lock.py says why not pip-compile).
lock: install
	$(BIN)/python scripts/lock.py --python $(BIN)/python

# A CycloneDX SBOM of the installed set, plus the model files from xiaoshen/models.toml (not committed).
sbom: install
	mkdir -p var
	$(BIN)/cyclonedx-py environment --pyproject pyproject.toml --output-reproducible --of JSON \
		-o var/sbom.cdx.json $(VENV)
	$(BIN)/python -m xiaoshen.model_files --add-to-sbom var/sbom.cdx.json

clean:
	rm -rf var .pytest_cache test-artifacts
