"""The caller check served from Redis: one round trip and no query once warm, and every
change to what the check answers applies at the next request, however warm the entry
was, and even when the change lands while the entry is being filled."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.callers import cached_caller, forget_caller
from app.auth.models import User
from app.auth.password_reset import issue_reset_link
from app.auth.schemas import UserRead
from app.auth.security import AccessClaims
from app.auth.service import AuthSecurity
from app.core.cache import Cache
from app.core.config import Settings
from app.core.db import Database
from app.core.injection import provided_by
from app.core.metrics import Metrics
from app.main import create_app
from tests.apps import client_of, started
from tests.conftest import load_test_settings
from tests.factories import DEFAULT_PASSWORD
from tests.integration.accounts import API, bearer, delete_profile, login, refresh_grant

NEW_PASSWORD = "a-new-and-long-password"


async def profile(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.get(f"{API}/profile", headers=headers)


Warm = Callable[[dict[str, str]], Awaitable[None]]


@pytest.fixture
def warm(client: httpx.AsyncClient, statements: list[str]) -> Warm:
    """Check a caller twice: the second answer must come from the cache, with no query."""

    async def warming(headers: dict[str, str]) -> None:
        assert (await profile(client, headers)).status_code == 200
        statements.clear()
        assert (await profile(client, headers)).status_code == 200
        assert statements == []

    return warming


async def test_a_warm_caller_check_is_one_round_trip_and_no_query(
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    warm: Warm,
    redis_round_trips: list[bytes],
) -> None:
    await warm(user_headers)
    redis_round_trips.clear()
    assert (await profile(client, user_headers)).status_code == 200
    [trip] = [trip for trip in redis_round_trips if b"cache:" in trip]
    assert b"MGET" in trip


@dataclass(frozen=True)
class Scene:
    """A signed-in user whose session (`headers`) is warm, and what a change needs."""

    client: httpx.AsyncClient
    session: AsyncSession
    settings: Settings
    user: User
    headers: dict[str, str]
    admin_headers: dict[str, str]


@pytest.fixture
def scene(  # noqa: PLR0917 - one fixture per part of the scene
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    user: User,
    user_headers: dict[str, str],
    admin_headers: dict[str, str],
) -> Scene:
    return Scene(client, session, settings, user, user_headers, admin_headers)


async def blocked(scene: Scene) -> None:
    blocking = {"status": "blocked"}
    changed = await scene.client.patch(
        f"{API}/users/{scene.user.id}", json=blocking, headers=scene.admin_headers
    )
    assert changed.status_code == 200, changed.text


async def deleted(scene: Scene) -> None:
    deleting = await scene.client.delete(
        f"{API}/users/{scene.user.id}", headers=scene.admin_headers
    )
    assert deleting.status_code == 204


async def logged_out(scene: Scene) -> None:
    logout = await scene.client.post(f"{API}/auth/logout", headers=scene.headers)
    assert logout.status_code == 204


async def other_session(scene: Scene) -> dict[str, str]:
    return bearer((await login(scene.client, scene.user.username))["access_token"])


async def password_changed(scene: Scene) -> None:
    changed = await scene.client.patch(
        f"{API}/profile",
        json={"password": NEW_PASSWORD, "current_password": DEFAULT_PASSWORD},
        headers=await other_session(scene),
    )
    assert changed.status_code == 200, changed.text


async def profile_deleted(scene: Scene) -> None:
    assert (await delete_profile(scene.client, await other_session(scene))).status_code == 204


async def password_reset(scene: Scene) -> None:
    link = await issue_reset_link(scene.session, scene.settings, scene.user.email)
    assert link is not None
    [token] = parse_qs(urlsplit(link.email.reset_url).query)["token"]
    reset = {"token": token, "password": NEW_PASSWORD}
    assert (await scene.client.post(f"{API}/auth/reset-password", json=reset)).status_code == 204


@pytest.mark.parametrize(
    "change", [blocked, deleted, logged_out, password_changed, profile_deleted, password_reset]
)
async def test_a_change_ends_a_warm_session_at_once(
    scene: Scene, warm: Warm, change: Callable[[Scene], Awaitable[None]]
) -> None:
    await warm(scene.headers)
    await change(scene)
    assert (await profile(scene.client, scene.headers)).status_code == 401


async def test_a_reused_refresh_token_ends_its_warm_session_at_once(
    client: httpx.AsyncClient, user: User, warm: Warm
) -> None:
    tokens = await login(client, user.username)
    headers = bearer(tokens["access_token"])
    assert (await refresh_grant(client, tokens["refresh_token"])).status_code == 200
    await warm(headers)
    assert (await refresh_grant(client, tokens["refresh_token"])).status_code == 401  # reuse
    assert (await profile(client, headers)).status_code == 401


async def test_a_role_or_name_change_shows_in_a_warm_session_at_once(
    client: httpx.AsyncClient,
    user: User,
    user_headers: dict[str, str],
    admin_headers: dict[str, str],
    warm: Warm,
) -> None:
    await warm(user_headers)
    promote = {"is_superuser": True}
    assert (
        await client.patch(f"{API}/users/{user.id}", json=promote, headers=admin_headers)
    ).status_code == 200
    assert (await profile(client, user_headers)).json()["is_superuser"] is True

    other = bearer((await login(client, user.username))["access_token"])
    renamed = await client.patch(f"{API}/profile", json={"username": "renamed"}, headers=other)
    assert renamed.status_code == 200, renamed.text
    assert (await profile(client, user_headers)).json()["username"] == "renamed"


async def test_a_change_during_a_fill_leaves_no_entry_that_is_served(
    app: FastAPI, client: httpx.AsyncClient, user: User, user_headers: dict[str, str]
) -> None:
    """The change commits (and drops the generation) after the filling request read the
    row, and before it stores what it read: that entry must never be served."""
    provided = provided_by(app)
    cache = provided.get(Cache)
    claims = provided.get(AuthSecurity).access_tokens.decode(
        user_headers["Authorization"].removeprefix("Bearer ")
    )
    before = UserRead.model_validate(user)

    async def read_then_changed() -> UserRead:
        async with provided.get(Database).unit_of_work() as uow:
            forget_caller(cache, uow, user.id)  # a change to the account commits meanwhile
        return before

    assert await cached_caller(cache.for_request(), claims, read_then_changed) == before
    reads: list[AccessClaims] = []

    async def read_again() -> UserRead:
        reads.append(claims)
        return before.model_copy(update={"username": "changed"})

    again = await cached_caller(cache.for_request(), claims, read_again)
    assert reads == [claims]
    assert again is not None
    assert again.username == "changed"


async def test_a_login_that_upgrades_the_hash_drops_the_warm_entries(
    *,
    client: httpx.AsyncClient,
    session: AsyncSession,
    user: User,
    user_headers: dict[str, str],
    warm: Warm,
    statements: list[str],
) -> None:
    """The upgrade writes the account, so its `updated_at` (and entity tag) moves: every
    session reads it again. (Here, inside one transaction, PostgreSQL's `now()` stands
    still, so what shows is the read.)"""
    await warm(user_headers)
    weaker = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=32, parallelism=1),))
    user.password_hash = weaker.hash(DEFAULT_PASSWORD)
    await session.flush()
    await login(client, user.username)  # upgrades the hash
    statements.clear()
    assert (await profile(client, user_headers)).status_code == 200
    assert statements != []


def auth_lookups(app: FastAPI) -> tuple[float, float]:
    """The hits and misses the app's metrics count under `auth`."""
    samples = {
        (sample.name, sample.labels.get("namespace")): sample.value
        for family in text_string_to_metric_families(
            provided_by(app).get(Metrics).render().decode()
        )
        for sample in family.samples
    }
    return samples.get(("cache_hits_total", "auth"), 0), samples.get(
        ("cache_misses_total", "auth"), 0
    )


async def test_a_caller_check_counts_as_one_lookup(
    app: FastAPI, user_headers: dict[str, str], warm: Warm
) -> None:
    hits, misses = auth_lookups(app)
    await warm(user_headers)  # a miss (filled), then a hit
    assert auth_lookups(app) == (hits + 1, misses + 1)


async def test_a_change_by_a_release_of_another_cache_version_applies_at_once(
    client: httpx.AsyncClient,
    session_factory: async_sessionmaker[AsyncSession],
    user_headers: dict[str, str],
    warm: Warm,
) -> None:
    """During a rolling deploy that bumps `CACHE_VERSION`, a logout on a new pod ends the
    session on the old ones too."""
    await warm(user_headers)
    next_release = create_app(
        load_test_settings(cache_version="next"), database=Database(session_factory)
    )
    async with started(next_release), client_of(next_release) as other:
        assert (await other.post(f"{API}/auth/logout", headers=user_headers)).status_code == 204
    assert (await profile(client, user_headers)).status_code == 401
