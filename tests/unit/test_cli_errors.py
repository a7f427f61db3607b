"""Which exceptions the command line explains in one line, and how."""

from __future__ import annotations

import pytest
from alembic.util.exc import CommandError
from click.testing import CliRunner
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from app.cli import cli
from app.cli_errors import CliError, explain
from tests.conftest import load_test_settings


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (RedisConnectionError("Error 111 connecting"), "Cannot reach Redis (Error 111 connecting)"),
        (CommandError("Can't locate revision 'abc'"), "Cannot migrate the database: Can't locate"),
        (ExceptionGroup("task group", [CliError("inner")]), "inner"),
        (
            OperationalError(
                "SELECT 1", {}, Exception('FATAL:  password authentication failed for user "app"')
            ),
            "refused user app (FATAL:  password authentication failed",
        ),
    ],
)
def test_known_failures_are_explained(error: Exception, expected: str) -> None:
    explained = explain(error, None)
    assert explained is not None
    assert expected in str(explained)


def test_a_url_that_is_not_one_names_database_url() -> None:
    with pytest.raises(ArgumentError) as raised:
        make_url("not a url")
    assert "DATABASE_URL is not a database URL" in str(explain(raised.value, None))


def test_bugs_are_not_explained_away() -> None:
    assert explain(ValueError("a bug"), load_test_settings()) is None
    assert explain(ExceptionGroup("two", [ValueError(), KeyError()]), None) is None


def test_an_unanswered_prompt_aborts_with_exit_code_1() -> None:
    result = CliRunner().invoke(cli, ["create-user", "--email", "a@b.co", "--username", "ada"])
    assert result.exit_code == 1
    assert "Aborted." in result.stderr


def test_ctrl_c_exits_130_without_a_word(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("app.cli.upgrade_to_head", interrupted)
    result = CliRunner().invoke(cli, ["migrate"])
    assert result.exit_code == 130
    assert result.output.strip() == ""  # click ends the line the ^C left
