"""Rate limits through the HTTP API: per key, shared through Redis, failing open or closed."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, Form, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings
from app.core.errors import ConflictError
from app.core.injection import provided_by
from app.core.limit_syntax import parse_limit
from app.core.rate_limit import (
    RateLimiter,
    by_client_ip_and_form_field,
    rate_limit,
)
from app.main import create_app
from tests.apps import client_of, started
from tests.conftest import load_test_settings
from tests.processes import free_port, start_app_process, stop, wait_until_ready

PROBLEM = "application/problem+json"
LOGIN_LIMIT = rate_limit("3/minute", key=by_client_ip_and_form_field("username"), fail_closed=True)


def add_test_routes(app: FastAPI) -> FastAPI:
    async def limited() -> dict[str, bool]:
        return {"ok": True}

    async def limited_conflict() -> None:
        raise ConflictError("Already taken")

    async def login(username: Annotated[str, Form()]) -> dict[str, str]:
        return {"username": username}

    async def unlimited() -> dict[str, bool]:
        return {"ok": True}

    async def doubly_limited() -> dict[str, bool]:
        return {"ok": True}

    app.add_api_route("/test/limited", limited, dependencies=[rate_limit("10/minute")])
    app.add_api_route(
        "/test/limited-conflict", limited_conflict, dependencies=[rate_limit("10/minute")]
    )
    app.add_api_route("/test/login", login, methods=["POST"], dependencies=[LOGIN_LIMIT])
    app.add_api_route("/test/unlimited", unlimited)
    app.add_api_route(
        "/test/doubly-limited",
        doubly_limited,
        dependencies=[rate_limit("5/minute"), rate_limit("2/minute")],
    )
    return app


@pytest.fixture
async def limited_app(redis: Redis) -> AsyncIterator[FastAPI]:
    """The app on the suite's Redis db (flushed), with the test routes."""
    async with started(add_test_routes(create_app(load_test_settings()))) as app:
        yield app


def assert_rate_headers(response: httpx.Response, limit: int, remaining: int) -> None:
    assert response.headers["x-ratelimit-limit"] == str(limit)
    assert response.headers["x-ratelimit-remaining"] == str(remaining)
    assert 0 <= int(response.headers["x-ratelimit-reset"]) <= 60


@pytest.mark.parametrize("redis_url", ["redis", "embedded"])
async def test_the_eleventh_call_in_a_minute_is_a_429_problem(
    redis: Redis, settings: Settings, redis_url: str
) -> None:
    overrides = {"redis_url": ""} if redis_url == "embedded" else {}
    app = add_test_routes(create_app(load_test_settings(**overrides)))
    async with started(app), client_of(app) as client:
        for call in range(1, 11):
            response = await client.get("/test/limited")
            assert response.status_code == 200
            assert_rate_headers(response, limit=10, remaining=10 - call)
        refused = await client.get("/test/limited")
    assert refused.status_code == 429
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["type"] == "/problems/rate-limited"
    assert refused.json()["title"] == "Rate limit exceeded"
    assert refused.json()["request_id"] == refused.headers["x-request-id"]
    assert 1 <= int(refused.headers["retry-after"]) <= 6  # GCRA: one more every 60/10 s
    assert_rate_headers(refused, limit=10, remaining=0)
    stored = await redis.keys("ratelimit:*")
    assert len(stored) == (1 if redis_url == "redis" else 0)


async def test_concurrent_requests_of_one_key_never_exceed_the_limit(
    limited_app: FastAPI,
) -> None:
    limiter = provided_by(limited_app).get(RateLimiter)
    quotas = await asyncio.gather(
        *(limiter.hit(parse_limit("10/minute"), "ip:192.0.2.1") for _ in range(30))
    )
    admitted = sum(quota.retry_after_seconds is None for quota in quotas)
    # Concurrent hits stamped in one order may reach Redis in another, which can cost
    # one admission of the burst (GCRA is conservative); it never adds one.
    assert 9 <= admitted <= 10


