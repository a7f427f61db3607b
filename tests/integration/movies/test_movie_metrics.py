"""/metrics after movie reads: the route template, cache hits and misses, the outbox backlog."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.queue.outbox import OutboxMessage
from tests.factories import create_movie
from tests.integration.accounts import API
from tests.integration.test_metrics import scrape, value


@pytest.mark.own_app  # counts from zero
async def test_requests_cache_lookups_and_outbox_backlog_are_counted(
    client: httpx.AsyncClient, user_headers: dict[str, str], session: AsyncSession
) -> None:
    movie = await create_movie(session)
    before = await scrape(client)
    for _ in range(2):  # a miss (loaded and stored), then a hit
        response = await client.get(f"{API}/movies/{movie.movie_id}", headers=user_headers)
        assert response.status_code == 200
    session.add(OutboxMessage(task_name="tests:pending", kwargs={}, labels={}))
    await session.flush()
    after = await scrape(client)

    route = f"{API}/movies/{{movie_id}}"
    assert value(after, "http_requests_total", method="GET", route=route, status="200") == 2
    assert value(after, "http_request_duration_seconds_count", method="GET", route=route) == 2
    for counter in ("cache_hits_total", "cache_misses_total"):
        moved = value(after, counter, namespace="movies") - value(
            before, counter, namespace="movies"
        )
        assert moved == 1, counter
    assert value(after, "queue_outbox_pending") == value(before, "queue_outbox_pending") + 1
    assert ("queue_outbox_oldest_due_seconds", frozenset()) in after
