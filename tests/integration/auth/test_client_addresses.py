"""Limits key a client by its canonical address: any spelling of one address, an
IPv4-mapped IPv6 address and its IPv4 address, and every address of one IPv6 /64
are one client, whether the peer or a trusted proxy names it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable

import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.models import RefreshToken, User
from app.core.db import Database
from app.main import create_app
from tests.apps import client_of, started
from tests.conftest import load_test_settings
from tests.factories import DEFAULT_PASSWORD
from tests.integration.accounts import API

REGISTER = f"{API}/auth/register"
LOGIN = f"{API}/auth/login"
PROXY = "10.0.0.1"
# Seven spellings of one address.
SPELLINGS = [
    "2001:db8:2::1",
    "2001:DB8:2::1",
    "2001:0db8:0002:0000:0000:0000:0000:0001",
    "2001:db8:2:0:0:0:0:1",
    "2001:db8:2::0:1",
    "2001:0DB8:2::0001",
    "2001:db8:2:0::1",
]
MAPPED = ["::ffff:10.20.0.1", "10.20.0.1", "::FFFF:10.20.0.1", "0:0:0:0:0:ffff:a14:1"]


def app_with(session_factory: async_sessionmaker[AsyncSession], **settings: object) -> FastAPI:
    return create_app(load_test_settings(**settings), database=Database(session_factory))


@pytest.fixture
async def limited_app(
    session_factory: async_sessionmaker[AsyncSession], redis: Redis
) -> AsyncIterator[FastAPI]:
    """The app behind a trusted proxy, with the default 5/minute register limit."""
    async with started(app_with(session_factory, forwarded_allow_ips=PROXY)) as app:
        yield app


async def register_from(app: FastAPI, peers: Iterable[str], **headers: str) -> list[int]:
    """Register one new account from each peer address in turn; the statuses."""
    statuses = []
    for peer in peers:
        name = f"newcomer{uuid.uuid4().hex[:12]}"
        async with client_of(app, peer=peer) as client:
            response = await client.post(
                REGISTER,
                json={
                    "username": name,
                    "email": f"{name}@example.com",
                    "password": "a-long-enough-password",
                },
                headers=headers,
            )
        statuses.append(response.status_code)
    return statuses


async def test_the_addresses_of_one_ipv6_network_share_a_limit(limited_app: FastAPI) -> None:
    peers = [f"2001:db8:1::{number:x}" for number in range(1, 13)]
    statuses = await register_from(limited_app, peers)
    assert statuses == [201] * 5 + [429] * 7


async def test_every_spelling_of_an_address_shares_one_bucket(
    session_factory: async_sessionmaker[AsyncSession], redis: Redis
) -> None:
    # Each address is its own client here: what is shared is the address, not a network.
    app = app_with(session_factory, rate_limit_ipv6_prefix=128)
    async with started(app):
        spellings = await register_from(app, SPELLINGS)
        neighbour = await register_from(app, ["2001:db8:2::2"])
    assert spellings == [201] * 5 + [429] * 2
    assert neighbour == [201]


async def test_an_ipv4_mapped_address_is_its_ipv4_address(limited_app: FastAPI) -> None:
    statuses = await register_from(limited_app, [*MAPPED, *MAPPED])
    assert statuses == [201] * 5 + [429] * 3


async def test_a_trusted_proxy_forwards_any_spelling_to_one_bucket(limited_app: FastAPI) -> None:
    ipv6 = [*SPELLINGS[:5], "[2001:db8:2::1]:443"]
    ipv4 = [*MAPPED, "10.20.0.1:5000", "::ffff:a14:1"]
    statuses = [
        await register_from(limited_app, [PROXY], **{"X-Forwarded-For": f"{client}, {PROXY}"})
        for client in [*ipv6, *ipv4]
    ]
    assert statuses == [[201]] * 5 + [[429]] + [[201]] * 5 + [[429]]


async def test_the_recorded_address_of_a_session_is_canonical(
    limited_app: FastAPI, user: User, session: AsyncSession
) -> None:
    forwarded = [
        "::FFFF:198.51.100.4",
        "fe80::1%eth0",  # a zone index means nothing past the first hop
        f"fe80::1%{'a' * 60}",  # no address at all (and too long to be stored)
    ]
    form = {"username": user.username, "password": DEFAULT_PASSWORD}
    async with client_of(limited_app, peer=PROXY) as proxy:
        statuses = [
            (await proxy.post(LOGIN, data=form, headers={"X-Forwarded-For": client})).status_code
            for client in forwarded
        ]
    assert statuses == [200, 200, 200]
    recorded = await session.scalars(
        select(RefreshToken.ip_address)
        .where(RefreshToken.user_id == user.id)
        .order_by(RefreshToken.id)
    )
    assert list(recorded) == ["198.51.100.4", "fe80::1", None]
