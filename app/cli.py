"""The command line: `python -m app <command>`.

Each command imports the code it runs when it runs (the worker, the seeding): `serve`, the
API server, loads none of it.
"""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing
import signal
import socket
import sys
import threading
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

import click
import uvicorn
from pydantic import ValidationError

from app.cli_errors import DEBUG, SETTINGS, CliError, OneLineErrors, explain, invalid_settings
from app.core.config import ConfigurationError, Settings
from app.core.errors import ConflictError
from app.core.heartbeat import run_with_heartbeat
from app.core.logging import configure_logging
from app.core.metrics import share_with_child_processes
from app.core.migrations import upgrade_to_head
from app.core.server import limited_http_protocol

if TYPE_CHECKING:
    from app.auth import UserRead

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SERVED_APP = "app.main:create_app"


@click.group(cls=OneLineErrors, no_args_is_help=True, context_settings={"max_content_width": 100})
@click.option("--debug", is_flag=True, help="Show the traceback of a failure (or LOG_LEVEL=DEBUG)")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """fastapi-modulith: serve the API, run workers, manage data."""
    ctx.meta[DEBUG] = debug


def load_settings(ctx: click.Context, serving_on: str | None = None) -> Settings:
    """Settings from the environment (fit to serve on host `serving_on`, when given), or
    the one line that says which one is wrong."""
    try:
        settings = Settings()
        if serving_on is not None:
            settings.check_serving_on(serving_on)
    except ConfigurationError as error:
        raise CliError(f"Configuration error: {error}") from error
    except ValidationError as error:
        raise invalid_settings(error) from error
    configure_logging(settings)
    ctx.meta[SETTINGS] = settings  # for the error messages of `OneLineErrors`
    ctx.meta[DEBUG] = ctx.meta.get(DEBUG) or settings.log_level == "DEBUG"
    return settings


@cli.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Migrate the database to the newest revision (alembic upgrade head)."""
    upgrade_to_head(load_settings(ctx))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind")
@click.option("--port", default=8000, show_default=True, help="Port to bind")
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Worker processes"
)
@click.option("--reload/--no-reload", help="Restart on code changes (development)")
@click.option(
    "--migrate/--no-migrate",
    default=True,
    show_default=True,
    help="Migrate to head first (--no-migrate: a migrate job did it)",
)
@click.pass_context
def serve(  # noqa: PLR0917 - click passes the options by keyword
    ctx: click.Context, host: str, port: int, workers: int, reload: bool, migrate: bool
) -> None:
    """Migrate the database to head (under a lock, so replicas never race), then serve the
    API with uvicorn."""
    settings = load_settings(ctx, serving_on=host)
    ensure_can_listen(host, port)
    if migrate:
        migrate_apart(settings, debug=bool(ctx.meta.get(DEBUG)))
    if settings.metrics_multiproc_dir and workers > 1 and not reload:
        share_with_child_processes(Path(settings.metrics_multiproc_dir))
    uvicorn.run(
        SERVED_APP,
        factory=True,
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        loop="uvloop",
        http=limited_http_protocol(settings),  # httptools, with limits on clients
        limit_concurrency=settings.server_limit_concurrency,
        proxy_headers=False,  # the app applies FORWARDED_ALLOW_IPS itself
        access_log=False,  # the app writes one access line per request
        server_header=False,  # no `server: uvicorn` for fingerprinting
        log_config=None,  # keep the structlog configuration
        timeout_graceful_shutdown=30,
    )


def migrate_apart(settings: Settings, *, debug: bool) -> None:
    """Migrate to head in a child process, forked (it imports nothing again), so that the
    process that goes on to serve never loads Alembic and what migrating needs (their
    memory stays with the child). In this process when another thread runs here (a fork
    copies no thread: a lock one held would stay held) or where there is no fork."""
    # What serving imports anyway, imported first: the child inherits it instead of
    # importing the models again (the fork then costs the start-up next to nothing).
    importlib.import_module(SERVED_APP.partition(":")[0])
    if threading.active_count() > 1 or "fork" not in multiprocessing.get_all_start_methods():
        upgrade_to_head(settings)
        return
    receiver, sender = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(
        target=_migrate_and_report, args=(settings, sender, debug), name="migrate"
    )
    child.start()
    sender.close()
    try:
        failure: tuple[str, int] | None = receiver.recv()
    except EOFError:  # it died before it could say
        child.join()
        failure = (
            f"The migration process died (exit code {child.exitcode}): "
            "run `python -m app migrate` to see why.",
            1,
        )
    except KeyboardInterrupt:  # Ctrl-C: this process stops the child (which ignores it)
        child.terminate()
        child.join()
        raise
    child.join()
    if failure is not None:
        raise CliError(*failure)


def _migrate_and_report(settings: Settings, report: Connection, debug: bool) -> None:
    """The migrating child: sends None, or the failure as the command line says it. A
    Ctrl-C is the parent's to handle: it stops the child, whose transaction rolls back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        upgrade_to_head(settings)
    except Exception as error:
        failure = explain(error, settings)
        if debug or failure is None:
            traceback.print_exception(error)
        if failure is None:
            failure = CliError("Migrating failed (the traceback above says why)", exit_code=1)
        report.send((str(failure), failure.exit_code))
    else:
        report.send(None)


