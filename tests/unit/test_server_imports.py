"""The API server process imports only what it serves with (memory and start-up time)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

NOT_FOR_SERVING = (
    "app.worker",
    "app.movies.seed",  # demo: movies
    "faker",
    "app.scaffold",
    "inflect",
    # Tracing and error reporting, while their settings are empty (FastAPI and redis-py
    # import parts of the OpenTelemetry API and SDK themselves once they are installed).
    "opentelemetry.instrumentation",
    "opentelemetry.exporter",
    "sentry_sdk",
)


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
