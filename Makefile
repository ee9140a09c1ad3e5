# Thin wrappers over uv. `make` installs uv first when it is missing, so a fresh
# Debian machine with Python 3.11 and make needs nothing else.
SHELL := /bin/bash
export PATH := $(HOME)/.local/bin:$(PATH)
UV := uv
PORT ?= 8000

.PHONY: run test soak lint bench catalog images uv sync

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

## soak: the reliability suite (tests/reliability) at full length: 20 clients x 200 calls, restarts every 5 s for 20 s, 300 fuzz cases per tool (new ones each run)
soak: sync
	PATCHBAY_SOAK=1 $(UV) run --frozen pytest tests/reliability -m reliability --timeout 1800

## lint: ruff check, ruff format --check, mypy --strict on shared/
lint: sync
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy

## bench: base overhead vs a bare MCPServer; filesystem, postgres, s3, drive, slack and github vs the reference servers; 1/2/3 replicas behind nginx; start-up of every connector; then issue 17's table (bench/summary.py) from this run's figures
bench: export PATCHBAY_BENCH_RESULTS = $(CURDIR)/bench/.results.jsonl
bench: sync
	rm -f "$$PATCHBAY_BENCH_RESULTS"
	$(UV) run --frozen python bench/base_overhead.py
	$(UV) run --frozen python bench/filesystem_vs_reference.py
	$(UV) run --frozen python bench/postgres_vs_reference.py
	$(UV) run --frozen python bench/s3_vs_reference.py
	$(UV) run --frozen python bench/drive_vs_reference.py
	$(UV) run --frozen python bench/slack_vs_reference.py
	$(UV) run --frozen python bench/github_vs_reference.py
	PATCHBAY_NGINX="$$(bash tools/ensure-nginx.sh)" $(UV) run --frozen python bench/replicas.py
	$(UV) run --frozen python bench/startup.py
	$(UV) run --frozen python bench/summary.py "$$PATCHBAY_BENCH_RESULTS"

## catalog: regenerate catalog.json (root and bundled copy) from servers/*/server.json and the connectors
catalog: sync
	$(UV) run --frozen patchbay catalog build

ENGINE ?= $(shell command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 && echo docker || echo podman)
IMAGE_REPO ?= ghcr.io/patchbay
CONNECTORS := $(patsubst servers/%/pyproject.toml,%,$(wildcard servers/*/pyproject.toml))
ifeq ($(ENGINE),podman)
# HEALTHCHECK needs the docker format; builds behind a TLS-intercepting proxy need the host's CA bundle.
IMAGE_BUILD_FLAGS := --format docker $(if $(wildcard /etc/ssl/certs/ca-certificates.crt),-v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
endif

## images: a container image per connector (docker/Dockerfile) with docker, or podman where docker is absent; the untagged build-stage images are removed afterwards
images:
	@if [ "$(ENGINE)" = podman ]; then bash tools/ensure-podman.sh; fi
	@set -euo pipefail; \
	base="$$(PATCHBAY_CONTAINER_ENGINE=$(ENGINE) bash tools/build-base-image.sh)"; \
	revision="$$(git rev-parse HEAD 2>/dev/null || echo unknown)"; \
	for id in $(CONNECTORS); do \
	  version="$$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' servers/$$id/pyproject.toml)"; \
	  echo "images: $(IMAGE_REPO)/patchbay-$$id:$$version (base $$base)"; \
	  $(ENGINE) build $(IMAGE_BUILD_FLAGS) -f docker/Dockerfile \
	    --build-arg BASE_IMAGE="$$base" --build-arg CONNECTOR="$$id" \
	    --build-arg VERSION="$$version" --build-arg REVISION="$$revision" \
	    -t "$(IMAGE_REPO)/patchbay-$$id:$$version" -t "$(IMAGE_REPO)/patchbay-$$id:latest" . ; \
	done; \
	$(ENGINE) image prune --force --filter label=io.patchbay.stage=build >/dev/null; \
	$(ENGINE) images --filter "reference=$(IMAGE_REPO)/patchbay-*"
