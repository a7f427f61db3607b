"""The liveness file of the worker and the scheduler, and its probe."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from app.core.heartbeat import MAX_AGE, main, run_with_heartbeat


def modified(path: Path) -> int | None:
    return path.stat().st_mtime_ns if path.exists() else None


async def next_beat(path: Path, after: int | None) -> int:
    """The file's next modification time (polled; generous for a loaded machine)."""
    for _ in range(1000):
        stamp = modified(path)
        if stamp is not None and stamp != after:
            return stamp
        await asyncio.sleep(0.005)
    raise AssertionError(f"{path} was not touched")


async def test_the_file_is_touched_while_running_and_removed_after(tmp_path: Path) -> None:
    path = tmp_path / "alive"

    async def process() -> None:
        await next_beat(path, await next_beat(path, None))

    await run_with_heartbeat(process(), path, interval=0.01)
    assert modified(path) is None


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
