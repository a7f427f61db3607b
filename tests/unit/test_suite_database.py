"""The suite drops the schema of its database: it refuses one not named `..._test`."""

from __future__ import annotations

import pytest

from tests.conftest import sibling_test_database, suite_database_url

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
