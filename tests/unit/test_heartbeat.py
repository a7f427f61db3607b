"""The liveness file of the worker and the scheduler, and its probe."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from app.core.heartbeat import MAX_AGE, main, run_with_heartbeat


async def test_the_file_is_touched_while_running_and_removed_after(tmp_path: Path) -> None:
    path = tmp_path / "alive"
    seen: list[float] = []

    async def process() -> None:
        for _ in range(3):
            await asyncio.sleep(0.02)
            seen.append(path.stat().st_mtime)

    await run_with_heartbeat(process(), path, interval=0.01)
    assert len(set(seen)) > 1
    assert not path.exists()


async def test_without_a_file_the_process_just_runs() -> None:
    ran: list[bool] = []

    async def process() -> None:
        ran.append(True)

    await run_with_heartbeat(process(), None)
    assert ran == [True]


def test_probe_passes_only_for_a_recent_heartbeat(tmp_path: Path) -> None:
    path = tmp_path / "alive"
    assert main([str(path)]) == 1
    path.touch()
    assert main([str(path)]) == 0
    stale = time.time() - MAX_AGE - 1
    os.utime(path, (stale, stale))
    assert main([str(path)]) == 1
    assert main([]) == 2
