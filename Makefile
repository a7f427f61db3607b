# The user's interface to the kit. `make` alone lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export UV_PYTHON_DOWNLOADS := never
# Cached bytecode keeps the start of every `python -m app` subprocess short: installed
# packages arrive compiled (the first `make run` or `make test` compiles nothing of
# theirs), and the project's own modules are compiled once, on first import.
export UV_COMPILE_BYTECODE ?= 1
unexport PYTHONDONTWRITEBYTECODE
# uv: on PATH, or a module of python3, or else installed by `install` into a private
# tools venv inside the project: never into the system interpreter, which PEP 668
# ("externally-managed-environment") protects on Debian, Ubuntu and Homebrew.
TOOLS := .tools
TOOLS_UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.9
UV := $(or $(shell command -v uv 2>/dev/null),$(shell python3 -m uv --version >/dev/null 2>&1 && echo "python3 -m uv"),$(TOOLS_UV))
# Every target that runs the project's tools depends on `install` (which syncs .venv), so
# they skip uv run's own sync (and its check of every file's bytecode, ~0.5 s each).
RUN = $(UV) run --frozen --no-sync
COMPOSE_DEV = docker compose -f docker-compose.yaml -f docker-compose.dev.yaml

.PHONY: help install run test test-scaffold fuzz soak lint fmt migrate seed user revision module shell worker scheduler bench up down logs compose deploy kubectl clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  \033[1m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(filter $(TOOLS_UV),$(UV)) ## Install the project and its tools into .venv (from uv.lock)
	$(UV) sync --frozen

$(TOOLS_UV):
	@echo "uv not found: installing uv $(UV_VERSION) into $(TOOLS)/ (a private venv; python3 stays untouched)"
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

run: install ## Migrate and serve the API on http://127.0.0.1:8000 (SQLite, no services needed)
	$(RUN) python -m app serve

# The linters (mostly mypy, on the CPU) run while the suite runs (much of it waiting on
# PostgreSQL, Redis and subprocesses); their report follows the suite's, and either failing
# fails the target. They hold var/lint.lock (where `flock` exists): the Copier template
# tests wait on it to start the generated projects' mypy from the kit's fresh cache.
# COVERAGE=1 (CI sets it) also measures the suite's coverage of app/ and fails under 90%:
# on Python 3.11 the tracer doubles the CPU of the in-process tests.
LINT_LOCK = $(if $(shell command -v flock 2>/dev/null),flock var/lint.lock)
test: install ## Run every check and the whole suite against PostgreSQL and Redis (COVERAGE=1: with coverage)
	bash .ci/services
	@mkdir -p var
	@$(LINT_LOCK) $(MAKE) --no-print-directory lint > var/lint.log 2>&1 & linting=$$!; \
	$(RUN) pytest -n auto --maxprocesses 6 --dist worksteal $(if $(filter 1,$(COVERAGE)),--cov --cov-report=term); tested=$$?; \
	wait $$linting; linted=$$?; echo "--- make lint"; cat var/lint.log; \
	if [ $$linted -ne 0 ]; then echo "make lint failed (exit $$linted)"; fi; \
	exit $$(( tested != 0 || linted != 0 ))

test-scaffold: install ## Generate a module in a copy of the project and run its own tests there
	bash .ci/services
	$(RUN) pytest -m scaffold tests/unit/test_scaffold.py

fuzz: install ## Fuzz every operation from the OpenAPI schema, longer than make test (FUZZ_EXAMPLES=300)
	bash .ci/services
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-300} $(RUN) pytest tests/integration/fuzz -p no:xdist -q -s

soak: install ## Mixed traffic for SOAK_MINUTES (5) with Redis, worker and API faults; proves nothing is lost
	bash .ci/services
	$(RUN) python -m bench.soak

# The CI files (.github/) are validated by the suite (tests/unit/test_ci_files.py).
lint: install ## ruff, formatting, mypy --strict, the import contracts, Dockerfile and compose files
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(RUN) lint-imports
	$(RUN) hadolint Dockerfile
	$(RUN) check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yaml docker-compose.dev.yaml

fmt: install ## Format the code and fix what ruff can
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

migrate: install ## Migrate the database to the newest revision
	$(RUN) python -m app migrate

# demo: movies
seed: install ## Load the bundled films (idempotent); ARGS="--movies 1000" adds generated ones
	$(RUN) python -m app seed $(ARGS)