async def test_error_responses_under_a_limit_carry_the_headers(limited_app: FastAPI) -> None:
    async with client_of(limited_app) as client:
        conflict = await client.get("/test/limited-conflict")
        invalid = await client.post("/test/login", data={"password": "no username"})
    assert conflict.status_code == 409
    assert_rate_headers(conflict, limit=10, remaining=9)
    assert invalid.status_code == 422
    assert_rate_headers(invalid, limit=3, remaining=2)


async def test_a_route_under_two_limits_reports_the_tighter(limited_app: FastAPI) -> None:
    async with client_of(limited_app) as client:
        first = await client.get("/test/doubly-limited")
        await client.get("/test/doubly-limited")
        third = await client.get("/test/doubly-limited")
    assert_rate_headers(first, limit=2, remaining=1)
    assert third.status_code == 429


async def test_login_is_limited_per_ip_and_username_and_the_form_still_reaches_it(
    limited_app: FastAPI,
) -> None:
    async with client_of(limited_app) as client:
        for _ in range(3):
            response = await client.post("/test/login", data={"username": "alice"})
            assert response.json() == {"username": "alice"}
        same_user = await client.post("/test/login", data={"username": " ALICE "})
        other_user = await client.post("/test/login", data={"username": "bob"})
    async with client_of(limited_app, "198.51.100.7") as elsewhere:
        other_ip = await elsewhere.post("/test/login", data={"username": "alice"})
    assert same_user.status_code == 429
    assert other_user.status_code == 200
    assert other_ip.status_code == 200


async def test_a_spoofed_forwarded_for_from_an_untrusted_peer_does_not_change_the_key(
    limited_app: FastAPI,
) -> None:
    async with client_of(limited_app, "203.0.113.5") as client:
        answers = [
            await client.post(
                "/test/login",
                data={"username": "alice"},
                headers={"X-Forwarded-For": f"192.0.2.{number}"},
            )
            for number in range(4)
        ]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]


async def test_forwarded_for_from_a_trusted_proxy_names_the_client(redis: Redis) -> None:
    app = add_test_routes(create_app(load_test_settings(forwarded_allow_ips="10.0.0.1")))

    async def login_via_proxy(client: httpx.AsyncClient, forwarded_for: str) -> int:
        response = await client.post(
            "/test/login", data={"username": "alice"}, headers={"X-Forwarded-For": forwarded_for}
        )
        return response.status_code

    async with started(app), client_of(app, "10.0.0.1") as proxy:
        distinct = [await login_via_proxy(proxy, f"192.0.2.{number}") for number in range(4)]
        same = [await login_via_proxy(proxy, "198.51.100.9, 10.0.0.1") for _ in range(4)]
    assert distinct == [200, 200, 200, 200]
    assert same == [200, 200, 200, 429]


async def test_rate_limit_enabled_false_turns_every_limit_off(redis: Redis) -> None:
    app = add_test_routes(create_app(load_test_settings(rate_limit_enabled=False)))
    async with started(app), client_of(app) as client:
        answers = [await client.get("/test/limited") for _ in range(12)]
    assert {answer.status_code for answer in answers} == {200}
    assert "x-ratelimit-limit" not in answers[-1].headers


async def test_a_limit_can_be_overridden_like_any_dependency(limited_app: FastAPI) -> None:
    limited_app.dependency_overrides[LOGIN_LIMIT.dependency] = lambda: None
    async with client_of(limited_app) as client:
        answers = [await client.post("/test/login", data={"username": "alice"}) for _ in range(5)]
    assert {answer.status_code for answer in answers} == {200}


@pytest.fixture
async def default_limited_app(redis: Redis) -> AsyncIterator[FastAPI]:
    """RATE_LIMIT_DEFAULT=2/minute, with requests keyed by the X-Test-User header when sent."""
    app = add_test_routes(create_app(load_test_settings(rate_limit_default="2/minute")))

    async def test_user(request: Request) -> str | None:
        return request.headers.get("X-Test-User")

    async with started(app):
        # After start-up, replacing the auth module's.
        provided_by(app).get(RateLimiter).identify_callers(test_user)
        yield app


