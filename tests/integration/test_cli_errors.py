"""The command line fails with one line that says what to do, and exit code 2.

One case runs the real `python -m app` (its start-up costs seconds); the others go
through the same click group in process, which is what `python -m app` runs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from app.cli import cli
from app.core.config import Settings
from tests.conftest import recreate_database, sibling_test_database
from tests.processes import PROJECT_ROOT, app_command, free_port

PASSWORD = "s3cret-db-pass"  # must never be printed


def unreachable_database() -> dict[str, str]:
    return {"DATABASE_URL": f"postgresql+psycopg://app:{PASSWORD}@127.0.0.1:{free_port()}/app"}


def assert_one_line_error(code: int, stderr: str, expected: str, *, traceback: bool) -> None:
    assert code == 2, stderr
    last_line = stderr.strip().splitlines()[-1]
    assert last_line.startswith("Error: "), stderr
    assert expected in last_line, stderr
    assert ("Traceback" in stderr) is traceback, stderr
    assert PASSWORD not in stderr


@pytest.mark.runs_long
def test_real_cli_explains_an_unreachable_database_in_one_line() -> None:
    run = subprocess.run(
        app_command("serve", "--port", str(free_port())),
        cwd=PROJECT_ROOT,
        env={**os.environ, **unreachable_database()},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
        timeout=60,
    )
    assert_one_line_error(run.returncode, run.stderr, "Cannot reach the", traceback=False)
    assert "Start it, or set DATABASE_URL to one that answers" in run.stderr


CREATE_USER = ["create-user", "--email", "a@b.co", "--username", "ada", "--password", "pw" * 8]


@pytest.mark.parametrize(
    ("args", "env", "expected", "traceback"),
    [
        (["--debug", *CREATE_USER], unreachable_database(), "Start it, or set DATABASE_URL", True),
        # demo: movies
        (["seed"], {**unreachable_database(), "LOG_LEVEL": "DEBUG"}, "Cannot reach", True),
        (["seed", "--movies", "many"], {}, "Invalid value for '--movies'", False),
        # end demo: movies
        (["migrate"], {"LOG_FORMAT": "xml"}, "Invalid setting LOG_FORMAT: Input should be", False),
        (["scheduler", "--nope"], {}, "No such option '--nope' (see `app scheduler", False),
        *(
            ([command], {"REDIS_URL": "xml://x"}, "Invalid setting REDIS_URL: Value error", False)
            for command in ("serve", "worker", "scheduler")
        ),
    ],
)
def test_failures_are_one_line_and_tracebacks_need_debug(
    args: list[str], env: dict[str, str], expected: str, traceback: bool
) -> None:
    result = CliRunner().invoke(cli, args, env=env, prog_name="app")
    assert_one_line_error(result.exit_code, result.stderr, expected, traceback=traceback)
    assert "xml" not in result.stderr  # a setting is named, its value never echoed


def test_sentry_without_its_package_says_to_install_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "sentry_sdk", None)  # as in a default install
    dsn = f"https://{PASSWORD}@sentry.invalid/1"
    result = CliRunner().invoke(cli, ["serve"], env={"SENTRY_DSN": dsn}, prog_name="app")
    expected = "SENTRY_DSN is set but Sentry is not installed: install the observability extra"
    assert_one_line_error(result.exit_code, result.stderr, expected, traceback=False)


def test_serve_on_a_taken_port_says_so_before_migrating() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--port", str(port)], env=unreachable_database())
    expected = f"Cannot listen on 127.0.0.1:{port} (Address already in use)"
    assert_one_line_error(result.exit_code, result.stderr, expected, traceback=False)


def test_no_arguments_print_the_help() -> None:
    result = CliRunner().invoke(cli, [])
    assert result.exit_code == 2
    assert "create-user" in result.output
    assert "Error" not in result.output


@pytest.fixture(params=["sqlite", "postgresql"])
def unmigrated_database(request: pytest.FixtureRequest, tmp_path: Path, settings: Settings) -> str:
    """The URL of a database that answers but has no schema yet."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    url = sibling_test_database(settings.database_url, "unmigrated")
    recreate_database(url)
    return url


@pytest.mark.parametrize(
    "args",
    [
        ["seed"],  # demo: movies
        CREATE_USER,
    ],
)
def test_a_database_without_its_schema_says_to_migrate_first(
    args: list[str], unmigrated_database: str
) -> None:
    result = CliRunner().invoke(
        cli, args, env={"DATABASE_URL": unmigrated_database, "REDIS_URL": ""}, prog_name="app"
    )
    expected = "it is not migrated. Run `python -m app migrate` (or `make migrate`) first"
    assert_one_line_error(result.exit_code, result.stderr, expected, traceback=False)


def test_a_database_that_does_not_exist_says_how_to_create_it(settings: Settings) -> None:
    url = make_url(settings.database_url).set(database="modulith_never_created_test")
    env = {"DATABASE_URL": url.render_as_string(hide_password=False), "REDIS_URL": ""}
    result = CliRunner().invoke(cli, ["migrate"], env=env, prog_name="app")
    createdb = f"createdb -h {url.host} -p {url.port} -U {url.username} {url.database}"
    expected = f"does not exist: create it (`{createdb}`), or set DATABASE_URL"
    assert_one_line_error(result.exit_code, result.stderr, expected, traceback=False)


def test_a_user_the_database_does_not_know_is_named(settings: Settings) -> None:
    url = make_url(settings.database_url).set(username="modulith_nobody")
    env = {"DATABASE_URL": url.render_as_string(hide_password=False), "REDIS_URL": ""}
    result = CliRunner().invoke(cli, ["migrate"], env=env, prog_name="app")
    expected = "refused user modulith_nobody (connection failed: "
    assert_one_line_error(result.exit_code, result.stderr, expected, traceback=False)
    assert "set a user and password it accepts in DATABASE_URL" in result.stderr
