"""The API server process imports only what it serves with (memory and start-up time), and
a default install (`uv sync --no-dev`, the image) has no tracing or Sentry packages at all."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from collections import defaultdict
from collections.abc import Iterable
from fnmatch import fnmatch
from typing import Any

import pytest
from packaging.requirements import Requirement

from tests.processes import PROJECT_ROOT

NOT_FOR_SERVING = (
    "app.worker",
    "app.movies.seed",  # demo: movies
    "faker",
    "app.scaffold",
    "inflect",
    # The task runner: the API only sends tasks (see tests/integration/test_process_imports.py).
    "taskiq",
    "aiohttp",
    "aiosmtplib",  # a worker delivers the mail the API renders
    # Loaded by migrating only (`serve` migrates in a child process).
    "alembic",
    # Tracing and error reporting, while their settings are empty (FastAPI and redis-py
    # import parts of the OpenTelemetry API and SDK themselves once they are installed).
    "opentelemetry.instrumentation",
    "opentelemetry.exporter",
    "sentry_sdk",
)
# The packages of the `observability` extra (and what they bring), out of a default install:
# once installed, the SDK is imported by redis-py into every process, psutil with it.
OBSERVABILITY_PACKAGES = (
    "opentelemetry-sdk",
    "opentelemetry-exporter-*",
    "opentelemetry-instrumentation*",
    "sentry-sdk",
)
# A package of the lock, and one of its extras (None: its own dependencies).
Wanted = tuple[str, str | None]


@pytest.mark.runs_long
def test_serving_loads_no_worker_seeding_or_scaffolding_code() -> None:
    # What `python -m app serve` imports before uvicorn builds the app from `app.main`.
    probe = (
        "import json, sys; import app.cli, app.main; "
        f"print(json.dumps([name for name in {NOT_FOR_SERVING!r} if name in sys.modules]))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(loaded) == []


def locked_install(extras: Iterable[str] = (), group: str | None = None) -> set[str]:
    """The packages `uv sync --frozen --no-dev` installs from uv.lock, with `--extra` each
    of `extras` and `--group group`: every platform's (markers are not evaluated)."""
    lock = tomllib.loads((PROJECT_ROOT / "uv.lock").read_text())
    packages: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for package in lock["package"]:
        packages[package["name"]].append(package)
    [project] = [package for package in lock["package"] if package["source"] == {"virtual": "."}]

    def wanted(requirements: Iterable[dict[str, Any]]) -> list[Wanted]:
        return [
            (required["name"], extra)
            for required in requirements
            for extra in (None, *required.get("extra", ()))
        ]

    todo = [(project["name"], None), *((project["name"], extra) for extra in extras)]
    if group is not None:
        todo += wanted(project["dev-dependencies"][group])
    seen: set[Wanted] = set()
    while todo:
        name, extra = item = todo.pop()
        if item in seen:
            continue
        seen.add(item)
        for package in packages[name]:
            if extra is None:
                todo += wanted(package.get("dependencies", ()))
            else:
                todo += wanted(package.get("optional-dependencies", {}).get(extra, ()))
    return {name for name, _ in seen}


def observability(names: Iterable[str]) -> set[str]:
    return {name for name in names for pattern in OBSERVABILITY_PACKAGES if fnmatch(name, pattern)}


def test_a_default_install_has_no_tracing_or_sentry_packages_and_the_extra_brings_them() -> None:
    default = locked_install()
    assert {"fastapi", "redis", "taskiq", "opentelemetry-api"} <= default  # the closure works
    assert observability(default) == set()
    # structlog imports rich (and pygments) into every process wherever it is installed.
    assert not {"rich", "pygments"} & default
    with_extra = locked_install(extras=["observability"])
    brought = observability(with_extra)
    for pattern in OBSERVABILITY_PACKAGES:
        assert any(fnmatch(name, pattern) for name in brought), pattern
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    required = project["optional-dependencies"]["observability"]
    assert {Requirement(requirement).name for requirement in required} <= with_extra
    # `make install` (the dev group) has them: the telemetry tests run.
    assert with_extra <= locked_install(group="dev")
