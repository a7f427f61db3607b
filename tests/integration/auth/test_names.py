"""Usernames and emails are unique after normalisation (NFKC, case-folded), on PostgreSQL
and on SQLite alike, and signing in works with any form of them."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.accounts import API, login

REGISTER = f"{API}/auth/register"
PASSWORD = "s3cret-pass-word"


async def register(client: httpx.AsyncClient, username: str, email: str) -> httpx.Response:
    return await client.post(
        REGISTER, json={"username": username, "email": email, "password": PASSWORD}
    )


@pytest.mark.parametrize(
    ("first", "second", "field"),
    [
        (("Alice", "alice@example.com"), ("alice", "other@example.com"), "username"),
        (("elodie", "Élodie@example.com"), ("elodie2", "éLODIE@example.com"), "email"),
    ],
    ids=["username-case", "email-case-beyond-ascii"],
)
async def test_names_differing_only_in_form_are_one_name(
    any_client: httpx.AsyncClient, first: tuple[str, str], second: tuple[str, str], field: str
) -> None:
    assert (await register(any_client, *first)).status_code == 201
    taken = await register(any_client, *second)
    assert taken.status_code == 409
    assert field in taken.json()["detail"]


async def test_sign_in_with_any_form_of_the_name_or_address(
    any_client: httpx.AsyncClient,
) -> None:
    registered = await register(any_client, "Alice", "Élodie@example.com")
    assert registered.status_code == 201
    for form in ("Alice", "alice", "ALICE", "élodie@example.com", "ÉLODIE@EXAMPLE.COM"):
        await login(any_client, form, PASSWORD)
