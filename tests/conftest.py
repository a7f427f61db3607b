"""Shared fixtures: a migrated test database, per-test rollback, and an HTTP client.

The schema is migrated once per session, and one app is started per process. Each
test gets one connection with an outer transaction; the app's sessions join it
through SAVEPOINTs, so app code commits freely and everything is rolled back after
the test.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import os
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
from dotenv import dotenv_values
from fastapi import FastAPI
from psycopg import sql
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.db import Database, create_engine
from app.core.migrations import upgrade_to_head
from app.main import create_app
from tests.apps import SharedAppSessions, client_of, grant_cache_lease, started, unchanged
from tests.fastapi_signatures import read_each_signature_once
from tests.processes import start_redis_server, stop

TEST_ENV_FILE = Path(__file__).resolve().parents[1] / ".test.env"
TEST_DATABASE_SUFFIX = "_test"
# The settings naming the servers the suite uses; `TEST_<name>` overrides each.
SUITE_SERVERS = ("DATABASE_URL", "REDIS_URL")


def pytest_configure() -> None:
    """Export `.test.env` (without overriding the environment), so that every CLI
    call and subprocess of the suite reads the same settings as the suite.

    `TEST_DATABASE_URL` and `TEST_REDIS_URL`, when set, name the suite's servers (the
    development stack's, say) whatever `DATABASE_URL` and `REDIS_URL` say for the app.
    Under pytest-xdist each worker gets a database and a Redis db of its own. FastAPI
    reads each endpoint's signature once per process, not once per test's app.
    """
    read_each_signature_once()
    take_suite_servers(os.environ)
    for name, value in dotenv_values(TEST_ENV_FILE).items():
        if value is not None:
            os.environ.setdefault(name, value)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    os.environ["DATABASE_URL"] = suite_database_url(os.environ["DATABASE_URL"], worker)
    if worker:
        index = int(worker.removeprefix("gw"))
        server, _, db = os.environ["REDIS_URL"].rpartition("/")
        os.environ["REDIS_URL"] = f"{server}/{int(db) + index}"
    # At exit the interpreter's last garbage collection walks every object of the session
    # (seconds, and the controller waits for each xdist worker's): pytest has run its own
    # by then (`pytest_sessionfinish` below), so the exit skips it.
    atexit.register(gc.freeze)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown() -> None:
    """Collect each test's garbage once its fixtures are torn down, then freeze what is
    left: later collections walk only what later tests make. (Apps outlive their tests in
    FastAPI's caches: without this, every full collection walked all of them, seconds a
    worker.) It runs before pytest's own check, which reports what the collection finds
    unraisable as this test's."""
    gc.collect()
    gc.freeze()


def pytest_sessionfinish() -> None:
    """What outlived the tests and was frozen becomes collectable again: pytest's last
    collection, and its check for unraisable exceptions, see all of it."""
    gc.unfreeze()


T = TypeVar("T")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The `runs_long` tests first on every xdist worker: at the end, their wait would be
    the suite's tail; at the start the other workers run the rest meanwhile. A module
    marked `one_worker` goes whole to one worker, right after its long tests."""
    workers = getattr(config, "workerinput", {}).get("workercount", 1)
    items[:] = long_ones_first(items, workers, dealing_unit)


def dealing_unit(item: pytest.Item) -> str | None:
    """What goes to one xdist worker first, as one: every test of a module marked
    `one_worker` (they share the processes a module fixture starts), or one `runs_long`
    test. None for the other tests."""
    if item.get_closest_marker("one_worker"):
        return item.path.as_posix()
    if item.get_closest_marker("runs_long"):
        return item.nodeid
    return None


def long_ones_first(items: list[T], workers: int, unit_of: Callable[[T], str | None]) -> list[T]:
    """`items` reordered so that each of `workers` starts with its share of the units
    (`unit_of` names the unit of an item, or None), dealt in turn, each kept whole:
    `--dist worksteal` gives each worker a contiguous share of the list (the remaining
    items divided by the remaining workers, in order), and idle workers steal from the
    tail of the others' shares."""
    units: dict[str, list[T]] = {}
    rest: list[T] = []
    for item in items:
        unit = unit_of(item)
        if unit is None:
            rest.append(item)
        else:
            units.setdefault(unit, []).append(item)
    dealt = list(units.values())
    ordered: list[T] = []
    for worker in range(workers):
        share = (len(items) - len(ordered)) // (workers - worker)
        first = [item for unit in dealt[worker::workers] for item in unit]
        filler = max(share - len(first), 0)
        ordered += first + rest[:filler]
        rest = rest[filler:]
    return ordered + rest


