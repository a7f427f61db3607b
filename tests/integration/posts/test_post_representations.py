"""A post over HTTP: `Location` when created, a strong `ETag`, `If-None-Match` (304) and
`If-Match` (412 when stale, checked under the row lock: one of two racing edits wins)."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from tests.integration.accounts import API, bearer, login
from tests.integration.conftest import RACER_PREFIX
from tests.responses import assert_no_content, assert_not_modified, assert_precondition_failed

POSTS = f"{API}/posts"
NEW_POST = {"title": "Hello", "content": "First post"}
CHANGES = [("PUT", {"title": "New", "content": "All new"}), ("PATCH", {"title": "x"})]
RACERS = 5
RACE_ROUNDS = 3


@pytest.fixture
async def post_url(client: httpx.AsyncClient, user_headers: dict[str, str]) -> str:
    response = await client.post(POSTS, json=NEW_POST, headers=user_headers)
    assert response.status_code == 201
    return f"{POSTS}/{response.json()['id']}"


async def etag_of(
    client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> str:
    response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return response.headers["etag"]


async def test_a_created_post_is_at_its_location(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    created = await client.post(POSTS, json=NEW_POST, headers=user_headers)

    assert created.status_code == 201
    assert created.headers["location"] == f"{POSTS}/{created.json()['id']}"
    found = await client.get(created.headers["location"])
    assert (found.status_code, found.json()) == (200, created.json())


async def test_a_post_has_a_strong_etag_that_changes_with_it(
    client: httpx.AsyncClient, post_url: str, user_headers: dict[str, str]
) -> None:
    etag = await etag_of(client, post_url)
    assert etag.startswith('"')  # strong: no W/
    assert await etag_of(client, post_url) == etag

    patched = await client.patch(post_url, json={"title": "Changed"}, headers=user_headers)

    assert patched.status_code == 200
    assert patched.headers["etag"] != etag
    assert await etag_of(client, post_url) == patched.headers["etag"]


async def test_renaming_the_author_changes_the_etag(
    client: httpx.AsyncClient, post_url: str, user_headers: dict[str, str]
) -> None:
    """The post shows its author's name, so the name is part of what the tag covers."""
    etag = await etag_of(client, post_url)
    renamed = await client.patch(
        f"{API}/profile", json={"username": "renamed"}, headers=user_headers
    )
    assert renamed.status_code == 200

    assert await etag_of(client, post_url) != etag


@pytest.mark.parametrize(
    "listed",
    ["{etag}", "W/{etag}", '"other", {etag}', '"a,b",{etag} , "c"', "*"],
    ids=["same", "weak", "in-a-list", "after-a-tag-with-a-comma", "any"],
)
async def test_if_none_match_listing_the_etag_is_304(
    client: httpx.AsyncClient, post_url: str, listed: str
) -> None:
    etag = await etag_of(client, post_url)

    response = await client.get(post_url, headers={"If-None-Match": listed.format(etag=etag)})

    assert_not_modified(response, etag)


async def test_if_none_match_with_another_etag_reads_the_post(
    client: httpx.AsyncClient, post_url: str, user_headers: dict[str, str]
) -> None:
    stale = await etag_of(client, post_url)
    await client.patch(post_url, json={"title": "Changed"}, headers=user_headers)

    response = await client.get(post_url, headers={"If-None-Match": stale})

    assert (response.status_code, response.json()["title"]) == (200, "Changed")


@pytest.mark.parametrize(("method", "body"), [*CHANGES, ("DELETE", None)])
async def test_a_stale_if_match_is_412_and_changes_nothing(
    client: httpx.AsyncClient,
    post_url: str,
    user_headers: dict[str, str],
    method: str,
    body: dict[str, str] | None,
) -> None:
    stale = await etag_of(client, post_url)
    await client.patch(post_url, json={"content": "Edited elsewhere"}, headers=user_headers)
    before = (await client.get(post_url)).json()

    response = await client.request(
        method, post_url, json=body, headers=user_headers | {"If-Match": stale}
    )

    assert_precondition_failed(response)
    assert (await client.get(post_url)).json() == before


@pytest.mark.parametrize(("method", "body"), CHANGES)
async def test_a_current_if_match_lets_the_change_through(
    client: httpx.AsyncClient,
    post_url: str,
    user_headers: dict[str, str],
    method: str,
    body: dict[str, str],
) -> None:
    etag = await etag_of(client, post_url)
    for listed in ("{etag}", '"other", {etag}', "*"):
        if_match = {"If-Match": listed.format(etag=etag)}
        response = await client.request(
            method, post_url, json=body, headers=user_headers | if_match
        )
        assert response.status_code == 200, listed
        etag = response.headers["etag"]
    assert_no_content(await client.delete(post_url, headers=user_headers | {"If-Match": etag}))


async def test_a_weak_if_match_never_matches(
    client: httpx.AsyncClient, post_url: str, user_headers: dict[str, str]
) -> None:
    """If-Match compares strongly (RFC 9110 section 13.1.1)."""
    etag = await etag_of(client, post_url)
    response = await client.patch(
        post_url, json={"title": "x"}, headers=user_headers | {"If-Match": f"W/{etag}"}
    )
    assert_precondition_failed(response)


async def test_if_match_on_a_missing_post_is_404(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    response = await client.patch(
        f"{POSTS}/424242", json={"title": "x"}, headers=user_headers | {"If-Match": "*"}
    )
    assert response.status_code == 404


async def test_racing_edits_with_one_etag_give_one_success(
    racing_client: httpx.AsyncClient,
) -> None:
    """Edits sent at once with the same `If-Match`, on real commits: the check and the
    write are one under the row lock (the write lock on SQLite), so exactly one edit wins
    and the others are 412."""
    client = racing_client
    account = {
        "username": f"{RACER_PREFIX}-author",
        "email": "race-author@example.com",
        "password": "s3cret-pass",
    }
    assert (await client.post(f"{API}/auth/register", json=account)).status_code == 201
    headers = bearer((await login(client, account["username"], "s3cret-pass"))["access_token"])
    url = (await client.post(POSTS, json=NEW_POST, headers=headers)).headers["location"]

    async def edit(round_: int, index: int, etag: str) -> int:
        response = await client.patch(
            url, json={"title": f"Edit {round_}.{index}"}, headers=headers | {"If-Match": etag}
        )
        return response.status_code

    for round_ in range(RACE_ROUNDS):  # how the requests interleave varies: a few rounds
        etag = await etag_of(client, url)
        edits = (edit(round_, index, etag) for index in range(RACERS))
        statuses = Counter(await asyncio.gather(*edits))
        assert statuses == {200: 1, 412: RACERS - 1}, round_
