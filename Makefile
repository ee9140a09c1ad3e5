# Thin wrappers over uv. `make` installs uv first when it is missing, so a fresh
# Debian machine with Python 3.11 and make needs nothing else.
SHELL := /bin/bash
export PATH := $(HOME)/.local/bin:$(PATH)
UV := uv
PORT ?= 8000

.PHONY: run test lint bench catalog uv sync

uv:
	@bash tools/ensure-uv.sh

sync: uv
	@$(UV) sync --frozen --all-packages --quiet

## run: serve the current directory read-only with the filesystem connector, Streamable HTTP on 127.0.0.1:$(PORT)
run: sync
	$(UV) run --frozen patchbay-filesystem --transport http --host 127.0.0.1 --port $(PORT) "$(CURDIR)"

## test: lint, then the whole test suite
test: lint
	$(UV) run --frozen pytest

## lint: ruff check, ruff format --check, mypy --strict on shared/
lint: sync
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy

## bench: base overhead vs a bare MCPServer; filesystem and postgres vs the reference servers; 1/2/3 replicas behind nginx
bench: sync
	$(UV) run --frozen python bench/base_overhead.py
	$(UV) run --frozen python bench/filesystem_vs_reference.py
	$(UV) run --frozen python bench/postgres_vs_reference.py
	PATCHBAY_NGINX="$$(bash tools/ensure-nginx.sh)" $(UV) run --frozen python bench/replicas.py

## catalog: regenerate catalog.json (root and bundled copy) from servers/*/server.json and the connectors
catalog: sync
	$(UV) run --frozen patchbay catalog build
