"""A redis-server of the test's own that goes away and comes back with the data it had.

Killing it makes every command fail at once (connection refused), so nothing a client
sends during the outage reaches it later; its data is saved first (RDB in the test's
directory) and loaded again on restart, as a Redis with persistence, or one behind a
network outage, would keep it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from redis.asyncio import Redis

from tests.processes import start_redis_server, stop


class FlakyRedis:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.url, self.process = start_redis_server(workdir)

    @asynccontextmanager
    async def down(self) -> AsyncIterator[None]:
        """Redis unreachable inside the block, back (same port, same data) after it."""
        async with Redis.from_url(self.url) as client:
            await client.save()
        self.process.kill()
        self.process.wait()
        try:
            yield
        finally:
            _, self.process = start_redis_server(self.workdir, port=urlsplit(self.url).port)

    def stop(self) -> None:
        stop(self.process)


@pytest.fixture(name="flaky_redis")
def flaky_redis_fixture(tmp_path: Path) -> Iterator[FlakyRedis]:
    server = FlakyRedis(tmp_path)
    yield server
    server.stop()
