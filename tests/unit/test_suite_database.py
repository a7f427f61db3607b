"""The suite drops the schema of its database: it refuses one not named `..._test`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import sibling_test_database, suite_database_url, take_suite_servers
from tests.processes import start_redis_server

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


@pytest.mark.parametrize("name", ["app", "production", "test_app", "modulith_tests", ""])
def test_a_database_not_named_for_tests_is_refused_naming_it(name: str) -> None:
    with pytest.raises(pytest.UsageError, match="_test") as refused:
        suite_database_url(f"{SERVER}/{name}", worker=None)
    assert "DATABASE_URL" in str(refused.value)


def test_each_xdist_worker_gets_a_database_still_named_for_tests() -> None:
    assert suite_database_url(f"{SERVER}/modulith_test", worker=None) == f"{SERVER}/modulith_test"
    assert suite_database_url(f"{SERVER}/modulith_test", worker="gw3") == (
        f"{SERVER}/modulith_gw3_test"
    )
    assert sibling_test_database(f"{SERVER}/modulith_gw3_test", "migrations") == (
        f"{SERVER}/modulith_gw3_migrations_test"
    )


def test_test_prefixed_servers_win_over_the_apps_settings() -> None:
    """A developer's shell may point REDIS_URL at the dev stack's own db, which the suite
    would flush: `TEST_REDIS_URL` (and `TEST_DATABASE_URL`) name the suite's instead."""
    environ = {
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "TEST_REDIS_URL": "redis://127.0.0.1:6379/9",
        "DATABASE_URL": f"{SERVER}/app",
    }
    take_suite_servers(environ)
    assert environ["REDIS_URL"] == "redis://127.0.0.1:6379/9"
    assert environ["DATABASE_URL"] == f"{SERVER}/app"  # no TEST_ one: left as it is


def test_a_test_needing_its_own_redis_skips_without_the_binary(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(pytest.skip.Exception, match="apt install redis-server"):
        start_redis_server(tmp_path)
