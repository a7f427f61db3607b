"""The command-line options of the bench's data stores, shared by `bench.run` and
`bench.profile`: a database recreated on every run and a Redis db flushed."""

from __future__ import annotations

from typing import Annotated

import typer

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/modulith_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
DatabaseUrlOption = Annotated[
    str, typer.Option(envvar="BENCH_DATABASE_URL", help="Recreated on every run")
]
RedisUrlOption = Annotated[
    str, typer.Option(envvar="BENCH_REDIS_URL", help="A Redis db of its own; flushed")
]
