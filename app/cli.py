"""The command line: `python -m app <command>`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from app.auth import InvalidAccountError, create_user_from_settings
from app.core.config import ConfigurationError, Settings
from app.core.errors import ConflictError
from app.core.logging import configure_logging
from app.core.migrations import upgrade_to_head
from app.movies import seed_demo_data
from app.scaffold import PROJECT_ROOT, ScaffoldError, new_module, next_steps
from app.worker import run_scheduler, run_worker

cli = typer.Typer(
    help="fastapi-modulith: serve the API, run workers, manage data.", no_args_is_help=True
)


def load_settings() -> Settings:
    """Settings from the environment, or exit with the one line that says what is wrong."""
    try:
        settings = Settings()
    except ConfigurationError as error:
        typer.secho(f"Configuration error: {error}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None
    configure_logging(settings)
    return settings


@cli.command()
def migrate() -> None:
    """Migrate the database to the newest revision (alembic upgrade head)."""
    upgrade_to_head(load_settings())


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development)")] = False,
) -> None:
    """Migrate the database to head, then serve the API with uvicorn."""
    settings = load_settings()
    upgrade_to_head(settings)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        loop="uvloop",
        http="httptools",
        proxy_headers=False,  # the app applies FORWARDED_ALLOW_IPS itself
        access_log=False,  # the app writes one access line per request
        log_config=None,  # keep the structlog configuration
        timeout_graceful_shutdown=30,
    )


@cli.command("create-user")
def create_user(
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
    settings = load_settings()
    try:
        user = asyncio.run(
            create_user_from_settings(settings, username, email, password, is_superuser=superuser)
        )
    except (InvalidAccountError, ConflictError) as error:
        typer.secho(f"Cannot create the user: {error}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=1) from None
    kind = "superuser" if user.is_superuser else "user"
    typer.echo(f"Created {kind} {user.username} <{user.email}> with id {user.id}")


NO_REDIS_EXIT_CODE = 2


def load_queue_settings(command: str) -> Settings:
    """Settings for a queue process; exit 2 at once when there is no Redis to share tasks."""
    settings = load_settings()
    if not settings.redis_url:
        typer.secho(
            f"Nothing to do: REDIS_URL is empty, so tasks run inside the app process "
            f"(embedded mode). To run them in separate `{command}` processes, set "
            f"REDIS_URL (e.g. REDIS_URL=redis://127.0.0.1:6379/0) for the app and the {command}.",
            err=True,
            fg=typer.colors.YELLOW,
        )
        raise typer.Exit(code=NO_REDIS_EXIT_CODE)
    return settings


@cli.command()
def worker() -> None:
    """Run a queue worker: consume tasks, relay the outbox (needs REDIS_URL; exit 2 without)."""
    asyncio.run(run_worker(load_queue_settings("worker")))


@cli.command()
def scheduler() -> None:
    """Run the one periodic-task scheduler (needs REDIS_URL; exit 2 without)."""
    asyncio.run(run_scheduler(load_queue_settings("scheduler")))


@cli.command()
def seed(
    movies: Annotated[
        int, typer.Option("--movies", min=0, help="Also add N generated movies (rated below 9.0)")
    ] = 0,
) -> None:
    """Load demo data: the bundled movies, plus N generated ones (idempotent)."""
    report = asyncio.run(seed_demo_data(load_settings(), generated=movies))
    typer.echo(f"Added {report.bundled} bundled and {report.generated} generated movies")


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
    try:
        created = new_module(root, name, singular)
    except ScaffoldError as error:
        typer.secho(f"Cannot create the module: {error}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=1) from None
    for path in [*created.files, created.migration]:
        typer.echo(f"created {path.relative_to(root)}")
    typer.echo("wired into app/modules.py and the import contracts of pyproject.toml")
    if not created.formatted:
        typer.echo("ruff is not installed: run `make fmt` to format the new files")
    steps = next_steps(created, root)
    typer.echo("Next steps:\n" + "\n".join(f"  {step}" for step in steps))


def main() -> None:
    cli(prog_name=f"{sys.executable.rsplit('/', 1)[-1]} -m app")
