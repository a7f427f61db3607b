"""How the command line fails: one line that says what is wrong and what to do next.

Every failure a user can cause (a bad argument, an invalid setting, a database or Redis
that does not answer, a missing service) ends with that line on stderr and exit code 2;
the traceback is shown only with `--debug` or `LOG_LEVEL=DEBUG`. A command raises
`CliError` for the failures it detects itself; `explain` turns the known exceptions of
the libraries into one; `OneLineErrors` (the click group of `app.cli`) prints them.
"""

from __future__ import annotations

import re
import shlex
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click
from psycopg.errors import UndefinedTable
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from app.core.config import Settings
from app.core.errors import is_database_unavailable

USAGE_EXIT_CODE = 2
INTERRUPTED_EXIT_CODE = 130  # 128 + SIGINT
# Keys of click's context `meta`, shared by the group and the command it runs.
DEBUG = "app.debug"
SETTINGS = "app.settings"


class CliError(Exception):
    """A failure the user can fix; the message says what to do next."""

    def __init__(self, message: str, exit_code: int = USAGE_EXIT_CODE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def invalid_settings(error: ValidationError) -> CliError:
    """Name every invalid setting as its environment variable, never echoing its value."""
    problems = "; ".join(
        f"{'.'.join(map(str, item['loc'])).upper() or 'settings'}: {item['msg']}"
        for item in error.errors(include_input=False, include_url=False)
    )
    return CliError(
        f"Invalid setting {problems}. Fix it in the environment or in .env "
        "(.sample.env documents every setting)."
    )


def _first_line(error: BaseException) -> str:
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    text = str(cause).strip() or type(cause).__name__
    return text.splitlines()[0]


def _missing_table(error: BaseException) -> str | None:
    """The table a statement found missing (the schema is not migrated), or None."""
    if not isinstance(error, DBAPIError):
        return None
    if isinstance(error.orig, UndefinedTable):  # PostgreSQL
        found = re.search(r'relation "([^"]+)" does not exist', str(error.orig))
    else:  # SQLite says it in an OperationalError
        found = re.match(r"no such table: (\S+)", str(error.orig))
    return found[1] if found else None


def _missing_database(error: BaseException) -> str | None:
    """The database the server said does not exist (PostgreSQL), or None."""
    found = re.search(r'FATAL:  ?database "([^"]+)" does not exist', _first_line(error))
    return found[1] if found else None


def _is_alembic_error(error: BaseException) -> bool:
    """Whether Alembic refused to migrate (a process that has not imported Alembic, which
    only migrating imports, cannot have met one)."""
    exceptions = sys.modules.get("alembic.util.exc")
    return exceptions is not None and isinstance(error, exceptions.CommandError)


def _refused_user(error: BaseException) -> str | None:
    """The user the server did not let in (no such role, or a wrong password), or None."""
    found = re.search(
        r'FATAL:  ?(?:role "([^"]+)" does not exist|password authentication failed for '
        r'user "([^"]+)")',
        _first_line(error),
    )
    return (found[1] or found[2]) if found else None


def _createdb(settings: Settings | None, database: str) -> str:
    """PostgreSQL's command that creates `database` on the server of DATABASE_URL."""
    command = ["createdb"]
    if settings is not None:
        url = make_url(settings.database_url)
        for flag, value in (("-h", url.host), ("-p", url.port), ("-U", url.username)):
            if value:
                command += [flag, str(value)]
    return shlex.join([*command, database])


def _database(settings: Settings | None) -> str:
    if settings is None:
        return "the database"
    try:
        return f"the database at {make_url(settings.database_url).render_as_string()}"
    except ArgumentError:  # pragma: no cover - the engine would have refused it first
        return "the database"


def explain(error: BaseException, settings: Settings | None) -> CliError | None:
    """The one-line explanation of a failure the user can fix, or None for a real bug."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    if isinstance(error, CliError):
        return error
    if (table := _missing_table(error)) is not None:
        return CliError(
            f"{_database(settings).capitalize()} has no table {table}: it is not migrated. "
            "Run `python -m app migrate` (or `make migrate`) first, then run the command again."
        )
    if (database := _missing_database(error)) is not None:
        return CliError(
            f"{_database(settings).capitalize()} does not exist: create it "
            f"(`{_createdb(settings, database)}`), or set DATABASE_URL to one that does, "
            "then run the command again."
        )
    if (user := _refused_user(error)) is not None:
        return CliError(
            f"{_database(settings).capitalize()} refused user {user} "
            f"({_first_line(error)}): set a user and password it accepts in DATABASE_URL, "
            "then run the command again."
        )
    if is_database_unavailable(error):
        return CliError(
            f"Cannot reach {_database(settings)} ({_first_line(error)}). Start it, or set "
            "DATABASE_URL to one that answers, then run the command again."
        )
    if isinstance(error, ArgumentError):
        return CliError(f"DATABASE_URL is not a database URL ({error}); fix it and run again.")
    if isinstance(error, RedisConnectionError | RedisTimeoutError):
        return CliError(
            f"Cannot reach Redis ({_first_line(error)}). Start it, or set REDIS_URL to one "
            "that answers (empty runs everything in this process), then run the command again."
        )
    if _is_alembic_error(error):
        return CliError(
            f"Cannot migrate the database: {_first_line(error)}. Is DATABASE_URL the "
            "database of this project and this version of it?"
        )
    return None


def _one_line(message: str) -> str:
    return " ".join(message.split())


def report(message: str) -> None:
    click.secho(f"Error: {_one_line(message)}", err=True, fg="red")


class OneLineErrors(click.Group):
    """The CLI's group: prints failures as one line (see the module's docstring); lists
    its commands in the order they are defined."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, click.ClickException):
            raise
        except Exception as error:
            failure = explain(error, ctx.meta.get(SETTINGS))
            if failure is None:
                raise
            if ctx.meta.get(DEBUG):
                traceback.print_exception(error)
            report(str(failure))
            raise click.exceptions.Exit(failure.exit_code) from None

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            # Not standalone, so that usage errors come here, to be printed as one line.
            # The commands return None: what comes back is an exit code or None.
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as error:  # usage errors
            result = USAGE_EXIT_CODE
            if isinstance(error, click.exceptions.NoArgsIsHelpError):
                click.echo(error.format_message())  # the help
                return self._exit(result, standalone_mode)
            usage = getattr(error, "ctx", None)
            hint = f" (see `{usage.command_path} --help`)" if usage else ""
            report(f"{error.format_message().rstrip('.')}{hint}")
        except click.Abort as abort:
            if isinstance(abort.__context__, KeyboardInterrupt):
                result = INTERRUPTED_EXIT_CODE  # Ctrl-C: what a shell expects, silently
            else:
                click.echo("Aborted.", err=True)
                result = 1
        return self._exit(result, standalone_mode)

    @staticmethod
    def _exit(code: int | None, standalone_mode: bool) -> int | None:
        if not standalone_mode:
            return code
        sys.exit(code or 0)
