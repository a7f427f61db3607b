"""A TCP proxy on a free loopback port that a test can cut and restore: the service
behind it (the shared PostgreSQL) looks unreachable to the app, and nobody else notices."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tests.processes import free_port


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def restore(self) -> None:
        """Accept and forward connections (again)."""
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)

    async def cut(self) -> None:
        """Refuse new connections and break the open ones, as a network failure would."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _forward(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        try:
            server_in, server_out = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_out.close()
            return
        pipes = [
            asyncio.create_task(self._pipe(client_in, server_out)),
            asyncio.create_task(self._pipe(server_in, client_out)),
        ]
        self._pipes.update(pipes)
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
                self._pipes.discard(pipe)
            for writer in (client_out, server_out):
                writer.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()


@asynccontextmanager
async def tcp_proxy(upstream_host: str, upstream_port: int) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(upstream_host, upstream_port)
    await proxy.restore()
    try:
        yield proxy
    finally:
        await proxy.cut()
