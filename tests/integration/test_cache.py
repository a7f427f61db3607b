"""The cache on both backends, its invalidation after commit, and a Redis that goes away."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, TypeAdapter
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.cache import SCAN_BATCH, Cache, create_cache
from app.core.config import Settings
from app.core.db import Database
from app.core.deps import CacheDep, UnitOfWorkDep
from app.core.errors import ConflictError
from app.core.injection import provided_by
from app.core.redis import create_request_redis
from app.main import create_app
from tests.apps import grant_cache_lease, serving
from tests.conftest import load_test_settings
from tests.processes import start_redis_server, stop


class Greeting(BaseModel):
    name: str
    text: str


GREETING = TypeAdapter(Greeting)


@pytest.fixture
def memory_cache(settings: Settings, session_factory: async_sessionmaker[AsyncSession]) -> Cache:
    return create_cache(settings, None, Database(session_factory))


@pytest.fixture
async def redis_cache(
    settings: Settings, redis: Redis, session_factory: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Cache]:
    """A Redis-backed cache on the suite's own (flushed) db, its lease granted."""
    await grant_cache_lease(redis)
    cache = create_cache(settings, redis, Database(session_factory))
    yield cache
    await cache.renewed()


@pytest.fixture(params=["memory_cache", "redis_cache"])
def cache(request: pytest.FixtureRequest) -> Cache:
    """A cache on each backend."""
    cache: Cache = request.getfixturevalue(request.param)
    return cache


async def test_values_round_trip_as_json(cache: Cache) -> None:
    value = {"id": 7, "title": "Amélie", "tags": ["a", "b"], "rating": 8.3, "seen": None}
    await cache.set("movies:7", value)
    await cache.set("count", 3)
    assert await cache.get("movies:7") == value
    assert await cache.get("count") == 3
    assert await cache.get("movies:8") is None


async def test_delete_and_delete_by_prefix(cache: Cache) -> None:
    for key in ("movies:1", "movies:2", "movies*[x]:1", "posts:1"):
        await cache.set(key, key)
    await cache.delete("posts:1", "missing")
    assert await cache.get("posts:1") is None
    await cache.delete_prefix("movies*[x]:")  # glob characters match only themselves
    assert await cache.get("movies:1") == "movies:1"
    assert await cache.get("movies*[x]:1") is None
    await cache.delete_prefix("movies:")
    assert await cache.get("movies:1") is None
    assert await cache.get("movies:2") is None


async def test_entries_expire_after_their_ttl(cache: Cache) -> None:
    await cache.set("short", "soon gone", ttl=0.05)
    await cache.set("long", "still here")
    await asyncio.sleep(0.1)
    assert await cache.get("short") is None
    assert await cache.get("long") == "still here"


async def test_a_claim_stores_its_value_only_where_there_is_none(cache: Cache) -> None:
    assert cache.reachable
    assert await cache.claim("fence", "first") == "first"
    assert await cache.claim("fence", "second") == "first"
    await cache.delete("fence")
    assert await cache.claim("fence", "third") == "third"


async def test_keys_a_request_expects_travel_with_its_next_read(cache: Cache) -> None:
    await cache.set("movies:1", "Heat")
    await cache.set("caller", "alice")
    reads = cache.for_request()
    reads.expect("movies:1")
    assert await reads.get_many(["caller", "missing"]) == ["alice", None]
    await cache.set("movies:1", "Heat 2")

    assert await reads.get("movies:1") == "Heat"  # read ahead, with the read above
    assert await reads.get("movies:1") == "Heat 2"  # taken once: read again


async def test_a_new_cache_version_sees_none_of_the_old_entries(memory_cache: Cache) -> None:
    backend_cache = memory_cache
    await backend_cache.set("movies:1", "old")
    bumped = Cache(backend_cache._backend, version="2", default_ttl=60)
    assert await bumped.get("movies:1") is None
    assert await backend_cache.get("movies:1") == "old"


async def test_get_or_load_loads_once_and_never_caches_none(cache: Cache) -> None:
    loads: list[str] = []

    async def load_greeting() -> Greeting:
        loads.append("greeting")
        return Greeting(name="Ada", text="Hello")

    async def load_nothing() -> Greeting | None:
        loads.append("nothing")
        return None

    first = await cache.get_or_load("greetings:ada", load_greeting, GREETING)
    second = await cache.get_or_load("greetings:ada", load_greeting, GREETING)
    assert first == second == Greeting(name="Ada", text="Hello")
    assert await cache.get("greetings:ada") == {"name": "Ada", "text": "Hello"}
    optional = TypeAdapter(Greeting | None)
    assert await cache.get_or_load("greetings:nobody", load_nothing, optional) is None
    assert await cache.get_or_load("greetings:nobody", load_nothing, optional) is None
    assert loads == ["greeting", "nothing", "nothing"]


async def test_an_entry_that_no_longer_validates_is_reloaded(cache: Cache) -> None:
    await cache.set("greetings:ada", {"name": "Ada"})  # written by an older schema

    async def load() -> Greeting:
        return Greeting(name="Ada", text="Hi")

    assert await cache.get_or_load("greetings:ada", load, GREETING) == Greeting(
        name="Ada", text="Hi"
    )
    assert await cache.get("greetings:ada") == {"name": "Ada", "text": "Hi"}


async def test_redis_entries_are_json_and_garbage_is_a_miss(
    settings: Settings, redis: Redis, redis_cache: Cache
) -> None:
    cache = redis_cache
    await cache.set("movies:1", {"title": "Heat"})
    assert await redis.get(f"cache:v{settings.cache_version}:movies:1") == b'{"title":"Heat"}'
    await redis.set(f"cache:v{settings.cache_version}:movies:2", b"\x80\x04pickled")
    assert await cache.get("movies:2") is None


