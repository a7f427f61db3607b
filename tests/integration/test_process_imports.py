"""The process that serves loads only what serving needs: with Redis it only sends tasks, so
it imports neither taskiq nor the HTTP client taskiq's package imports, and `serve`
migrates in a child, so neither migrating nor the readiness probe loads Alembic."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from app.core.config import Settings
from tests.processes import PROJECT_ROOT

PROBE = """
import asyncio, json, sys
from app.cli import migrate_apart
from app.main import create_app
from tests.apps import client_of, started
from tests.conftest import load_test_settings

async def serve() -> None:
    settings = load_test_settings()
    migrate_apart(settings, debug=False)  # as `serve` does
    async with started(create_app(settings)) as app, client_of(app) as client:
        assert (await client.get("/health/ready")).status_code == 200

asyncio.run(serve())
print(json.dumps([name for name in ("taskiq", "aiohttp", "alembic") if name in sys.modules]))
"""


def loaded_after_start() -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


@pytest.mark.runs_long
@pytest.mark.usefixtures("engine")  # the schema the start-up reads
def test_the_serving_process_loads_neither_the_task_runner_nor_alembic(settings: Settings) -> None:
    assert settings.redis_url
    assert loaded_after_start() == []