def ensure_can_listen(host: str, port: int) -> None:
    """Fail before migrating when the address is taken (uvicorn would say so only later)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind((host, port))
    except OSError as error:
        raise CliError(
            f"Cannot listen on {host}:{port} ({error.strerror or error}). Stop what uses it, "
            "or choose another --host or --port."
        ) from error


@cli.command("create-user")
@click.option("--email", required=True, help="Email address (unique, whatever its case)")
@click.option("--username", required=True, help="3-50 characters of A-Z a-z 0-9 _ . -")
@click.option(
    "--password", prompt=True, hide_input=True, confirmation_prompt=True, help="8-128 characters"
)
@click.option("--superuser", is_flag=True, help="Grant every right")
@click.pass_context
def create_user(
    ctx: click.Context, email: str, username: str, password: str, superuser: bool
) -> None:
    """Create a user (exit 1 when the username or email is taken)."""
    from app.auth import InvalidAccountError  # noqa: PLC0415 - only the commands that need it load it

    settings = load_settings(ctx)
    try:
        user = asyncio.run(
            create_user_in_process(settings, username, email, password, is_superuser=superuser)
        )
    except (InvalidAccountError, ConflictError) as error:
        raise CliError(f"Cannot create the user: {error}", exit_code=1) from None
    kind = "superuser" if user.is_superuser else "user"
    click.echo(f"Created {kind} {user.username} <{user.email}> with id {user.id}")


async def create_user_in_process(
    settings: Settings, username: str, email: str, password: str, *, is_superuser: bool
) -> UserRead:
    """Create the account on this process's services, started as the app starts them, so
    that it goes through the same use case and unit of work as registering (`InvalidAccountError`
    before connecting anywhere)."""
    from app.auth import create_account, new_account  # noqa: PLC0415 - see above
    from app.process import running  # noqa: PLC0415 - see above

    data = new_account(username, email, password)
    async with running(settings) as services:
        return await create_account(services.provided, data, is_superuser=is_superuser)


NO_REDIS_EXIT_CODE = 2


def load_queue_settings(ctx: click.Context) -> Settings:
    """Settings for a queue process; exit 2 at once when there is no Redis to share tasks."""
    settings = load_settings(ctx)
    command = ctx.info_name
    if not settings.redis_url:
        raise CliError(
            f"Nothing to do: REDIS_URL is empty, so tasks run inside the app process "
            f"(embedded mode). To run them in separate `{command}` processes, set "
            f"REDIS_URL (e.g. REDIS_URL=redis://127.0.0.1:6379/0) for the app and the {command}.",
            exit_code=NO_REDIS_EXIT_CODE,
        )
    return settings


heartbeat_file_option = click.option(
    "--heartbeat-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Touch this file every 10 s while running, for a liveness probe: "
    "`python -m app.core.heartbeat FILE` fails once it is a minute old",
)


@cli.command()
@heartbeat_file_option
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Worker processes, each a consumer of the stream (a dead one is replaced)",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    help="Serve the task metrics for Prometheus on this port (every interface; with "
    "--workers N, worker i on PORT+i); off by default",
)
@click.pass_context
def worker(
    ctx: click.Context, heartbeat_file: Path | None, workers: int, metrics_port: int | None
) -> None:
    """Run a queue worker: consume tasks, relay the outbox (needs REDIS_URL; exit 2 without)."""
    from app.worker import run_worker, run_workers  # noqa: PLC0415 - only this command loads them

    settings = load_queue_settings(ctx)
    if workers > 1:
        if settings.metrics_multiproc_dir:
            share_with_child_processes(Path(settings.metrics_multiproc_dir))
        ctx.exit(run_workers(settings, workers, heartbeat_file, metrics_port))
    asyncio.run(run_with_heartbeat(run_worker(settings, metrics_port), heartbeat_file))


@cli.command()
@heartbeat_file_option
@click.pass_context
def scheduler(ctx: click.Context, heartbeat_file: Path | None) -> None:
    """Run the one periodic-task scheduler (needs REDIS_URL; exit 2 without)."""
    from app.worker import run_scheduler  # noqa: PLC0415 - only this command loads it

    asyncio.run(run_with_heartbeat(run_scheduler(load_queue_settings(ctx)), heartbeat_file))


# demo: movies
@cli.command()
@click.option(
    "--movies",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Also add N generated movies (rated below 9.0)",
)
@click.pass_context
def seed(ctx: click.Context, movies: int) -> None:
    """Load demo data: the bundled movies, plus N generated ones (idempotent)."""
    from app.movies.seed import SeedReport, seed_demo_data  # noqa: PLC0415 - only this command seeds
    from app.process import running  # noqa: PLC0415 - see above

    async def seed_in_process(settings: Settings) -> SeedReport:
        async with running(settings) as services:
            return await seed_demo_data(services.provided, generated=movies)

    report = asyncio.run(seed_in_process(load_settings(ctx)))
    click.echo(f"Added {report.bundled} bundled and {report.generated} generated movies")


# end demo: movies


@cli.command("new-module")
@click.argument("name")
@click.option("--singular", help="Its singular, when the guessed one is wrong")
@click.option(
    "--root",
    default=PROJECT_ROOT,
    show_default=True,
    type=click.Path(file_okay=False, exists=True, resolve_path=True, path_type=Path),
    help="The project to add it to",
)
def new_module_command(name: str, singular: str | None, root: Path) -> None:
    """Scaffold app/NAME/ (a plural package name, e.g. books) with its tests and migration,
    wired into app/modules.py and the import contracts."""
    from app.scaffold import ScaffoldError, new_module, next_steps  # noqa: PLC0415 - see above

    try:
        created = new_module(root, name, singular)
    except ScaffoldError as error:
        raise CliError(f"Cannot create the module: {error}", exit_code=1) from None
    for path in [*created.files, created.migration]:
        click.echo(f"created {path.relative_to(root)}")
    click.echo("wired into app/modules.py and the import contracts of pyproject.toml")
    if not created.formatted:
        click.echo("ruff is not installed: run `make fmt` to format the new files")
    steps = next_steps(created, root)
    click.echo("Next steps:\n" + "\n".join(f"  {step}" for step in steps))


def main() -> None:
    cli(prog_name=f"{sys.executable.rsplit('/', 1)[-1]} -m app")