async def test_delete_by_prefix_in_redis_goes_through_many_keys(
    settings: Settings, redis: Redis, redis_cache: Cache
) -> None:
    cache = redis_cache
    async with redis.pipeline(transaction=False) as pipe:
        for number in range(SCAN_BATCH + 20):
            pipe.set(f"cache:v{settings.cache_version}:bulk:{number}", "1")
        await pipe.execute()
    await cache.set("other:1", "kept")
    await cache.delete_prefix("bulk:")
    assert await redis.keys(f"cache:v{settings.cache_version}:*") == [
        f"cache:v{settings.cache_version}:other:1".encode()
    ]
    assert await cache.get("other:1") == "kept"


@pytest.fixture
def notes_app(app: FastAPI) -> FastAPI:
    """Test routes that write through the unit of work and invalidate a cached note."""

    async def update_note(
        note_id: int, cache: CacheDep, uow: UnitOfWorkDep, fail: bool = False
    ) -> dict[str, object]:
        cache.invalidate_after_commit(uow, f"notes:{note_id}", prefixes=["note-lists:"])
        still_cached = await cache.get(f"notes:{note_id}") is not None
        if fail:
            raise ConflictError("Note changed meanwhile")
        return {"cached_until_commit": still_cached}

    app.add_api_route("/test/notes/{note_id}", update_note, methods=["PUT"])
    return app


@pytest.mark.own_app  # adds a route
async def test_invalidation_happens_after_commit(
    notes_app: FastAPI, client: httpx.AsyncClient
) -> None:
    cache = provided_by(notes_app).get(Cache)
    await cache.set("notes:1", {"text": "old"})
    await cache.set("note-lists:page-1", [1])
    response = await client.put("/test/notes/1")
    assert response.status_code == 200
    assert response.json() == {"cached_until_commit": True}
    assert await cache.get("notes:1") is None
    assert await cache.get("note-lists:page-1") is None


@pytest.mark.own_app  # adds a route
async def test_a_rolled_back_request_invalidates_nothing(
    notes_app: FastAPI, client: httpx.AsyncClient
) -> None:
    cache = provided_by(notes_app).get(Cache)
    await cache.set("notes:1", {"text": "still right"})
    response = await client.put("/test/notes/1", params={"fail": "true"})
    assert response.status_code == 409
    assert await cache.get("notes:1") == {"text": "still right"}


def _outage_warnings(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [
        record.msg
        for record in caplog.records
        if isinstance(record.msg, dict) and record.msg.get("event") == "redis unavailable"
    ]


@pytest.fixture
def greetings_app(own_redis: tuple[str, subprocess.Popen[bytes]]) -> FastAPI:
    """An app on its own Redis whose route serves a cached read, counting the loads.

    Built in a fixture: `create_app` configures logging afresh, which would drop the
    handler `caplog` installs for the test's body.
    """
    app = create_app(load_test_settings(redis_url=own_redis[0], redis_request_timeout=0.2))
    app.state.loads = []

    async def greeting(name: str, cache: CacheDep) -> Greeting:
        async def load() -> Greeting:
            app.state.loads.append(name)
            return Greeting(name=name, text=f"Hello {name}")

        return await cache.get_or_load(f"greetings:{name}", load, GREETING)

    app.add_api_route("/test/greetings/{name}", greeting)
    return app


async def test_a_stopped_redis_is_a_miss_and_the_request_is_still_served(
    greetings_app: FastAPI,
    own_redis: tuple[str, subprocess.Popen[bytes]],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    app, server, loads = greetings_app, own_redis[1], greetings_app.state.loads
    caplog.set_level(logging.INFO)
    client_of_own = Redis.from_url(own_redis[0])
    await grant_cache_lease(client_of_own)
    await client_of_own.aclose()
    async with serving(app) as client:
        assert (await client.get("/test/greetings/ada")).status_code == 200
        assert (await client.get("/test/greetings/ada")).status_code == 200
        assert loads == ["ada"]
        server.kill()
        server.wait()
        for _ in range(3):
            response = await client.get("/test/greetings/ada")
            assert response.status_code == 200
            assert response.json() == {"name": "ada", "text": "Hello ada"}
        assert loads == ["ada"] * 4
        _, restarted = start_redis_server(tmp_path, port=int(own_redis[0].split(":")[2][:-2]))
        try:
            # Back, empty: the first read misses and renews the lease, the second is a hit.
            assert (await client.get("/test/greetings/ada")).status_code == 200
            await provided_by(app).get(Cache).renewed()
            assert (await client.get("/test/greetings/ada")).status_code == 200
        finally:
            stop(restarted)
    assert loads == ["ada"] * 5
    warnings = _outage_warnings(caplog)
    assert len(warnings) == 1  # once per outage, not once per request
    assert warnings[0]["service"] == "cache"
    assert any(
        isinstance(record.msg, dict) and record.msg.get("event") == "redis available again"
        for record in caplog.records
    )


async def test_cache_writes_to_an_unreachable_redis_are_skipped(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    unreachable = load_test_settings(redis_url="redis://127.0.0.1:1/0")
    client = create_request_redis(unreachable)
    assert client is not None
    cache = create_cache(settings, client, Database(session_factory))
    try:
        await cache.set("movies:1", {"title": "Heat"})
        await cache.delete("movies:1")
        await cache.delete_prefix("movies:")
        assert await cache.get("movies:1") is None
        assert await cache.claim("fence", "mine") is None
        assert not cache.reachable
    finally:
        await client.aclose()