def take_suite_servers(environ: MutableMapping[str, str]) -> None:
    """`TEST_DATABASE_URL` and `TEST_REDIS_URL`, where set, become the suite's settings."""
    for name in SUITE_SERVERS:
        if chosen := environ.get(f"TEST_{name}"):
            environ[name] = chosen


def suite_database_url(url: str, worker: str | None) -> str:
    """The database the suite (or one xdist `worker` of it) uses; its schema is dropped, so
    only a database named `..._test` is accepted: never someone's real data."""
    name = make_url(url).database or ""
    if not name.endswith(TEST_DATABASE_SUFFIX):
        raise pytest.UsageError(
            f"DATABASE_URL names the database {name!r}: the test suite drops the schema of "
            f"its database, so it only runs on one whose name ends in {TEST_DATABASE_SUFFIX!r} "
            "(e.g. modulith_test)"
        )
    return sibling_test_database(url, worker) if worker else url


def sibling_test_database(url: str, label: str) -> str:
    """Another test database beside the one of `url`: `app_test` -> `app_LABEL_test`."""
    parsed = make_url(url)
    name = (parsed.database or "").removesuffix(TEST_DATABASE_SUFFIX)
    return parsed.set(database=f"{name}_{label}{TEST_DATABASE_SUFFIX}").render_as_string(
        hide_password=False
    )


def load_test_settings(**overrides: Any) -> Settings:
    return Settings(_env_file=TEST_ENV_FILE, **overrides)


def embedded_test_settings(workdir: Path, **overrides: Any) -> Settings:
    """The suite's settings on the embedded default: a SQLite file in `workdir` (not
    migrated yet), no Redis, mail as files there."""
    return load_test_settings(
        database_url=f"sqlite+aiosqlite:///{workdir / 'app.db'}",
        redis_url="",
        mail_file_dir=workdir / "mail",
        **overrides,
    )


# A key that production accepts: random, and known only to the test suite.
PRODUCTION_SECRET_KEY = SecretStr("mXutGf-9fmsOi96XG_A9Rl1Y6_zfxhg3-ZnCrvumHSk")


def load_production_settings(**overrides: Any) -> Settings:
    """The test settings with ENVIRONMENT=production (and a key it accepts)."""
    return load_test_settings(
        environment="production", secret_key=PRODUCTION_SECRET_KEY, **overrides
    )


def recreate_database(url: str) -> None:
    """Create the suite's own database if missing, with an empty public schema."""
    parsed = make_url(url)
    name = parsed.database or ""
    assert name.endswith(TEST_DATABASE_SUFFIX), f"{name!r} is not a test database"
    server = parsed.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    with psycopg.connect(server, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    target = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(target, autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_test_settings()


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    await asyncio.to_thread(recreate_database, settings.database_url)
    await asyncio.to_thread(upgrade_to_head, settings)
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One connection in an outer transaction, rolled back after the test."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        yield connection
        if transaction.is_active:
            await transaction.rollback()


@pytest.fixture
async def session_factory(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        bind=connection,
        expire_on_commit=False,
        autoflush=False,
        join_transaction_mode="create_savepoint",
    )


@pytest.fixture
async def session(
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    async with session_factory() as session:
        yield session


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    """The suite's own Redis db, emptied before each test that uses it."""
    client = Redis.from_url(settings.redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of the test's own on a free port, which it may kill: URL and process."""
    url, server = start_redis_server(tmp_path)
    yield url, server
    stop(server)


@pytest.fixture(scope="session")
async def shared_app(settings: Settings) -> AsyncIterator[tuple[FastAPI, SharedAppSessions]]:
    """The one app of this process that the tests share, started once, and the session
    factory that each test binds to its own transaction."""
    sessions = SharedAppSessions()
    app = create_app(settings, database=Database(sessions.as_factory()))
    async with started(app):
        yield app, sessions


@pytest.fixture
async def app(
    request: pytest.FixtureRequest,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    redis: Redis,
    shared_app: tuple[FastAPI, SharedAppSessions],
) -> AsyncIterator[FastAPI]:
    """The real app, lifespan run, with its sessions bound to the test transaction.

    The tests share one app (building and first routing one costs more than most tests);
    a test that changes it (adds routes, replaces listeners or overrides a dependency) is
    marked `own_app` and gets a fresh one. All of its sessions share the test's one
    connection, which the cache's background lease renewal cannot use at the same time
    as a request: the lease is granted up front (the lease itself is tested on a database
    of its own, in `test_cache*.py`).
    """
    await grant_cache_lease(redis)
    if request.node.get_closest_marker("own_app"):
        async with started(create_app(settings, database=Database(session_factory))) as own:
            yield own
        return
    shared, sessions = shared_app
    with sessions.bound_to(session_factory), unchanged(shared, request.node.nodeid):
        yield shared


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(app) as client:
        yield client
