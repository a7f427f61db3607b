# The user's interface to the kit. `make` alone lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export UV_PYTHON_DOWNLOADS := never
# Cached bytecode keeps the start of every `python -m app` subprocess short.
unexport PYTHONDONTWRITEBYTECODE
# Evaluated when used, so that a uv installed by `install` is found.
UV = $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
RUN = $(UV) run --frozen

.PHONY: help install run test test-scaffold lint fmt migrate worker scheduler bench clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  \033[1m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: ## Install the project and its tools into .venv (from uv.lock)
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet uv
	$(UV) sync --frozen

run: install ## Migrate and serve the API on http://127.0.0.1:8000 (SQLite, no services needed)
	$(RUN) python -m app serve

test: install lint ## Run every check and the whole test suite against PostgreSQL and Redis
	bash .ci/services
	$(RUN) pytest -n auto --maxprocesses 6 --cov --cov-report=term

test-scaffold: install ## Generate a module in a copy of the project and run its own tests there
	bash .ci/services
	$(RUN) pytest -m scaffold tests/unit/test_scaffold.py

lint: install ## ruff, formatting, mypy --strict, the import contracts, Dockerfile and compose
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(RUN) lint-imports
	$(RUN) hadolint Dockerfile
	$(RUN) check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yaml

fmt: install ## Format the code and fix what ruff can
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

migrate: install ## Migrate the database to the newest revision
	$(RUN) python -m app migrate

worker: install ## Run a background-task worker (needs REDIS_URL)
	$(RUN) python -m app worker

scheduler: install ## Run the one periodic-task scheduler (needs REDIS_URL)
	$(RUN) python -m app scheduler

bench: install ## Load-test a real server on loopback (requests/s, latency percentiles, peak RSS)
	$(RUN) python bench/run.py

clean: ## Remove the local SQLite database, mail files and caches
	rm -rf var .coverage .coverage.* .mypy_cache .ruff_cache .pytest_cache
