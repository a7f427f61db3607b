"""Who an access token speaks for, from the cache when it is warm.

Every authenticated request checks its caller (`app.auth.queries.find_authenticated`):
the account not deleted, the token not logged out, its session not revoked, the token
not issued before the last password reset. With a shared cache (Redis) the outcome is
kept per access token, stamped with the user's *generation*, a random value under a key
of the user's own. Every command that changes what the check would answer (status,
role, names, deletion, password, logout, a revoked session) drops the generation once
it has committed (`forget_caller`), through the cache's durable invalidations: every
entry of that user stops counting at once, in every process, across Redis outages too.

A reader claims the generation *before* it reads the database, and stamps what it read
with it. A change committed while that read is under way drops the generation after
its commit, so an entry written late, from a row read before the commit, names a
generation that is gone and is never served.

With the in-process cache (embedded mode) the check always reads the database: that
cache is not shared by the processes of `serve --workers N`.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import TypeAdapter, ValidationError

from app.auth.schemas import UserRead
from app.auth.security import AccessClaims
from app.core.cache import UNVERSIONED, Cache
from app.core.db import UnitOfWork, utc_now

USER_READ = TypeAdapter(UserRead)
# What the metrics count a caller check under (one lookup per check).
LOOKUP = "auth:callers"


def _generation_key(user_id: int) -> str:
    """Outside `CACHE_VERSION`: a release that runs another version still drops it."""
    return f"{UNVERSIONED}auth:callers:{user_id}"


def _entry_key(claims: AccessClaims) -> str:
    return f"auth:callers:{claims.user_id}:{claims.jti}"


def _served(entry: Any, generation: Any) -> UserRead | None:
    """The caller that `entry` holds, if it was stamped with the current generation."""
    if generation is None or not isinstance(entry, dict) or entry.get("generation") != generation:
        return None
    try:
        return USER_READ.validate_python(entry.get("user"))
    except ValidationError:  # `UserRead` changed without a `CACHE_VERSION` bump
        return None


async def cached_caller(
    cache: Cache, claims: AccessClaims, load: Callable[[], Awaitable[UserRead | None]]
) -> UserRead | None:
    """The account behind the (signature-checked) token: the cached outcome of the check
    when it is current, else `load()` (the database), kept for the token's next request."""
    if not cache.shared:
        return await load()
    generation_key = _generation_key(claims.user_id)
    generation, entry = await cache.get_many([generation_key, _entry_key(claims)], counted=False)
    caller = _served(entry, generation)
    cache.record_lookup(LOOKUP, hit=caller is not None)
    if caller is not None:
        return caller
    if not cache.reachable:  # Redis is down: no claim, no fill, no time lost on either
        return await load()
    generation = await cache.claim(generation_key, secrets.token_hex(8))
    caller = await load()
    ttl = min(cache.default_ttl, (claims.expires_at - utc_now()).total_seconds())
    if caller is not None and generation is not None and ttl > 0:
        entry = {"generation": generation, "user": USER_READ.dump_python(caller, mode="json")}
        await cache.set(_entry_key(claims), entry, ttl)
    return caller


def forget_caller(cache: Cache, uow: UnitOfWork, user_id: int) -> None:
    """Once `uow` has committed, no cached check of any of `user_id`'s tokens counts."""
    cache.invalidate_after_commit(uow, _generation_key(user_id))
