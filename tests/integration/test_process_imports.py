"""With Redis the API process only sends tasks: started, it has imported neither taskiq nor
the HTTP client that taskiq's package imports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from app.core.config import Settings
from tests.processes import PROJECT_ROOT

PROBE = """
import asyncio, json, sys
from app.main import create_app
from tests.apps import started
from tests.conftest import load_test_settings

async def start() -> None:
    async with started(create_app(load_test_settings())):
        pass

asyncio.run(start())
print(json.dumps([name for name in ("taskiq", "aiohttp") if name in sys.modules]))
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
def test_the_api_process_never_loads_the_task_runner(settings: Settings) -> None:
    assert settings.redis_url
    assert loaded_after_start() == []
