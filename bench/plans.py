"""How long and on how much data a run measures: the full run of `make bench`, `--quick`
(`make bench QUICK=1`, under a minute) and `--smoke` (the test suite's few seconds)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    name: str
    seconds: float  # one measured run of one route on one server
    warmup_seconds: float
    rounds: int
    cached_seconds: float  # one run of the warm cached read (rounds x this in all)
    users: int
    posts: int  # while the route table is measured
    deep_posts: int  # for the keyset rows
    deep_page: int
    movies: int
    walk_seconds: float  # the longest the walk to the deep cursor may take
    # Start the servers at once (their cold starts overlap, and include the kit's
    # migration of an empty database).
    start_together: bool = False
    cold_kit: bool = True  # a second kit whose cache always misses
    production_argon2: bool = True
    connections: int = 32
    cached_connections: int = 64
    profile_connections: int = 8
    login_connections: int = 8


FULL = Plan(
    name="full",
    seconds=5,
    warmup_seconds=1,
    rounds=3,
    cached_seconds=20,
    users=1000,
    posts=10_000,
    deep_posts=1_000_000,
    deep_page=5000,
    movies=1000,
    walk_seconds=120,
)
QUICK = Plan(
    name="quick",
    seconds=1,
    warmup_seconds=0.2,
    rounds=2,
    cached_seconds=1,
    users=100,
    posts=10_000,
    deep_posts=20_000,
    deep_page=200,
    movies=50,
    walk_seconds=10,
)
SMOKE = Plan(
    name="smoke",
    seconds=0.05,
    warmup_seconds=0,
    rounds=1,
    cached_seconds=0.05,
    users=3,
    posts=30,
    deep_posts=100,
    deep_page=3,
    movies=3,
    walk_seconds=5,
    start_together=True,
    cold_kit=False,
    production_argon2=False,
    connections=2,
    cached_connections=2,
    profile_connections=1,
    login_connections=1,
)
