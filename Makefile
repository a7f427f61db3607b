# The user's interface to the kit. `make` alone lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export UV_PYTHON_DOWNLOADS := never
UV := $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
RUN := $(UV) run --frozen

.PHONY: help install run test lint fmt migrate worker clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  \033[1m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(UV):
	python3 -m pip install --user --quiet uv || python3 -m pip install --quiet uv

install: $(UV) ## Install the project and its tools into .venv (from uv.lock)
	$(UV) sync --frozen

run: install ## Migrate and serve the API on http://127.0.0.1:8000 (SQLite, no services needed)
	$(RUN) python -m app serve

test: install lint ## Run every check and the whole test suite against PostgreSQL and Redis
	bash .ci/services
	$(RUN) coverage erase
	$(RUN) coverage run -m pytest
	$(RUN) coverage combine --quiet
	$(RUN) coverage report

lint: install ## ruff, formatting, mypy --strict and the import contracts
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(RUN) lint-imports

fmt: install ## Format the code and fix what ruff can
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

migrate: install ## Migrate the database to the newest revision
	$(RUN) python -m app migrate

worker: install ## Run a background-task worker (needs REDIS_URL)
	$(RUN) python -m app worker

clean: ## Remove the local SQLite database, mail files and caches
	rm -rf var .coverage .coverage.* .mypy_cache .ruff_cache .pytest_cache
