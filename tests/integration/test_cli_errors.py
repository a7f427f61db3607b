"""The command line fails with one line that says what to do, and exit code 2.

Two cases run the real `python -m app` (concurrently: each pays the start-up once); the
others go through the same typer group in process, which is what the subprocesses run.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from typer.testing import CliRunner

from app.cli import cli
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


def test_real_cli_explains_an_unreachable_database_and_a_bad_setting() -> None:
    cases = [
        (["serve", "--port", str(free_port())], unreachable_database(), "Cannot reach the"),
        (["migrate"], {"LOG_FORMAT": "xml"}, "Invalid setting LOG_FORMAT: Input should be"),
    ]
    runs = [
        subprocess.Popen(
            app_command(*args),
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args, env, _ in cases
    ]
    for (_, _, expected), run in zip(cases, runs, strict=True):
        _, stderr = run.communicate(timeout=60)
        assert_one_line_error(run.returncode, stderr, expected, traceback=False)
        assert "xml" not in stderr  # names the setting, never echoes its value


CREATE_USER = ["create-user", "--email", "a@b.co", "--username", "ada", "--password", "pw" * 8]


@pytest.mark.parametrize(
    ("args", "env", "expected", "traceback"),
    [
        (["--debug", *CREATE_USER], unreachable_database(), "Start it, or set DATABASE_URL", True),
        (["seed"], {**unreachable_database(), "LOG_LEVEL": "DEBUG"}, "Cannot reach", True),
        (["seed", "--movies", "many"], {}, "Invalid value for '--movies'", False),
        (["worker"], {"LOG_LEVEL": "LOUD"}, "Invalid setting LOG_LEVEL: Input should be", False),
        (["scheduler", "--nope"], {}, "No such option: --nope (see `app scheduler --help`)", False),
    ],
)
def test_failures_are_one_line_and_tracebacks_need_debug(
    args: list[str], env: dict[str, str], expected: str, traceback: bool
) -> None:
    result = CliRunner().invoke(cli, args, env=env, prog_name="app")
    assert_one_line_error(result.exit_code, result.stderr, expected, traceback=traceback)


def test_no_arguments_print_the_help() -> None:
    result = CliRunner().invoke(cli, [])
    assert result.exit_code == 2
    assert "create-user" in result.output
    assert "Error" not in result.output
