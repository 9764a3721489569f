# dayflow: `make demo` runs the example pipeline on a local stack; `make test` runs every check.
# Both build .venv first, on a fresh machine, with nothing installed by hand.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
DAYFLOW := $(VENV)/bin/dayflow
STAMP := $(VENV)/.installed
# Lock files (exact versions and sha256 hashes of every dependency, for every platform):
# locks/all.txt is the whole development environment (main dependencies and the local, infra and
# dev extras); locks/runtime.txt is the job-runner image's subset, at the same versions;
# locks/uv.txt pins uv itself. All three are written by `make lock`.
# uv rather than pip-tools: `uv pip compile --universal` resolves once for every platform (Linux
# CI and image, macOS and Windows laptops), where pip-compile resolves only for the machine it
# runs on; and uv installs in parallel: `make venv` on a fresh clone took 19 s, against 87 s when
# pip installed the same environment (2 cores, empty caches). The files are plain requirements
# files, so pip installs them too (`pip install --require-hashes -r`), as the Dockerfile does.
LOCK := locks/all.txt
RUNTIME_LOCK := locks/runtime.txt
UV_LOCK := locks/uv.txt
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv
UV_COMPILE := --universal --python-version 3.13 --generate-hashes --quiet --custom-compile-command 'make lock'
# Extra flags for `make lock`, e.g. LOCK_FLAGS=--upgrade or LOCK_FLAGS='--upgrade-package fastapi';
# without them the versions already in the lock are kept where pyproject.toml still allows them.
LOCK_FLAGS ?=
# dayflow's version (pyproject.toml): the toolkit image's tag, dayflow-job-runner:$(VERSION).
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' pyproject.toml)
TOOLKIT_IMAGE := dayflow-job-runner:$(VERSION)
# The example project's Dockerfile, which layers examples/shop on the toolkit image.
EXAMPLE_DIR := examples/shop
# The Dataform CLI and core of the tests' project (tests/project), pinned in its package.json and
# package-lock.json: the one Dataform project run locally (the example's spec has no Dataform
# job; its image installs its own), so `make venv` runs one `npm ci`.
DATAFORM_DIR := tests/project/dataform
DATAFORM_STAMP := $(DATAFORM_DIR)/node_modules/.installed

# A Python 3.13: python3.13 on PATH if it runs (a pyenv shim refuses unless 3.13 is selected), else pyenv's.
PYTHON313 ?= $(shell \
  if python3.13 -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null; then command -v python3.13; \
  elif command -v pyenv >/dev/null 2>&1 && v=$$(pyenv versions --bare 2>/dev/null | grep -E '^3\.13(\.[0-9]+)?$$' | tail -n 1) && [ -n "$$v" ]; then \
    echo "$$(pyenv root)/versions/$$v/bin/python3.13"; fi)

.PHONY: help venv lock demo test lint typecheck pytest browser bench image example-image docker-engine clean

help:
	@echo "make demo   run the example pipeline on a local stack (no GCP account needed)"
	@echo "make test   lint, type-check and run every test"
	@echo "make bench  run the benchmarks in bench/ (each prints one JSON object)"
	@echo "make browser  install Debian's chromium + chromium-driver (the status page's browser tests; root)"
	@echo "make lock   regenerate locks/ from pyproject.toml (after adding or changing a dependency)"
	@echo "make image  the toolkit image $(TOOLKIT_IMAGE) (needs Docker); make example-image: the shop's on it"

venv: $(STAMP)

$(PY):
	@test -n "$(PYTHON313)" || { echo "error: no Python 3.13 found (looked for python3.13 on PATH, then pyenv)" >&2; exit 2; }
	$(PYTHON313) -m venv $(VENV)

# Everything from the lock, hashes checked; then dayflow itself, editable, adding nothing.
$(STAMP): pyproject.toml $(LOCK) | $(UV) $(DATAFORM_STAMP)
	$(UV) pip install --python $(PY) --quiet --require-hashes -r $(LOCK)
	$(UV) pip install --python $(PY) --quiet --no-deps -e .
	# local-bigquery loads DuckDB extensions at start-up and would download them: install them from wheels.
	$(PY) -c "from duckdb_extensions import import_extension; [import_extension(e) for e in ('ducklake', 'icu', 'json', 'parquet', 'spatial')]"
	touch $(STAMP)

# uv, bootstrapped into the venv by pip from its own hash-checked lock.
$(UV): $(UV_LOCK) | $(PY)
	$(PY) -m pip install --quiet --require-hashes -r $(UV_LOCK)
	touch $(UV)

lock: $(UV)
	$(UV) pip compile pyproject.toml --extra local --extra infra --extra dev $(UV_COMPILE) $(LOCK_FLAGS) -o $(LOCK)
	$(UV) pip compile pyproject.toml -c $(LOCK) $(UV_COMPILE) -o $(RUNTIME_LOCK)
	echo 'uv==$(UV_VERSION)' | $(UV) pip compile - $(UV_COMPILE) -o $(UV_LOCK)

$(DATAFORM_STAMP): $(DATAFORM_DIR)/package.json $(DATAFORM_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found: Dataform jobs need Node.js 20+ and npm" >&2; exit 2; }
	npm ci --prefix $(DATAFORM_DIR) --no-audit --no-fund
	touch $(DATAFORM_STAMP)

lint: venv
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/yamllint -s src/dayflow/workflows/

typecheck: venv
	$(VENV)/bin/mypy src services examples
	cd src/dayflow/functions/ingest_events && $(CURDIR)/$(VENV)/bin/mypy --config-file $(CURDIR)/pyproject.toml .

# Two workers (pytest-xdist), one per core: the tests mostly wait on emulators and subprocesses.
# `--dist loadfile` keeps each file on one worker, so module fixtures (dbt marts, stacks) are
# built once; `--no-loadscope-reorder` hands the files out in collection order, which starts the
# slowest first (tests/conftest.py: SLOW_FILES) instead of last. PYTEST_WORKERS=0 runs them in
# this process.
PYTEST_WORKERS ?= 2
pytest: venv browser
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15

test: lint typecheck pytest

# Headless Chromium and its driver for the status page's browser tests (tests/ui/), from Debian's
# packages; nothing to do when both are there. (Needs root, as CI and the dev image run.)
CHROMIUM := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver
browser: $(CHROMIUM) $(CHROMEDRIVER)

$(CHROMIUM) $(CHROMEDRIVER) &:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver

bench: venv
	@for b in bench/*.py; do echo "# $$b"; $(PY) $$b; done

# The toolkit image: dayflow's job-runner with no project in it (services/job_runner/Dockerfile).
image: docker-engine
	docker build -f services/job_runner/Dockerfile -t $(TOOLKIT_IMAGE) .

# The example project's image on it, as any project builds its own (examples/shop/Dockerfile).
example-image: image
	docker build --build-arg DAYFLOW_IMAGE=$(TOOLKIT_IMAGE) -t shop-job-runner:$(VERSION) $(EXAMPLE_DIR)

# Both need a running Docker engine (CI has one).
docker-engine:
	@command -v docker >/dev/null 2>&1 || { echo "make image: no docker command found; install Docker, or build the images in CI (.github/workflows/deploy.yml)" >&2; exit 2; }
	@docker info >/dev/null 2>&1 || { echo "make image: no Docker engine is running here (docker info failed); start one, or build the images in CI (.github/workflows/deploy.yml)" >&2; exit 2; }

demo: venv
	cd examples/shop && ../../$(PY) demo.py

clean:
	rm -rf $(VENV) .dayflow .mypy_cache .pytest_cache .ruff_cache
