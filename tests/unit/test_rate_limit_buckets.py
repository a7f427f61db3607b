"""The per-key buckets and the headers middleware, without a server."""

from __future__ import annotations

from pyrate_limiter import Rate
from starlette.types import Message, Receive, Scope, Send

from app.core.rate_limit import KeyedBuckets, RateLimitHeadersMiddleware


async def test_each_key_has_its_own_bucket_and_the_least_recent_go_beyond_the_bound() -> None:
    buckets = KeyedBuckets(Rate(2, 60_000), redis=None, max_buckets=2)
    assert [(await buckets.hit("a")).remaining for _ in range(2)] == [1, 0]
    assert (await buckets.hit("a")).retry_after_seconds == 30
    assert (await buckets.hit("b")).remaining == 1
    await buckets.hit("c")  # the third key pushes out "a", the least recently used
    assert (await buckets.hit("a")).remaining == 1


async def test_the_headers_middleware_passes_other_scopes_through() -> None:
    seen: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        return None

    await RateLimitHeadersMiddleware(inner)({"type": "lifespan"}, receive, send)
    assert seen == ["lifespan"]
