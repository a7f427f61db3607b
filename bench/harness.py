"""One run of the bench: its plan, its data stores, the servers it starts (the kit with
production settings, the bare reference), the account it logs in with, and the rows,
resources and notes measured so far."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.data import (
    CHEAP_ARGON2,
    EMAIL,
    PASSWORD,
    USERNAME,
    BenchDatabase,
    argon2_settings,
    flush_redis_db,
)
from bench.load import Job, LoadResult, run_together
from bench.measure import SETTLE_SECONDS, run_on, settled
from bench.plans import Plan
from bench.rows import Row
from bench.servers import (
    Server,
    kit_environment,
    kit_server,
    reference_environment,
    reference_server,
)

LOGIN_PATH = "/api/v1/auth/login"
REGISTER_PATH = "/api/v1/auth/register"


@dataclass
class Bench:
    """One run: the plan, the stores, the servers and what was measured so far."""

    plan: Plan
    use_wrk: bool
    database: BenchDatabase
    redis_url: str
    workdir: Path
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    rows: dict[str, Row] = field(default_factory=dict)
    resources: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    servers: list[Server] = field(default_factory=list)
    token: str = ""

    # -- servers

    def kit_settings(self, **overrides: str) -> dict[str, str]:
        if not self.plan.production_argon2:
            overrides |= argon2_settings(CHEAP_ARGON2)
        return kit_environment(
            self.database.url, self.redis_url, self.secret_key, self.workdir, **overrides
        )

    def kit(self, name: str = "kit", **overrides: str) -> Server:
        return kit_server(self.kit_settings(**overrides), self.workdir, name)

    def reference(self) -> Server:
        env = reference_environment(self.database.url, self.secret_key)
        return reference_server(env, self.workdir)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    # -- measuring

    def run(self, *jobs: Job) -> list[LoadResult]:
        """The jobs at the same time, with this run's load generator."""
        return run_together(jobs, use_wrk=self.use_wrk)

    def run_on(self, server: Server, job: Job) -> LoadResult:
        """One job against `server`, with the server's CPU time per request."""
        return run_on(server, job, use_wrk=self.use_wrk)

    def settle(self, server: Server) -> None:
        """Wait until `server` has worked off the previous run (a note when it has not)."""
        if not settled(server):
            self.notes.append(f"{server.name} was still busy after {SETTLE_SECONDS} s of rest")

    def add(self, key: str, label: str, note: str = "") -> Row:
        self.rows[key] = Row(key, label, note=note)
        return self.rows[key]

    # -- the data

    def empty_stores(self) -> None:
        """A new empty database and an empty Redis db."""
        self.database.recreate()
        flush_redis_db(self.redis_url)

    def migrate(self) -> None:
        self.database.run_cli(self.kit_settings(), self.workdir, "migrate")

    def seed(self, kit: Server) -> None:
        """The first user registered through the kit's API, then copies of it, posts and
        movies in bulk."""
        account = {"username": USERNAME, "email": EMAIL, "password": PASSWORD}
        httpx.post(
            kit.base_url + REGISTER_PATH, json=account, trust_env=False, timeout=30
        ).raise_for_status()
        self.database.copy_user(self.plan.users)
        self.database.grow_posts(self.plan.posts, self.plan.users)
        self.database.seed_movies(self.plan.movies)

    def log_in(self, kit: Server) -> None:
        response = httpx.post(
            kit.base_url + LOGIN_PATH,
            data={"username": USERNAME, "password": PASSWORD},
            trust_env=False,
            timeout=30,
        )
        response.raise_for_status()
        self.token = response.json()["access_token"]
