"""A liveness signal for the processes that serve no HTTP: the worker and the scheduler.

While the process runs, its event loop touches a file every `HEARTBEAT_INTERVAL` seconds
(`--heartbeat-file`). A probe (the compose healthcheck, a Kubernetes liveness probe) runs
`python -m app.core.heartbeat FILE`, which exits 1 when the file is missing or older than
`MAX_AGE`: a process whose event loop is stuck gets restarted. This module imports nothing
of the app, so the probe costs milliseconds, not the app's start-up.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable
from pathlib import Path

HEARTBEAT_INTERVAL = 10.0
MAX_AGE = 60.0


async def keep_beating(path: Path, interval: float = HEARTBEAT_INTERVAL) -> None:
    """Touch `path` every `interval` seconds, until cancelled."""
    while True:
        await asyncio.to_thread(path.touch)
        await asyncio.sleep(interval)


async def run_with_heartbeat(
    main: Awaitable[None], path: Path | None, interval: float = HEARTBEAT_INTERVAL
) -> None:
    """Await `main`, touching `path` meanwhile (when given); remove it when `main` ends."""
    if path is None:
        await main
        return
    beating = asyncio.create_task(keep_beating(path, interval))
    try:
        await main
    finally:
        beating.cancel()
        await asyncio.to_thread(path.unlink, missing_ok=True)


def is_fresh(path: Path, max_age: float = MAX_AGE) -> bool:
    try:
        modified = path.stat().st_mtime
    except FileNotFoundError:
        return False
    return time.time() - modified <= max_age


def main(arguments: list[str]) -> int:
    """`python -m app.core.heartbeat FILE`: 0 when FILE was touched recently, else 1."""
    if len(arguments) != 1:
        sys.stderr.write("usage: python -m app.core.heartbeat FILE\n")
        return 2
    path = Path(arguments[0])
    if is_fresh(path):
        return 0
    sys.stderr.write(f"{path}: no heartbeat in the last {MAX_AGE:.0f} s\n")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
