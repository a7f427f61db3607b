"""The command line: `python -m app <command>`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
import uvicorn

from app.core.config import ConfigurationError, Settings
from app.core.logging import configure_logging
from app.core.migrations import upgrade_to_head

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


def main() -> None:
    cli(prog_name=f"{sys.executable.rsplit('/', 1)[-1]} -m app")
