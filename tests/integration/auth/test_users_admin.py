"""/users: superusers list, read, block and delete users; everyone else gets 403."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User, UserStatus
from app.core.config import Settings
from tests.factories import create_user
from tests.integration.accounts import API, bearer, delete_profile
from tests.responses import assert_no_content

USERS = f"{API}/users"


async def test_users_need_a_superuser(
    client: httpx.AsyncClient, user: User, user_headers: dict[str, str]
) -> None:
    for method, url in [
        ("GET", USERS),
        ("GET", f"{USERS}/{user.id}"),
        ("PATCH", f"{USERS}/{user.id}"),
        ("DELETE", f"{USERS}/{user.id}"),
    ]:
        body = {"status": "blocked"} if method == "PATCH" else None
        assert (await client.request(method, url, json=body)).status_code == 401
        denied = await client.request(method, url, headers=user_headers, json=body)
        assert denied.status_code == 403


async def test_superuser_rights_come_from_the_record_not_the_token(
    client: httpx.AsyncClient, user: User, user_tokens: dict[str, Any], settings: Settings
) -> None:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    live_session = jwt.decode(user_tokens["access_token"], options={"verify_signature": False})
    claims = {
        "sub": str(user.id), "iat": now, "exp": now + 60, "jti": "b" * 32, "type": "access",
        "sid": live_session["sid"], "iss": settings.jwt_issuer, "aud": settings.jwt_audience,
        "is_superuser": True, "status": "active", "scope": "admin",
    }  # fmt: skip
    token = jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm="HS256")
    assert (await client.get(USERS, headers=bearer(token))).status_code == 403


async def test_promotion_applies_at_once(
    client: httpx.AsyncClient,
    user: User,
    user_headers: dict[str, str],
    admin_headers: dict[str, str],
) -> None:
    promoted = await client.patch(
        f"{USERS}/{user.id}", headers=admin_headers, json={"is_superuser": True}
    )
    assert promoted.json()["is_superuser"] is True
    assert (await client.get(USERS, headers=user_headers)).status_code == 200


async def test_list_users_pages_sorts_and_filters(
    client: httpx.AsyncClient, session: AsyncSession, admin_headers: dict[str, str]
) -> None:
    created = [await create_user(session, username=f"zed{index}") for index in range(3)]
    created[1].status = UserStatus.BLOCKED
    await session.flush()
    response = await client.get(
        USERS,
        headers=admin_headers,
        params={"sort": "username:desc", "filters": "username:contains:zed", "per_page": 2},
    )
    assert response.status_code == 200
    body = response.json()
    assert [item["username"] for item in body["items"]] == ["zed2", "zed1"]
    assert (body["total"], body["page"], body["per_page"], body["pages"]) == (3, 1, 2, 2)
    assert "password_hash" not in body["items"][0]

    blocked = await client.get(
        USERS, headers=admin_headers, params={"filters": "status:blocked,is_superuser:false"}
    )
    assert [item["username"] for item in blocked.json()["items"]] == ["zed1"]


@pytest.mark.parametrize(
    "filters",
    [
        "email:alice@example.com",
        "email:eq:ALICE@example.COM",
        "email:[nobody@example.com,alice@EXAMPLE.com]",
        "email:contains:LICE@",
        "email:ne:BOB@example.com,username:in:[alice,bob]",
    ],
)
async def test_email_filter_ignores_case(
    client: httpx.AsyncClient, session: AsyncSession, admin_headers: dict[str, str], filters: str
) -> None:
    alice = await create_user(session, username="alice", email="Alice@Example.com")
    await create_user(session, username="bob", email="bob@example.com")
    response = await client.get(USERS, headers=admin_headers, params={"filters": filters})
    assert response.status_code == 200
    assert [item["id"] for item in response.json()["items"]] == [alice.id]


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "password_hash:asc"},
        {"filters": "password_hash:x"},
        {"filters": "status:deleted"},
        {"filters": "id:gt:abc"},
        {"per_page": "101"},
        {"page": "0"},
    ],
)
async def test_list_users_rejects_bad_parameters(
    client: httpx.AsyncClient, admin_headers: dict[str, str], params: dict[str, str]
) -> None:
    response = await client.get(USERS, headers=admin_headers, params=params)
    assert response.status_code == 422


async def test_get_user(
    client: httpx.AsyncClient, user: User, admin_headers: dict[str, str]
) -> None:
    response = await client.get(f"{USERS}/{user.id}", headers=admin_headers)
    assert response.status_code == 200
    assert response.json()["username"] == user.username
    missing = await client.get(f"{USERS}/999999", headers=admin_headers)
    assert missing.status_code == 404


@pytest.mark.parametrize("user_id", ["0", "-1", "abc", str(2**31), str(2**63), "9" * 30])
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_user_ids_are_positive_32_bit_integers(
    client: httpx.AsyncClient, admin_headers: dict[str, str], method: str, user_id: str
) -> None:
    body = {"status": "active"} if method == "PATCH" else None
    response = await client.request(method, f"{USERS}/{user_id}", headers=admin_headers, json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["path", "user_id"]


@pytest.mark.parametrize(
    "body",
    [
        {"status": "deleted"},
        {"status": None, "password": "new-password"},
        {"username": "renamed"},
        {"is_superuser": "yes"},
        {"is_superuser": 1},
        {"status": None},
        {"is_superuser": None},
    ],
)
async def test_patch_user_rejects_invalid_bodies(
    client: httpx.AsyncClient, user: User, admin_headers: dict[str, str], body: dict[str, object]
) -> None:
    response = await client.patch(f"{USERS}/{user.id}", headers=admin_headers, json=body)
    assert response.status_code == 422


async def test_patch_and_delete_unknown_user_are_404(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    patch = await client.patch(f"{USERS}/999999", headers=admin_headers, json={"status": "active"})
    assert patch.status_code == 404
    assert (await client.delete(f"{USERS}/999999", headers=admin_headers)).status_code == 404


async def test_deleted_user_disappears(
    client: httpx.AsyncClient, user: User, admin_headers: dict[str, str]
) -> None:
    assert_no_content(await client.delete(f"{USERS}/{user.id}", headers=admin_headers))
    assert (await client.get(f"{USERS}/{user.id}", headers=admin_headers)).status_code == 404
    assert (await client.delete(f"{USERS}/{user.id}", headers=admin_headers)).status_code == 404
    listed = await client.get(USERS, headers=admin_headers, params={"filters": f"id:{user.id}"})
    assert listed.json()["total"] == 0


@pytest.mark.parametrize(
    ("method", "body"),
    [("PATCH", {"status": "blocked"}), ("PATCH", {"is_superuser": False}), ("DELETE", None)],
)
async def test_superuser_cannot_act_on_their_own_account(
    client: httpx.AsyncClient,
    superuser: User,
    admin_headers: dict[str, str],
    method: str,
    body: dict[str, object] | None,
) -> None:
    url = f"{USERS}/{superuser.id}"
    response = await client.request(method, url, headers=admin_headers, json=body)
    assert response.status_code == 403
    assert "/profile" in response.json()["detail"]
    still = await client.get(url, headers=admin_headers)
    assert (still.json()["status"], still.json()["is_superuser"]) == ("active", True)


async def test_another_superuser_may_demote_and_delete_a_superuser(
    client: httpx.AsyncClient, session: AsyncSession, superuser: User, admin_headers: dict[str, str]
) -> None:
    other = await create_user(session, is_superuser=True)
    url = f"{USERS}/{other.id}"
    demoted = await client.patch(url, headers=admin_headers, json={"is_superuser": False})
    assert demoted.json()["is_superuser"] is False
    assert_no_content(await client.delete(url, headers=admin_headers))


async def test_blocked_user_cannot_sign_in(
    client: httpx.AsyncClient, user: User, admin_headers: dict[str, str]
) -> None:
    await client.patch(f"{USERS}/{user.id}", headers=admin_headers, json={"status": "blocked"})
    response = await client.post(
        f"{API}/auth/login", data={"username": user.username, "password": "correct-horse-battery"}
    )
    assert response.status_code == 403


async def test_the_last_superuser_cannot_delete_their_own_account(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await delete_profile(client, admin_headers)
    assert response.status_code == 409
    assert (await client.get(f"{API}/profile", headers=admin_headers)).status_code == 200


async def test_a_superuser_may_leave_while_another_remains(
    client: httpx.AsyncClient, session: AsyncSession, admin_headers: dict[str, str]
) -> None:
    await create_user(session, is_superuser=True)
    assert_no_content(await delete_profile(client, admin_headers))
