"""The scheduler process stops cleanly: SIGTERM ends it with exit 0 and no error on its
output (no traceback, no unretrieved task exception)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.config import Settings
from tests.integration.queue.conftest import WORKER_START_SECONDS, settings_env, wait_for
from tests.processes import start_app_process, stop

pytestmark = pytest.mark.runs_long  # an interpreter that imports the app


async def test_sigterm_stops_the_scheduler_cleanly(settings: Settings, tmp_path: Path) -> None:
    log, alive = tmp_path / "scheduler.log", tmp_path / "scheduler.alive"
    process = start_app_process(
        ["scheduler", "--heartbeat-file", str(alive)], env=settings_env(settings), log=log
    )
    try:
        await wait_for(
            lambda: process.poll() is not None or alive.exists(),
            WORKER_START_SECONDS,
            "the scheduler's first heartbeat",
        )
        assert process.poll() is None, log.read_text()
    finally:
        code = stop(process)
    output = log.read_text()
    assert code == 0, output
    assert "Traceback" not in output
    assert "never retrieved" not in output
