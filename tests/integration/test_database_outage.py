"""PostgreSQL unreachable under load: 503 problems with Retry-After, then recovery
without a restart. The app reaches the shared PostgreSQL through a proxy of the test's
own, which the test cuts and restores."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.main import create_app
from tests.apps import serving
from tests.integration.queue.conftest import wait_for
from tests.tcp_proxy import TcpProxy, tcp_proxy

CLIENTS = 4


@dataclass(frozen=True)
class Answer:
    at: float
    status: int
    retry_after: str | None
    content_type: str


@pytest.fixture
async def proxy(settings: Settings) -> AsyncIterator[TcpProxy]:
    url = make_url(settings.database_url)
    async with tcp_proxy(url.host or "127.0.0.1", url.port or 5432) as running:
        yield running


async def load(client: httpx.AsyncClient, answers: list[Answer], stop: asyncio.Event) -> None:
    while not stop.is_set():
        # In-process requests touch no socket: a 503 answered without any I/O (the pool
        # refusing at once) would never let the test's other tasks run.
        await asyncio.sleep(0)
        response = await client.get("/api/v1/posts")
        answers.append(
            Answer(
                time.monotonic(),
                response.status_code,
                response.headers.get("retry-after"),
                response.headers["content-type"],
            )
        )


@pytest.mark.usefixtures("engine")  # the schema is migrated
async def test_database_unreachable_mid_load_is_503_then_recovers_without_restart(
    settings: Settings, proxy: TcpProxy
) -> None:
    through_proxy = make_url(settings.database_url).set(port=proxy.port)
    app_settings = settings.model_copy(
        update={
            "database_url": through_proxy.render_as_string(hide_password=False),
            "database_connect_timeout": 1,
        }
    )
    answers: list[Answer] = []
    stop = asyncio.Event()

    def answered(status: int, since: float) -> int:
        return sum(answer.status == status and answer.at >= since for answer in answers)

    async with serving(create_app(app_settings)) as client:
        clients = [asyncio.create_task(load(client, answers, stop)) for _ in range(CLIENTS)]
        await wait_for(lambda: answered(200, 0) >= CLIENTS, what="answers before the cut")
        cut_at = time.monotonic()
        await proxy.cut()
        await wait_for(lambda: answered(503, cut_at) >= CLIENTS, what="503 while cut")
        await proxy.restore()
        restored_at = time.monotonic()
        await wait_for(lambda: answered(200, restored_at) >= 2 * CLIENTS, what="recovery")
        stop.set()
        await asyncio.gather(*clients)

    assert {answer.status for answer in answers} <= {200, 503}
    assert all(answer.status == 200 for answer in answers if answer.at < cut_at)
    unavailable = [answer for answer in answers if answer.status == 503]
    assert all(answer.retry_after == "5" for answer in unavailable)
    assert all(answer.content_type == "application/problem+json" for answer in unavailable)
    assert all(answer.status == 200 for answer in answers[-CLIENTS:])  # recovered, no restart
