# make run:  install into .venv, then run the demo and serve the web app.
# make test: install with the dev tools, then lint, type-check and test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed

.PHONY: run test lint typecheck pytest browser install install-dev clean

run: $(RUNTIME)
	$(BIN)/splitrec demo

test: lint typecheck browser pytest

lint: $(DEV)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(DEV)
	$(BIN)/mypy

pytest: $(DEV)
	$(BIN)/pytest

# The end-to-end tests drive Debian's chromium through Playwright; never a
# browser download (no `playwright install`). Skipped when it is there.
browser:
	@test -x /usr/bin/chromium || { \
		apt-get update && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; }

install: $(RUNTIME)
install-dev: $(DEV)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV): pyproject.toml $(RUNTIME) | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) splitrec.db splitrec.db-wal splitrec.db-shm
