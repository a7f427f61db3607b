"""Races that only real commits on the real engine can show (not the savepoint-bound app).

Each test cleans up the users it committed (their tokens go with them) and the
outbox rows their mails left.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import Coroutine
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.models import PasswordResetToken, User, UserStatus
from app.auth.security import hash_opaque_token, new_opaque_token
from app.auth.service import AuthSecurity
from app.core.injection import provided_by
from tests.integration.accounts import API, bearer, login

RACE_EMAIL = "race@example.com"
RACE_ROUNDS = 6


async def test_concurrent_registrations_of_one_email_create_exactly_one_user(
    committing_client: httpx.AsyncClient,
) -> None:
    async def register(index: int) -> int:
        response = await committing_client.post(
            f"{API}/auth/register",
            json={"username": f"race{index}", "email": RACE_EMAIL, "password": "s3cret-pass"},
        )
        return response.status_code

    statuses = Counter(await asyncio.gather(*(register(index) for index in range(50))))

    assert statuses == {201: 1, 409: 49}


async def test_concurrent_refreshes_of_one_token_succeed_exactly_once(
    committing_client: httpx.AsyncClient,
) -> None:
    registered = await committing_client.post(
        f"{API}/auth/register",
        json={"username": "racer", "email": RACE_EMAIL, "password": "s3cret-pass"},
    )
    assert registered.status_code == 201
    tokens = await login(committing_client, "racer", "s3cret-pass")

    async def refresh() -> int:
        response = await committing_client.post(
            f"{API}/auth/refresh-token", json={"refresh_token": tokens["refresh_token"]}
        )
        return response.status_code

    statuses = Counter(await asyncio.gather(*(refresh() for _ in range(10))))

    assert statuses == {200: 1, 401: 9}


async def add_reset_token(engine: AsyncEngine, user_id: int) -> str:
    """A reset link as the mail would carry it (the mail itself is not what is tested here)."""
    token = new_opaque_token()
    async with engine.begin() as connection:
        await connection.execute(
            insert(PasswordResetToken).values(
                token_hash=hash_opaque_token(token),
                user_id=user_id,
                expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5),
            )
        )
    return token


async def rotate_after(client: httpx.AsyncClient, stolen: dict[str, Any], delay: float) -> None:
    """The attacker's refresh; on success `stolen` holds the new pair."""
    await asyncio.sleep(delay)
    response = await client.post(
        f"{API}/auth/refresh-token", json={"refresh_token": stolen["refresh_token"]}
    )
    if response.status_code == 200:
        stolen.update(response.json())


async def ending_request(
    client: httpx.AsyncClient, engine: AsyncEngine, ending: str, stolen: dict[str, Any], round_: int
) -> Coroutine[Any, Any, httpx.Response]:
    """The owner's request that must end the stolen session, ready to be raced."""
    password, new_password = f"s3cret-pass-{round_}", f"s3cret-pass-{round_ + 1}"
    if ending == "reset":
        reset_token = await add_reset_token(engine, stolen["user_id"])
        body = {"token": reset_token, "password": new_password}
        return client.post(f"{API}/auth/reset-password", json=body)
    if ending == "password change":
        other_session = await login(client, "racer", password)
        return client.patch(
            f"{API}/profile",
            headers=bearer(other_session["access_token"]),
            json={"password": new_password, "current_password": password},
        )
    # logout: the owner's own session, whose refresh token the attacker copied
    return client.post(
        f"{API}/auth/logout",
        headers=bearer(stolen["access_token"]),
        json={"refresh_token": stolen["refresh_token"]},
    )


async def register_racer(client: httpx.AsyncClient) -> httpx.Response:
    """The account the races below are run on (committed for real)."""
    registered = await client.post(
        f"{API}/auth/register",
        json={"username": "racer", "email": RACE_EMAIL, "password": "s3cret-pass-0"},
    )
    assert registered.status_code == 201
    return registered


async def token_answers(client: httpx.AsyncClient, tokens: dict[str, Any]) -> tuple[int, int]:
    """What the session's access token (on /profile) and refresh token get now: a session
    that ended answers (401, 401)."""
    profile = await client.get(f"{API}/profile", headers=bearer(tokens["access_token"]))
    refresh = await client.post(
        f"{API}/auth/refresh-token", json={"refresh_token": tokens["refresh_token"]}
    )
    return profile.status_code, refresh.status_code


@pytest.mark.parametrize("ending", ["reset", "password change", "logout"])
async def test_ending_sessions_while_a_stolen_token_rotates_leaves_nothing_alive(
    committing_client: httpx.AsyncClient, engine: AsyncEngine, ending: str
) -> None:
    """The attacker holds a refresh token and rotates it while the owner resets the
    password, changes it, or logs that session out: whatever the interleaving, nothing
    the attacker got survives."""
    client = committing_client
    registered = await register_racer(client)
    survivors = []
    for round_ in range(RACE_ROUNDS):
        password = "s3cret-pass-0" if ending == "logout" else f"s3cret-pass-{round_}"
        stolen = await login(client, "racer", password) | {"user_id": registered.json()["id"]}
        end = await ending_request(client, engine, ending, stolen, round_)
        # A few delays of the refresh sweep the interleavings of the two transactions.
        ended, _ = await asyncio.gather(end, rotate_after(client, stolen, delay=round_ % 4 / 1000))
        assert ended.status_code in {200, 204}
        if (answers := await token_answers(client, stolen)) != (401, 401):
            survivors.append((round_, *answers))
    assert survivors == []


