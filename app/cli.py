"""The command line: `python -m app <command>`.

Each command imports the code it runs when it runs (the worker, the seeding): `serve`, the
API server, loads none of it.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import uvicorn
from pydantic import ValidationError

from app.cli_errors import DEBUG, SETTINGS, CliError, OneLineErrors, invalid_settings
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

cli = typer.Typer(
    cls=OneLineErrors,
    help="fastapi-modulith: serve the API, run workers, manage data.",
    no_args_is_help=True,
    # A traceback's locals would show DATABASE_URL, password included.
    pretty_exceptions_show_locals=False,
)


@cli.callback()
def global_options(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of a failure (or LOG_LEVEL=DEBUG)")
    ] = False,
) -> None:
    ctx.meta[DEBUG] = debug


def load_settings(ctx: typer.Context, serving_on: str | None = None) -> Settings:
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
def migrate(ctx: typer.Context) -> None:
    """Migrate the database to the newest revision (alembic upgrade head)."""
    upgrade_to_head(load_settings(ctx))


@cli.command()
def serve(  # noqa: PLR0917 - typer passes the options by keyword
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development)")] = False,
    migrate: Annotated[
        bool, typer.Option(help="Migrate to head first (--no-migrate: a migrate job did it)")
    ] = True,
) -> None:
    """Migrate the database to head (under a lock, so replicas never race), then serve the
    API with uvicorn."""
    settings = load_settings(ctx, serving_on=host)
    ensure_can_listen(host, port)
    if migrate:
        upgrade_to_head(settings)
    if settings.metrics_multiproc_dir and workers > 1 and not reload:
        share_with_child_processes(Path(settings.metrics_multiproc_dir))
    uvicorn.run(
        "app.main:create_app",
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
def create_user(
    ctx: typer.Context,
    email: Annotated[str, typer.Option(help="Email address (unique, whatever its case)")],
    username: Annotated[str, typer.Option(help="3-50 characters of A-Z a-z 0-9 _ . -")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, help="8-128 characters"
        ),
    ],
    superuser: Annotated[bool, typer.Option("--superuser", help="Grant every right")] = False,
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
    typer.echo(f"Created {kind} {user.username} <{user.email}> with id {user.id}")


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


def load_queue_settings(ctx: typer.Context) -> Settings:
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


HeartbeatFile = Annotated[
    Path | None,
    typer.Option(
        help="Touch this file every 10 s while running, for a liveness probe: "
        "`python -m app.core.heartbeat FILE` fails once it is a minute old",
        dir_okay=False,
    ),
]


@cli.command()
def worker(
    ctx: typer.Context,
    heartbeat_file: HeartbeatFile = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1, help="Worker processes, each a consumer of the stream (a dead one is replaced)"
        ),
    ] = 1,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            help="Serve the task metrics for Prometheus on this port (every interface; with "
            "--workers N, worker i on PORT+i); off by default",
        ),
    ] = None,
) -> None:
    """Run a queue worker: consume tasks, relay the outbox (needs REDIS_URL; exit 2 without)."""
    from app.worker import run_worker, run_workers  # noqa: PLC0415 - only this command loads them

    settings = load_queue_settings(ctx)
    if workers > 1:
        if settings.metrics_multiproc_dir:
            share_with_child_processes(Path(settings.metrics_multiproc_dir))
        raise typer.Exit(run_workers(settings, workers, heartbeat_file, metrics_port))
    asyncio.run(run_with_heartbeat(run_worker(settings, metrics_port), heartbeat_file))


@cli.command()
def scheduler(ctx: typer.Context, heartbeat_file: HeartbeatFile = None) -> None:
    """Run the one periodic-task scheduler (needs REDIS_URL; exit 2 without)."""
    from app.worker import run_scheduler  # noqa: PLC0415 - only this command loads it

    asyncio.run(run_with_heartbeat(run_scheduler(load_queue_settings(ctx)), heartbeat_file))


# demo: movies
@cli.command()
def seed(
    ctx: typer.Context,
    movies: Annotated[
        int, typer.Option("--movies", min=0, help="Also add N generated movies (rated below 9.0)")
    ] = 0,
) -> None:
    """Load demo data: the bundled movies, plus N generated ones (idempotent)."""
    from app.movies.seed import SeedReport, seed_demo_data  # noqa: PLC0415 - only this command seeds
    from app.process import running  # noqa: PLC0415 - see above

    async def seed_in_process(settings: Settings) -> SeedReport:
        async with running(settings) as services:
            return await seed_demo_data(services.provided, generated=movies)

    report = asyncio.run(seed_in_process(load_settings(ctx)))
    typer.echo(f"Added {report.bundled} bundled and {report.generated} generated movies")


# end demo: movies


@cli.command("new-module")
def new_module_command(
    name: Annotated[str, typer.Argument(help="Plural package name, e.g. books")],
    singular: Annotated[
        str | None,
        typer.Option(help="Its singular, when the guessed one is wrong"),
    ] = None,
    root: Annotated[
        Path,
        typer.Option(
            help="The project to add it to", file_okay=False, exists=True, resolve_path=True
        ),
    ] = PROJECT_ROOT,
) -> None:
    """Scaffold app/NAME/ with its tests and migration, wired into app/modules.py and the
    import contracts."""
    from app.scaffold import ScaffoldError, new_module, next_steps  # noqa: PLC0415 - see above

    try:
        created = new_module(root, name, singular)
    except ScaffoldError as error:
        raise CliError(f"Cannot create the module: {error}", exit_code=1) from None
    for path in [*created.files, created.migration]:
        typer.echo(f"created {path.relative_to(root)}")
    typer.echo("wired into app/modules.py and the import contracts of pyproject.toml")
    if not created.formatted:
        typer.echo("ruff is not installed: run `make fmt` to format the new files")
    steps = next_steps(created, root)
    typer.echo("Next steps:\n" + "\n".join(f"  {step}" for step in steps))


def main() -> None:
    cli(prog_name=f"{sys.executable.rsplit('/', 1)[-1]} -m app")