# end demo: movies

user: install ## Create a user, asking its password: make user EMAIL=a@b.c USERNAME=ada [SUPERUSER=1]
	$(RUN) python -m app create-user --email "$(EMAIL)" --username "$(USERNAME)" $(if $(SUPERUSER),--superuser)

revision: install ## A new migration from the models: make revision m="posts: add a summary"
	$(RUN) alembic revision --autogenerate -m "$(m)"

module: install ## Scaffold a module with its tests and migration: make module name=books
	$(RUN) python -m app new-module "$(name)"

shell: install ## A Python shell inside the project's environment
	$(RUN) python

worker: install ## Run a background-task worker (needs REDIS_URL)
	$(RUN) python -m app worker

scheduler: install ## Run the one periodic-task scheduler (needs REDIS_URL)
	$(RUN) python -m app scheduler

# demo: movies posts
# The servers run from a default install (no dev packages, as in the image): see bench/servers.py.
BENCH_VENV := bench/.venv-default
bench: install ## The kit side by side with a bare reference on PostgreSQL + Redis (QUICK=1: < 1 min)
	bash .ci/services
	UV_PROJECT_ENVIRONMENT=$(BENCH_VENV) $(UV) sync --frozen --no-dev --compile-bytecode --quiet
	BENCH_PYTHON=$(CURDIR)/$(BENCH_VENV)/bin/python $(RUN) python -m bench.run $(if $(QUICK),--quick)
# end demo: movies posts

up: compose .env ## Start the development stack in Docker (hot reload, docs, Mailpit; docker-compose.dev.yaml)
	$(COMPOSE_DEV) up --build --detach
	@echo "API http://localhost:8000/docs  mail http://localhost:8025  logs: make logs"

down: compose ## Stop the development stack (its data volumes stay)
	$(COMPOSE_DEV) down

logs: compose ## Follow the development stack's logs
	$(COMPOSE_DEV) logs --follow --tail=100

# One line, instead of docker's "unknown shorthand flag: 'f' in -f", when compose is missing.
compose:
	@docker compose version >/dev/null 2>&1 || { echo "make up needs Docker with the compose plugin ('docker compose version' fails): install Docker Engine or Desktop with Compose v2" >&2; exit 1; }

# Kubernetes: the overlay deploy/k8s/overlays/$(OVERLAY) (prod, or OVERLAY=dev), applied
# with the kubectl context in use; then its migrate Job (named after the image tag: a new
# one each release) must complete, and each Deployment finish rolling out (the API's new
# pods turn ready once the schema is at their head).
OVERLAY ?= prod
K8S_OVERLAY = deploy/k8s/overlays/$(OVERLAY)
K8S_NAMESPACE = $(shell sed -n 's/^namespace: *//p' $(K8S_OVERLAY)/kustomization.yaml)
K8S_TIMEOUT ?= 10m

deploy: kubectl ## Apply deploy/k8s/overlays/OVERLAY (prod; OVERLAY=dev), wait for its migrate Job and the rollouts
	kubectl apply -k $(K8S_OVERLAY)
	kubectl wait --for=condition=complete --timeout=$(K8S_TIMEOUT) -l app.kubernetes.io/component=migrate -f <(kubectl kustomize $(K8S_OVERLAY))
	for name in api worker scheduler; do kubectl -n $(K8S_NAMESPACE) rollout status --timeout=$(K8S_TIMEOUT) deployment/fastapi-modulith-$$name || exit; done

# One line, instead of make's "kubectl: No such file or directory", when kubectl is missing.
kubectl:
	@command -v kubectl >/dev/null 2>&1 || { echo "make deploy needs kubectl on the PATH, with a context for your cluster: install it (https://kubernetes.io/docs/tasks/tools/)" >&2; exit 1; }

# The stack needs a SECRET_KEY and a database password: a first `make up` writes random
# ones, nothing else.
.env:
	@echo "writing .env with a random SECRET_KEY and POSTGRES_PASSWORD (add any other setting of .sample.env there)"
	@echo "SECRET_KEY=$$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')" > $@
	@echo "POSTGRES_PASSWORD=$$(python3 -c 'import secrets; print(secrets.token_hex(16))')" >> $@

clean: ## Remove the local SQLite database, mail files and caches
	rm -rf var .coverage .coverage.* .mypy_cache .ruff_cache .pytest_cache