async def count_active_superusers(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        found = await connection.scalar(
            select(func.count()).where(
                User.is_superuser, User.status == UserStatus.ACTIVE, User.deleted_at.is_(None)
            )
        )
    return int(found or 0)


async def remove_user(
    client: httpx.AsyncClient, headers: dict[str, str], user_id: int, change: dict[str, Any] | None
) -> int:
    """Demote or block the user with `change`, or delete them when it is None."""
    url = f"{API}/users/{user_id}"
    if change is None:
        return (await client.delete(url, headers=headers)).status_code
    return (await client.patch(url, headers=headers, json=change)).status_code


@pytest.mark.parametrize(
    "removal",
    [{"is_superuser": False}, {"status": "blocked"}, None],
    ids=["demote", "block", "delete"],
)
async def test_two_superusers_removing_each_other_leave_one(
    committing_client: httpx.AsyncClient, engine: AsyncEngine, removal: dict[str, Any] | None
) -> None:
    client = committing_client
    admins = []
    for name in ("race-admin-a", "race-admin-b"):
        created = await client.post(
            f"{API}/auth/register",
            json={"username": name, "email": f"{name}@example.com", "password": "s3cret-pass"},
        )
        admins.append(created.json()["id"])
    for _ in range(RACE_ROUNDS // 2):
        async with engine.begin() as connection:  # both superusers again, nobody else
            await connection.execute(update(User).values(is_superuser=False))
            await connection.execute(
                update(User)
                .where(User.id.in_(admins))
                .values(is_superuser=True, status=UserStatus.ACTIVE, deleted_at=None)
            )
        headers = [
            bearer((await login(client, name, "s3cret-pass"))["access_token"])
            for name in ("race-admin-a", "race-admin-b")
        ]

        statuses = await asyncio.gather(
            remove_user(client, headers[0], admins[1], removal),
            remove_user(client, headers[1], admins[0], removal),
        )
        assert await count_active_superusers(engine) == 1, statuses


async def login_with_any(
    client: httpx.AsyncClient, username: str, passwords: list[str]
) -> tuple[str, dict[str, Any]]:
    """The password among `passwords` that signs in, and the token pair."""
    for password in passwords:
        response = await client.post(
            f"{API}/auth/login", data={"username": username, "password": password}
        )
        if response.status_code == 200:
            return password, response.json()
    raise AssertionError(f"none of {passwords} signs in")


async def test_a_reset_and_a_password_change_at_once_never_fail(
    committing_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Both take the same locks in the same order: whatever wins, the other answers 4xx
    or succeeds after it, never a 5xx (no deadlock)."""
    client = committing_client
    registered = await register_racer(client)
    statuses = []
    candidates = ["s3cret-pass-0"]
    for round_ in range(RACE_ROUNDS):
        password, session = await login_with_any(client, "racer", candidates)
        reset_token = await add_reset_token(engine, registered.json()["id"])
        reset, change = await asyncio.gather(
            client.post(
                f"{API}/auth/reset-password",
                json={"token": reset_token, "password": f"reset-pass-{round_}"},
            ),
            client.patch(
                f"{API}/profile",
                headers=bearer(session["access_token"]),
                json={"password": f"changed-pass-{round_}", "current_password": password},
            ),
        )
        statuses.append((reset.status_code, change.status_code))
        candidates = [f"reset-pass-{round_}", f"changed-pass-{round_}"]  # whichever was last
    assert not [pair for pair in statuses if max(pair) >= 500], statuses


async def test_a_login_with_the_old_password_racing_a_reset_does_not_survive_it(
    committing_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """The attacker knows the password and signs in while the owner resets it: a session
    the attacker got is ended by the reset, or refused, never left alive."""
    client = committing_client
    registered = await register_racer(client)
    survivors = []
    for round_ in range(2 * RACE_ROUNDS):  # the window is narrow: more rounds to hit it
        old_password = f"s3cret-pass-{round_}"
        reset_token = await add_reset_token(engine, registered.json()["id"])
        signed_in, reset = await asyncio.gather(
            client.post(f"{API}/auth/login", data={"username": "racer", "password": old_password}),
            client.post(
                f"{API}/auth/reset-password",
                json={"token": reset_token, "password": f"s3cret-pass-{round_ + 1}"},
            ),
        )
        assert reset.status_code == 204
        if signed_in.status_code == 200:
            tokens = signed_in.json()
            if (answers := await token_answers(client, tokens)) != (401, 401):
                survivors.append((round_, *answers))
    assert survivors == []


async def test_no_transaction_stays_open_while_a_password_is_checked(
    committing_client: httpx.AsyncClient, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The account is read outside any transaction; only the session's start, under the
    row's lock, is one. (Held across the hash, it would hold the table's lock as long,
    and a migration's `ALTER TABLE` with every query behind it.)"""
    await register_racer(committing_client)
    app = committing_client._transport.app  # type: ignore[attr-defined]  # ASGITransport
    passwords = provided_by(app).get(AuthSecurity).passwords
    verify = passwords.verify
    open_meanwhile: list[int] = []

    async def verify_and_look(password: str, password_hash: str) -> tuple[bool, str | None]:
        async with engine.connect() as connection:
            open_meanwhile.append(
                await connection.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
                    )
                )
            )
        return await verify(password, password_hash)

    monkeypatch.setattr(passwords, "verify", verify_and_look)
    for password in ("s3cret-pass-0", "a-wrong-password"):
        await committing_client.post(
            f"{API}/auth/login", data={"username": "racer", "password": password}
        )
    assert open_meanwhile == [0, 0]
