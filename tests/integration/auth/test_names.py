"""Usernames and emails are unique after normalisation (NFKC, case-folded), on PostgreSQL
and on SQLite alike, and signing in works with any form of them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.core.migrations import upgrade_to_head
from app.main import create_app
from tests.apps import serving
from tests.conftest import load_test_settings
from tests.integration.auth.conftest import API, login

# The SQLite migration reflects the older revisions' functional index on lower(email).
pytestmark = pytest.mark.filterwarnings("ignore:.*expression-based index")

REGISTER = f"{API}/auth/register"
PASSWORD = "s3cret-pass-word"


@pytest.fixture(params=["postgresql", "sqlite"])
async def any_client(
    request: pytest.FixtureRequest, tmp_path: Path, client: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """The suite's client (PostgreSQL), or an embedded app on a fresh SQLite file."""
    if request.param == "postgresql":
        yield client
        return
    settings = load_test_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
        redis_url="",
        rate_limit_enabled=False,
        mail_file_dir=tmp_path / "mail",
    )
    await asyncio.to_thread(upgrade_to_head, settings)
    async with serving(create_app(settings)) as sqlite_client:
        yield sqlite_client


async def register(client: httpx.AsyncClient, username: str, email: str) -> httpx.Response:
    return await client.post(
        REGISTER, json={"username": username, "email": email, "password": PASSWORD}
    )


async def test_usernames_differing_in_case_are_one_name(any_client: httpx.AsyncClient) -> None:
    first = await register(any_client, "Alice", "alice@example.com")
    second = await register(any_client, "alice", "other@example.com")
    assert first.status_code == 201
    assert second.status_code == 409
    assert "username" in second.json()["detail"]


async def test_emails_differing_in_case_beyond_ascii_are_one_address(
    any_client: httpx.AsyncClient,
) -> None:
    first = await register(any_client, "elodie", "Élodie@example.com")
    second = await register(any_client, "elodie2", "éLODIE@example.com")
    assert first.status_code == 201
    assert second.status_code == 409
    assert "email" in second.json()["detail"]


async def test_sign_in_with_any_form_of_the_name_or_address(
    any_client: httpx.AsyncClient,
) -> None:
    registered = await register(any_client, "Alice", "Élodie@example.com")
    assert registered.status_code == 201
    for form in ("Alice", "alice", "ALICE", "élodie@example.com", "ÉLODIE@EXAMPLE.COM"):
        await login(any_client, form, PASSWORD)
