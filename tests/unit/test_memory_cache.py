"""The in-process cache backend: bounded, expiring, prefix-aware."""

from __future__ import annotations

import asyncio

from app.core.cache import MemoryCacheBackend


async def get(backend: MemoryCacheBackend, key: str) -> str | bytes | None:
    [value] = await backend.get_many([key])
    return value


async def test_memory_backend_drops_the_least_recently_used_beyond_its_bound() -> None:
    backend = MemoryCacheBackend(max_entries=2)
    await backend.set("a", "1", ttl=60)
    await backend.set("b", "2", ttl=60)
    assert await get(backend, "a") == "1"  # now "b" is the least recently used
    await backend.set("c", "3", ttl=60)
    assert await get(backend, "b") is None
    assert await get(backend, "a") == "1"
    assert await get(backend, "c") == "3"


async def test_memory_backend_entries_expire() -> None:
    backend = MemoryCacheBackend(max_entries=10)
    await backend.set("short", "1", ttl=0.01)
    await backend.set("long", "2", ttl=60)
    await asyncio.sleep(0.02)
    assert await get(backend, "short") is None
    assert await get(backend, "long") == "2"


async def test_memory_backend_deletes_keys_and_prefixes() -> None:
    backend = MemoryCacheBackend(max_entries=10)
    for key in ("movies:1", "movies:2", "posts:1"):
        await backend.set(key, "x", ttl=60)
    await backend.delete(["posts:1", "missing"])
    assert await get(backend, "posts:1") is None
    await backend.delete_prefix("movies:")
    assert await backend.get_many(["movies:1", "movies:2"]) == [None, None]