async def test_the_default_limit_covers_every_route_without_its_own(
    default_limited_app: FastAPI,
) -> None:
    async with client_of(default_limited_app) as client:
        first = await client.get("/test/unlimited")
        await client.get("/test/unlimited")
        another_route = await client.get("/")
        own_limit = await client.get("/test/limited")
        probes = [await client.get("/health/live") for _ in range(3)]
    assert_rate_headers(first, limit=2, remaining=1)
    assert another_route.status_code == 429  # one budget per client, across routes
    assert own_limit.status_code == 200
    assert own_limit.headers["x-ratelimit-limit"] == "10"
    assert {probe.status_code for probe in probes} == {200}
    assert "x-ratelimit-limit" not in probes[0].headers


async def test_the_default_limit_counts_per_user_when_identified(
    default_limited_app: FastAPI,
) -> None:
    async with client_of(default_limited_app) as client:
        ada = [await client.get("/test/unlimited", headers={"X-Test-User": "1"}) for _ in range(3)]
        bob = await client.get("/test/unlimited", headers={"X-Test-User": "2"})
        anonymous = await client.get("/test/unlimited")
    assert [answer.status_code for answer in ada] == [200, 200, 429]
    assert bob.status_code == 200
    assert anonymous.status_code == 200


@pytest.fixture
def app_on_own_redis(own_redis: tuple[str, subprocess.Popen[bytes]]) -> FastAPI:
    """Built in a fixture: `create_app` configures logging, which would drop caplog's handler."""
    settings = load_test_settings(redis_url=own_redis[0], redis_request_timeout=0.2)
    return add_test_routes(create_app(settings))


async def test_with_redis_down_credentials_fail_closed_and_other_limits_fail_open(
    app_on_own_redis: FastAPI,
    own_redis: tuple[str, subprocess.Popen[bytes]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = own_redis[1]
    caplog.set_level(logging.WARNING)
    async with started(app_on_own_redis), client_of(app_on_own_redis) as client:
        assert (await client.get("/test/limited")).status_code == 200
        server.kill()
        server.wait()
        closed = await client.post("/test/login", data={"username": "alice"})
        opened = [await client.get("/test/limited") for _ in range(2)]
    assert closed.status_code == 503
    assert closed.headers["content-type"] == PROBLEM
    assert int(closed.headers["retry-after"]) >= 1
    assert [answer.status_code for answer in opened] == [200, 200]
    assert "x-ratelimit-limit" not in opened[0].headers
    warnings = [
        record.msg
        for record in caplog.records
        if isinstance(record.msg, dict) and record.msg.get("event") == "redis unavailable"
    ]
    assert [warning["service"] for warning in warnings] == ["rate limiter"]


def _serve_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    return {
        "ENVIRONMENT": settings.environment,
        "SECRET_KEY": settings.secret_key.get_secret_value(),
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "LOG_LEVEL": "WARNING",
        # Start-up compiles every module when bytecode is never written; let it be cached.
        "PYTHONDONTWRITEBYTECODE": "",
        "MAIL_FILE_DIR": str(tmp_path / "mail"),
        "RATE_LIMIT_DEFAULT": "3/minute",
    }


@pytest.mark.runs_long
async def test_two_app_processes_share_one_count(
    settings: Settings, engine: AsyncEngine, redis: Redis, tmp_path: Path
) -> None:
    """Real `python -m app serve` processes on one Redis: the limit holds across them."""
    ports = [free_port(), free_port()]
    processes = [
        start_app_process(
            ["serve", "--port", str(port)],
            env=_serve_env(settings, tmp_path),
            log=tmp_path / f"serve-{port}.log",
        )
        for port in ports
    ]
    try:
        await asyncio.gather(
            *(
                wait_until_ready(f"http://127.0.0.1:{port}/health/live", process, seconds=60)
                for port, process in zip(ports, processes, strict=True)
            )
        )
        async with httpx.AsyncClient() as client:
            answers = [await client.get(f"http://127.0.0.1:{ports[n % 2]}/") for n in range(4)]
    finally:
        for process in processes:
            stop(process)
    remaining: list[Any] = [answer.headers.get("x-ratelimit-remaining") for answer in answers]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert remaining == ["2", "1", "0", "0"]
