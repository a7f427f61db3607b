"""An account over HTTP (`/users/{id}` and `/profile`): `Location` when registered, one
strong `ETag` for one account on both routes, `If-None-Match` (304) and `If-Match` (412)."""

from __future__ import annotations

import httpx
import pytest

from app.auth.models import User
from tests.factories import DEFAULT_PASSWORD
from tests.integration.accounts import API, delete_profile
from tests.responses import assert_no_content, assert_not_modified, assert_precondition_failed

PROFILE = f"{API}/profile"
USERS = f"{API}/users"


async def test_a_registered_account_is_at_its_location(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    account = {"username": "alice", "email": "alice@example.com", "password": "s3cret-pass"}
    created = await client.post(f"{API}/auth/register", json=account)

    assert created.status_code == 201
    assert created.headers["location"] == f"{USERS}/{created.json()['id']}"
    found = await client.get(created.headers["location"], headers=admin_headers)
    assert (found.status_code, found.json()) == (200, created.json())


async def test_an_account_has_one_etag_on_both_routes_that_changes_with_it(
    client: httpx.AsyncClient,
    user: User,
    user_headers: dict[str, str],
    admin_headers: dict[str, str],
) -> None:
    profile = await client.get(PROFILE, headers=user_headers)
    etag = profile.headers["etag"]
    assert (await client.get(PROFILE, headers=user_headers)).headers["etag"] == etag
    assert (await client.get(f"{USERS}/{user.id}", headers=admin_headers)).headers["etag"] == etag

    renamed = await client.patch(PROFILE, json={"username": "renamed"}, headers=user_headers)

    assert renamed.status_code == 200
    assert renamed.headers["etag"] != etag
    assert (await client.get(PROFILE, headers=user_headers)).headers["etag"] == (
        renamed.headers["etag"]
    )


async def test_if_none_match_is_304_and_still_not_stored(
    client: httpx.AsyncClient,
    user: User,
    user_headers: dict[str, str],
    admin_headers: dict[str, str],
) -> None:
    for url, headers in [(PROFILE, user_headers), (f"{USERS}/{user.id}", admin_headers)]:
        etag = (await client.get(url, headers=headers)).headers["etag"]
        response = await client.get(url, headers=headers | {"If-None-Match": etag})
        assert_not_modified(response, etag)
        assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "body"),
    [("PATCH", {"username": "late"}), ("DELETE", {"current_password": DEFAULT_PASSWORD})],
)
async def test_a_stale_if_match_on_the_profile_is_412_and_changes_nothing(
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    method: str,
    body: dict[str, str] | None,
) -> None:
    stale = (await client.get(PROFILE, headers=user_headers)).headers["etag"]
    await client.patch(PROFILE, json={"username": "renamed"}, headers=user_headers)

    response = await client.request(
        method, PROFILE, json=body, headers=user_headers | {"If-Match": stale}
    )

    assert_precondition_failed(response)
    assert (await client.get(PROFILE, headers=user_headers)).json()["username"] == "renamed"


async def test_the_profile_changes_with_the_etag_it_was_read_with(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    etag = (await client.get(PROFILE, headers=user_headers)).headers["etag"]

    renamed = await client.patch(
        PROFILE, json={"username": "renamed"}, headers=user_headers | {"If-Match": etag}
    )

    assert renamed.status_code == 200
    deleted = await delete_profile(client, user_headers | {"If-Match": renamed.headers["etag"]})
    assert_no_content(deleted)


async def test_a_stale_if_match_on_a_user_is_412_and_changes_nothing(
    client: httpx.AsyncClient,
    user: User,
    user_headers: dict[str, str],
    admin_headers: dict[str, str],
) -> None:
    url = f"{USERS}/{user.id}"
    stale = (await client.get(url, headers=admin_headers)).headers["etag"]
    await client.patch(PROFILE, json={"username": "renamed"}, headers=user_headers)
    if_match = admin_headers | {"If-Match": stale}

    blocked = await client.patch(url, json={"status": "blocked"}, headers=if_match)
    deleted = await client.delete(url, headers=if_match)

    assert_precondition_failed(blocked)
    assert_precondition_failed(deleted)
    assert (await client.get(url, headers=admin_headers)).json()["status"] == "active"


async def test_a_user_changes_with_the_etag_it_was_read_with(
    client: httpx.AsyncClient, user: User, admin_headers: dict[str, str]
) -> None:
    url = f"{USERS}/{user.id}"
    etag = (await client.get(url, headers=admin_headers)).headers["etag"]

    blocked = await client.patch(
        url, json={"status": "blocked"}, headers=admin_headers | {"If-Match": etag}
    )

    assert (blocked.status_code, blocked.json()["status"]) == (200, "blocked")
    assert blocked.headers["cache-control"] == "no-store"
    deleted = await client.delete(
        url, headers=admin_headers | {"If-Match": blocked.headers["etag"]}
    )
    assert_no_content(deleted)
