"""The command-line options of the bench's data stores, shared by `bench.run` and
`bench.profile`: a database recreated on every run and a Redis db flushed."""

from __future__ import annotations

import click

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/modulith_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
database_url_option = click.option(
    "--database-url",
    envvar="BENCH_DATABASE_URL",
    default=DEFAULT_DATABASE_URL,
    show_default=True,
    help="Recreated on every run",
)
redis_url_option = click.option(
    "--redis-url",
    envvar="BENCH_REDIS_URL",
    default=DEFAULT_REDIS_URL,
    show_default=True,
    help="A Redis db of its own; flushed",
)
