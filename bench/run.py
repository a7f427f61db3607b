"""`make bench`: the kit side by side with a bare reference, on PostgreSQL and Redis.

1. Recreates the bench's own database (`BENCH_DATABASE_URL`, its name must contain
   "bench"), lets the kit migrate it, fills it in bulk (users, posts with authors, movies)
   and empties the bench's own Redis db (`BENCH_REDIS_URL`, FLUSHDB of that db only).
2. Starts the kit (`python -m app serve`, production settings: JSON access log at INFO,
   production argon2, the rate limiter on with limits the load never reaches) and the
   bare reference (`bench/reference.py`: same FastAPI, SQLAlchemy and psycopg, same SQL,
   no middleware), each alone, timing its cold start to the first 200.
3. Logs in once for a token, warms every route up, then drives each route with wrk in
   interleaved rounds (kit, reference, kit, reference, ...) and keeps the median.
4. Runs the scenarios of the performance targets: a warm cached movie read against the kit's
   cold read and the uncached reference at 64 clients; `/profile` while 8 clients log in;
   a keyset page deep in a million posts against page 1; the server CPU of refusing a
   megabyte of 100,000 unknown keys against that of refusing one bad field.
5. Prints one table and each target with met / missed, and writes
   `bench/results/latest.json`.

`--quick` (`make bench QUICK=1`) runs the same with short runs and fewer rows, in under a
minute; `--smoke` is the test suite's few-second run, which proves the driver works and
measures nothing. Client and servers share the machine's cores: compare runs made on one
machine only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlparse

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.data import (
    CHEAP_ARGON2,
    EMAIL,
    PASSWORD,
    USERNAME,
    BenchDatabase,
    argon2_settings,
    flush_redis_db,
)
from bench.load import Job, LoadResult, run_together, wrk_available
from bench.servers import (
    PROJECT_ROOT,
    Server,
    free_port,
    kit_command,
    kit_environment,
    reference_command,
    reference_environment,
)

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/modulith_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
RESULTS_PATH = PROJECT_ROOT / "bench" / "results" / "latest.json"
REPORT_WIDTH = 130  # when the output is not a terminal (rich would assume 80 columns)
PER_PAGE = 20
# The command-line options of the bench's data stores (shared with `bench.profile`).
DatabaseUrlOption = Annotated[
    str, typer.Option(envvar="BENCH_DATABASE_URL", help="Recreated on every run")
]
RedisUrlOption = Annotated[
    str, typer.Option(envvar="BENCH_REDIS_URL", help="A Redis db of its own; flushed")
]
LOGIN_PATH = "/api/v1/auth/login"
REGISTER_PATH = "/api/v1/auth/register"
SETTLE_SECONDS = 20  # longer than the kit's pool timeout
SETTLED_LATENCY = 1.0  # a kit stuck behind its pool timeout takes seconds
POSTS_PATH = "/api/v1/posts"
REFRESH_PATH = "/api/v1/auth/refresh-token"  # no login, no rate limit: anyone may send
BAD_FIELDS = 100_000
JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Plan:
    """How long and on how much data a run measures."""

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


@dataclass
class Row:
    """One line of the table: the kit's rounds and, when it has one, the reference's."""

    key: str
    label: str
    kit: list[LoadResult] = field(default_factory=list)
    reference: list[LoadResult] = field(default_factory=list)
    note: str = ""

    @staticmethod
    def median(results: Sequence[LoadResult], measure: Callable[[LoadResult], float]) -> float:
        return statistics.median(measure(result) for result in results) if results else 0.0

    def kit_rps(self) -> float:
        return self.median(self.kit, lambda result: result.rps)

    def reference_rps(self) -> float:
        return self.median(self.reference, lambda result: result.rps)

    @staticmethod
    def cpu_us(results: Sequence[LoadResult]) -> float | None:
        """The median of the server's CPU microseconds per request (None: not measured)."""
        measured = [result.server_cpu_us for result in results if result.server_cpu_us]
        return statistics.median(measured) if measured else None

    def cpu_ratio(self) -> float | None:
        """Reference CPU per request over the kit's: like the RPS ratio, higher is better,
        but it hardly moves when other work shares the cores."""
        kit, reference = self.cpu_us(self.kit), self.cpu_us(self.reference)
        return reference / kit if kit and reference else None

    def failures(self) -> tuple[int, int]:
        """Failed requests of the kit and of the reference in all rounds."""
        return (
            sum(result.failures for result in self.kit),
            sum(result.failures for result in self.reference),
        )

    def kit_p99(self) -> float:
        return self.median(self.kit, lambda result: result.p99_ms)

    def as_dict(self) -> dict[str, Any]:
        def side(results: Sequence[LoadResult]) -> dict[str, Any] | None:
            if not results:
                return None
            return {
                "rps": round(self.median(results, lambda result: result.rps), 1),
                "p50_ms": round(self.median(results, lambda result: result.p50_ms), 2),
                "p99_ms": round(self.median(results, lambda result: result.p99_ms), 2),
                "failures": sum(result.failures for result in results),
                "server_cpu_us": _rounded(self.cpu_us(results), 1),
                "seconds": round(sum(result.seconds for result in results), 1),
                "rounds": [result.as_dict() for result in results],
            }

        compared = self.kit and self.reference_rps()
        ratio = self.kit_rps() / self.reference_rps() if compared else None
        return {
            "label": self.label,
            "kit": side(self.kit),
            "reference": side(self.reference),
            "ratio": round(ratio, 3) if ratio is not None else None,
            "cpu_ratio": _rounded(self.cpu_ratio(), 3),
            "note": self.note,
        }


@dataclass(frozen=True)
class Target:
    name: str
    measured: float | None  # None: not measured (see `note`)
    threshold: float
    at_least: bool  # met when measured >= threshold (else <=)
    unit: str = "x"
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.measured is None:
            return "skipped"
        met = self.measured >= self.threshold if self.at_least else self.measured <= self.threshold
        return "met" if met else "missed"

    def line(self) -> str:
        sign = ">=" if self.at_least else "<="
        value = f"{self.measured:.2f}{self.unit}" if self.measured is not None else "-"
        note = f" ({self.note})" if self.note else ""
        target = f"target {sign} {self.threshold:g}{self.unit}"
        return f"{self.verdict.upper():<8} {self.name}: {value} ({target}){note}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "measured": round(self.measured, 3) if self.measured is not None else None,
            "threshold": self.threshold,
            "at_least": self.at_least,
            "verdict": self.verdict,
            "note": self.note,
        }


@dataclass
class Bench:
    """One run: the plan, the servers and the rows measured so far."""

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

    @property
    def argon2(self) -> dict[str, int] | None:
        return None if self.plan.production_argon2 else CHEAP_ARGON2

    def kit_settings(self, **overrides: str) -> dict[str, str]:
        if self.argon2:
            overrides |= argon2_settings(self.argon2)
        return kit_environment(
            self.database.url, self.redis_url, self.secret_key, self.workdir, **overrides
        )

    def kit(self, name: str = "kit", **overrides: str) -> Server:
        port = free_port()
        return Server(name, kit_command(port), self.kit_settings(**overrides), self.workdir, port)

    def reference(self) -> Server:
        port = free_port()
        env = reference_environment(self.database.url, self.secret_key)
        return Server("reference", reference_command(port), env, self.workdir, port)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    # -- measuring

    def job(
        self, server: Server, paths: Sequence[str], connections: int, seconds: float, **request: Any
    ) -> Job:
        return Job(server.base_url, paths, connections, seconds, **request)

    def run(self, *jobs: Job) -> list[LoadResult]:
        return run_together(jobs, use_wrk=self.use_wrk)

    def run_on(self, server: Server, job: Job) -> list[LoadResult]:
        """One job against `server`, with the server's CPU time per request."""
        before = server.cpu_seconds()
        [result] = self.run(job)
        spent = server.cpu_seconds() - before
        per_request = spent * 1e6 / result.requests if result.requests else None
        return [replace(result, server_cpu_us=per_request)]

    def warm_up(self, job: Job) -> None:
        """Fill the pools and prepared-statement caches; the Python client takes fractions
        of a second, where wrk runs whole seconds."""
        if job.seconds:
            run_together([job], use_wrk=False)

    def refusal(
        self, servers: Sequence[Server], paths: Sequence[str], headers: dict[str, str]
    ) -> str:
        """Why not every server answers every path with a 2xx ("" when they do); each path
        is asked once, in order, which warms it up (and fills the cache)."""
        for server in servers:
            with httpx.Client(base_url=server.base_url, trust_env=False, timeout=10) as client:
                for path in paths:
                    try:
                        status = client.get(path, headers=headers).status_code
                    except httpx.TransportError as error:
                        return f"skipped: {server.name} unreachable ({type(error).__name__})"
                    if not 200 <= status < 300:
                        return f"skipped: {server.name} answered {status} to {path}"
        return ""

    def settle(self, server: Server) -> None:
        """Wait (at most `SETTLE_SECONDS`) until the server answers a database read at
        once: requests left over from a run must not slow down the next one."""
        deadline = time.monotonic() + SETTLE_SECONDS
        with httpx.Client(
            base_url=server.base_url, trust_env=False, timeout=SETTLED_LATENCY
        ) as client:
            while time.monotonic() < deadline:
                sent = time.monotonic()
                try:
                    answered = client.get(f"{POSTS_PATH}/1").is_success
                except httpx.TransportError:
                    answered = False
                if answered and time.monotonic() - sent < SETTLED_LATENCY:
                    return
                time.sleep(0.1)
        self.notes.append(f"{server.name} was still busy after {SETTLE_SECONDS} s of rest")

    def add(self, key: str, label: str, note: str = "") -> Row:
        self.rows[key] = Row(key, label, note=note)
        return self.rows[key]

    # -- the stages

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

    def route_table(self, kit: Server, reference: Server) -> None:
        routes = [
            ("health", "/health/live (ref: a bare hello)", "/health/live", {}),
            ("profile", "/api/v1/profile", "/api/v1/profile", self.auth),
            ("post", "/api/v1/posts/{id}", f"{POSTS_PATH}/1", {}),
            (
                "posts_page",
                f"/api/v1/posts?per_page={PER_PAGE} ({self.plan.posts:,} posts)",
                f"{POSTS_PATH}?per_page={PER_PAGE}",
                {},
            ),
        ]
        plan = self.plan
        for key, label, path, headers in routes:
            row = self.add(key, label)
            sides = ((row.kit, kit), (row.reference, reference))
            row.note = self.refusal([kit, reference], [path], headers)
            if row.note:
                continue
            for _, server in sides:
                self.warm_up(
                    self.job(server, [path], plan.connections, plan.warmup_seconds, headers=headers)
                )
            for _ in range(plan.rounds):  # interleaved: kit, reference, kit, reference, ...
                for results, server in sides:
                    job = self.job(server, [path], plan.connections, plan.seconds, headers=headers)
                    results.extend(self.run_on(server, job))

    def cached_movies(self, kit: Server, cold_kit: Server, reference: Server) -> None:
        """Warm cache vs the kit's own cold read (entries expire after 1 ms, so every read
        misses, loads and stores) vs the uncached reference, at 64 clients."""
        paths = [f"/api/v1/movies/{movie_id}" for movie_id in range(1, self.plan.movies + 1)]
        clients = self.plan.cached_connections
        warm = self.add("movie_warm", f"/api/v1/movies/{{id}} warm cache, c={clients}")
        cold = self.add(
            "movie_cold",
            f"/api/v1/movies/{{id}} kit cold (CACHE_TTL=1 ms), c={clients}",
        )
        if not self.plan.cold_kit:
            cold.note = f"not run in a {self.plan.name} run"
        # Every entry cached before the first measured request.
        servers = (kit, cold_kit, reference) if self.plan.cold_kit else (kit, reference)
        warm.note = self.refusal(servers, paths, self.auth)
        if warm.note:
            return
        for _ in range(self.plan.rounds):
            warm.kit += self.run_on(
                kit, self.job(kit, paths, clients, self.plan.cached_seconds, headers=self.auth)
            )
            if self.plan.cold_kit:
                cold.kit += self.run_on(
                    cold_kit,
                    self.job(cold_kit, paths, clients, self.plan.seconds, headers=self.auth),
                )
            warm.reference += self.run_on(
                reference,
                self.job(reference, paths, clients, self.plan.seconds, headers=self.auth),
            )
        cold.reference = warm.reference

    def profile_under_logins(self, kit: Server) -> None:
        clients = self.plan.profile_connections
        idle = self.add("profile_idle", f"/api/v1/profile c={clients}, idle")
        busy = self.add(
            "profile_logins",
            f"/api/v1/profile c={clients}, {self.plan.login_connections} clients logging in",
        )
        logins = self.add(
            "logins", f"POST {LOGIN_PATH} c={self.plan.login_connections} (production argon2)"
        )
        login_form = urlencode({"username": USERNAME, "password": PASSWORD})
        login_headers = {"Content-Type": "application/x-www-form-urlencoded"}
        for _ in range(self.plan.rounds):
            profile = self.job(
                kit, ["/api/v1/profile"], clients, self.plan.seconds, headers=self.auth
            )
            idle.kit += self.run(profile)
            login = self.job(
                kit,
                [LOGIN_PATH],
                self.plan.login_connections,
                self.plan.seconds,
                method="POST",
                headers=login_headers,
                body=login_form,
            )
            during, login_result = self.run(profile, login)
            busy.kit.append(during)
            logins.kit.append(login_result)

    def deep_pages(self, kit: Server) -> None:
        plan = self.plan
        page1 = self.add(
            "posts_page1_deep",
            f"/api/v1/posts?per_page={PER_PAGE} page 1 ({plan.deep_posts:,} posts)",
        )
        deep = self.add("posts_cursor_deep", f"... cursor page {plan.deep_page:,}")
        self.database.grow_posts(plan.deep_posts, plan.users)
        cursor, reached, note = walk_to_page(kit.base_url, plan.deep_page, plan.walk_seconds)
        if cursor is None:
            deep.note = note
            return
        deep.label = f"/api/v1/posts?per_page={PER_PAGE}&cursor=... page {reached:,}"
        deep.note = note
        first = f"{POSTS_PATH}?per_page={PER_PAGE}"
        deep_path = f"{first}&{urlencode({'cursor': cursor})}"
        for _ in range(plan.rounds):
            page1.kit += self.run(self.job(kit, [first], plan.connections, plan.seconds))
            deep.kit += self.run(self.job(kit, [deep_path], plan.connections, plan.seconds))

    def bad_fields(self, kit: Server) -> None:
        """The server CPU per request of refusing (422) a body of `BAD_FIELDS` unknown keys,
        about a megabyte, and of refusing a small one with one unknown field."""
        plan = self.plan
        bodies = bad_field_bodies()
        one = self.add("one_bad_field", f"POST {REFRESH_PATH} 1 unknown field (a 422)")
        many = self.add(
            "bad_fields",
            f"... {BAD_FIELDS:,} unknown keys, {len(bodies[1]) / 1e6:.1f} MB (a 422)",
        )
        for _ in range(plan.rounds):
            for row, body in zip((one, many), bodies, strict=True):
                job = self.job(
                    kit,
                    [REFRESH_PATH],
                    plan.login_connections,
                    plan.seconds,
                    method="POST",
                    headers=JSON_HEADERS,
                    body=body,
                )
                row.kit += self.run_on(kit, job)

    # -- the whole run

    def measure(self) -> None:
        started, load_before = time.monotonic(), os.getloadavg()[0]
        reference, kit = self.reference(), self.kit()
        # Every read a cache miss: entries expire after 1 ms, in a namespace of their own.
        cold_kit = self.kit("kit-cold", CACHE_TTL="0.001", CACHE_VERSION="bench-cold")
        servers = (reference, kit, cold_kit) if self.plan.cold_kit else (reference, kit)
        self.servers = list(servers)
        with ExitStack() as stack:
            for server in servers:
                stack.callback(server.stop)
            self.empty_stores()
            if self.plan.start_together:  # the kit migrates as it starts
                with ThreadPoolExecutor() as starting:
                    list(starting.map(Server.start, servers))
            else:  # one at a time, on a migrated database: each cold start on a quiet machine
                self.migrate()
                for server in servers:
                    server.start()
            self.seed(kit)
            self.log_in(kit)
            self.route_table(kit, reference)
            self.resources["rss_mib"] = {"kit": kit.rss_mib(), "reference": reference.rss_mib()}
            self.resources["cold_start_s"] = {
                "kit": kit.cold_start_seconds,
                "reference": reference.cold_start_seconds,
            }
            # The cached reads last: a kit that chokes on them cannot spoil the other rows.
            self.settle(kit)
            self.profile_under_logins(kit)
            self.settle(kit)
            self.deep_pages(kit)
            self.settle(kit)
            self.bad_fields(kit)
            self.settle(kit)
            self.cached_movies(kit, cold_kit, reference)
            self.notes.append(
                f"kit RSS at the end {kit.rss_mib():.0f} MiB, peak {kit.peak_rss_mib():.0f} MiB "
                "(argon2 takes 64 MiB a login)"
            )
        self.notes.append(
            f"{self.plan.name} run, {time.monotonic() - started:.0f} s in all; load average "
            f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} "
            "cores shared by the client, the servers, PostgreSQL, Redis and anything else"
        )

    # -- the verdicts

    def targets(self) -> list[Target]:
        rows, plan = self.rows, self.plan
        targets = [self._ratio_target("health", "/health/live vs bare hello", 0.8)]
        targets += [
            self._ratio_target(key, label, 0.9)
            for key, label in (
                ("profile", "/profile vs reference"),
                ("post", "post by id vs reference"),
                ("posts_page", "page of 20 posts vs reference"),
            )
        ]
        warm, cold = rows["movie_warm"], rows["movie_cold"]
        stalled = bool(cold.kit) and not cold.kit_rps()
        targets.append(
            Target(
                "warm cached movie vs kit cold read",
                _ratio(warm.kit_rps(), cold.kit_rps()),
                2,
                at_least=True,
                note="no cold read completed within its runs" if stalled else cold.note,
            )
        )
        targets.append(
            Target(
                "warm cached movie vs uncached reference",
                _ratio(warm.kit_rps(), warm.reference_rps()),
                1.5,
                at_least=True,
            )
        )
        cached_seconds = sum(result.seconds for result in warm.kit)
        completed = sum(result.requests for result in warm.kit)
        targets.append(
            Target(
                f"non-2xx of the warm cached read at {plan.cached_connections} clients",
                float(sum(result.failures for result in warm.kit)) if completed else None,
                0,
                at_least=False,
                unit="",
                note=f"{completed} requests completed in {cached_seconds:.0f} s of load "
                "(the full run loads it 3 x 20 s)",
            )
        )
        idle, busy = rows["profile_idle"], rows["profile_logins"]
        targets.append(
            Target(
                "/profile p99 while logging in vs idle",
                _ratio(busy.kit_p99(), idle.kit_p99()),
                2,
                at_least=False,
                note=f"{busy.kit_p99():.1f} ms vs {idle.kit_p99():.1f} ms",
            )
        )
        page1, deep = rows["posts_page1_deep"], rows["posts_cursor_deep"]
        targets.append(
            Target(
                f"cursor page {plan.deep_page:,} of {plan.deep_posts:,} posts vs page 1 (cost)",
                _ratio(page1.kit_rps(), deep.kit_rps()),
                3,
                at_least=False,
                note=deep.note,
            )
        )
        one, many = (Row.cpu_us(rows[key].kit) or 0.0 for key in ("one_bad_field", "bad_fields"))
        targets.append(
            Target(
                f"server CPU of a 422 for {BAD_FIELDS:,} bad fields vs one",
                _ratio(many, one),
                3,
                at_least=False,
                note=f"{many:,.0f} vs {one:,.0f} µs per request" if one and many else "",
            )
        )
        if self.resources:
            rss, start = self.resources["rss_mib"], self.resources["cold_start_s"]
            targets.append(
                Target(
                    "RSS after load vs reference",
                    rss["kit"] / rss["reference"],
                    1.3,
                    at_least=False,
                    note=f"{rss['kit']:.0f} vs {rss['reference']:.0f} MiB",
                )
            )
            targets.append(Target("kit cold start", start["kit"], 1.5, at_least=False, unit=" s"))
        return targets

    def _ratio_target(self, key: str, name: str, threshold: float) -> Target:
        row = self.rows[key]
        failed = row.failures()
        cpu_ratio = row.cpu_ratio()
        note = row.note or (
            f"failed requests kit {failed[0]} / reference {failed[1]} (see the logs): "
            "their RPS do not compare"
            if any(failed)
            else f"by server CPU per request {cpu_ratio:.2f}x"
            if cpu_ratio
            else ""
        )
        return Target(
            name, _ratio(row.kit_rps(), row.reference_rps()), threshold, at_least=True, note=note
        )

    # -- the report

    def table(self) -> Table:
        client = "wrk -t1" if self.use_wrk else "the Python client (wrk missing)"
        table = Table(
            title=f"kit vs bare reference: {client}, median of {self.plan.rounds} interleaved "
            f"rounds of {self.plan.seconds:g} s, {self.plan.connections} connections unless said"
        )
        for column in (
            "route",
            "kit RPS",
            "ref RPS",
            "kit/ref",
            "kit p50/p99 ms",
            "ref p50/p99 ms",
            "non-2xx kit/ref",
            "CPU µs/req kit/ref",
        ):
            table.add_column(column, justify="left" if column == "route" else "right")
        for row in self.rows.values():
            data = row.as_dict()
            kit, ref = data["kit"], data["reference"]
            table.add_row(
                escape(row.label + (f" ({row.note})" if row.note else "")),
                f"{kit['rps']:,.0f}" if kit else "-",
                f"{ref['rps']:,.0f}" if ref else "-",
                f"{data['ratio']:.2f}" if data["ratio"] is not None else "-",
                latencies(kit),
                latencies(ref),
                f"{kit['failures'] if kit else '-'} / {ref['failures'] if ref else '-'}",
                cpu_per_request(kit, ref),
            )
        for key, label, unit in (
            ("rss_mib", "RSS after the route table's load", "MiB"),
            ("cold_start_s", "cold start to first 200", "s"),
        ):
            if key in self.resources:
                kit_value, ref_value = self.resources[key]["kit"], self.resources[key]["reference"]
                table.add_row(
                    f"{label} ({unit})",
                    f"{kit_value:.2f}",
                    f"{ref_value:.2f}",
                    f"{kit_value / ref_value:.2f}",
                    "",
                    "",
                    "",
                    "",
                )
        return table

    def results(self) -> dict[str, Any]:
        return {
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "plan": self.plan.__dict__,
            "client": "wrk" if self.use_wrk else "python",
            "rows": {key: row.as_dict() for key, row in self.rows.items()},
            "resources": self.resources,
            "targets": [target.as_dict() for target in self.targets()],
            "notes": self.notes,
        }


def latencies(side: dict[str, Any] | None) -> str:
    """p50 / p99 of one side of a row; "-" when no request completed."""
    if not side or not side["rps"]:
        return "-"
    return f"{side['p50_ms']:.1f} / {side['p99_ms']:.1f}"


def cpu_per_request(kit: dict[str, Any] | None, ref: dict[str, Any] | None) -> str:
    """The server CPU microseconds per request of both sides of a row ("-": not measured)."""
    values = [side["server_cpu_us"] if side else None for side in (kit, ref)]
    return " / ".join(f"{value:,.0f}" if value else "-" for value in values)


def _rounded(value: float | None, digits: int) -> float | None:
    return round(value, digits) if value is not None else None


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if numerator and denominator else None


def bad_field_bodies() -> tuple[str, str]:
    """A refresh request with one unknown field, and an object of `BAD_FIELDS` unknown keys
    written compactly (within the kit's default 1 MiB body limit)."""
    one = json.dumps({"refresh_token": "x" * 43, "unknown": 1})
    many = json.dumps({f"{key:x}": 0 for key in range(BAD_FIELDS)}, separators=(",", ":"))
    return one, many


def walk_to_page(base_url: str, page: int, seconds: float) -> tuple[str | None, int, str]:
    """The cursor that opens `page` of the posts (walked from page 1 through the API), the
    page it opens, and a note; no cursor when the kit has no keyset pagination."""
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=base_url, trust_env=False, timeout=30) as client:
        body = client.get(POSTS_PATH, params={"per_page": PER_PAGE}).json()
        if "next_cursor" not in body:
            return None, 1, "skipped: the kit's list envelope has no next_cursor yet"
        cursor, reached = body["next_cursor"], 2
        while cursor is not None and reached < page and time.monotonic() < deadline:
            response = client.get(POSTS_PATH, params={"per_page": PER_PAGE, "cursor": cursor})
            if response.status_code == 422:
                return None, reached, "skipped: the kit answers 422 for `cursor`"
            response.raise_for_status()
            cursor, reached = response.json()["next_cursor"], reached + 1
    if cursor is None:
        return None, reached, f"skipped: the posts end at page {reached - 1}"
    note = "" if reached >= page else f"walk stopped at page {reached:,} (time limit)"
    return cursor, reached, note


@contextmanager
def scratch_directory() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="modulith-bench-") as scratch:
        yield Path(scratch)


def run_bench(
    plan: Plan,
    *,
    database_url: str,
    redis_url: str,
    results_path: Path,
    client: str = "auto",
    console: Console | None = None,
) -> dict[str, Any]:
    """Run the whole bench, print the table and the targets, write the results file."""
    if urlparse(redis_url).path.strip("/") in ("", "0"):
        raise ValueError("give the bench a Redis db of its own (not 0): it is flushed")
    console = console or Console(width=None if sys.stdout.isatty() else REPORT_WIDTH)
    use_wrk = client == "wrk" or (client == "auto" and wrk_available(install=True))
    with scratch_directory() as workdir:
        bench = Bench(plan, use_wrk, BenchDatabase(database_url), redis_url, workdir)
        try:
            bench.measure()
        finally:  # the servers' errors, even when the run failed
            results_path.parent.mkdir(parents=True, exist_ok=True)
            for server in bench.servers:
                server.keep_log(results_path.parent)
                if server.early_exit is not None:
                    bench.notes.append(
                        f"{server.name} exited with code {server.early_exit} during the run "
                        "(its log is kept): the rows after that are void"
                    )
    console.print(bench.table())
    for target in bench.targets():
        console.print(target.line(), highlight=False, markup=False)
    for note in bench.notes:
        console.print(note, highlight=False, markup=False)
    results = bench.results()
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"results and the servers' logs: {results_path.parent}", highlight=False)
    return results


def main(  # noqa: PLR0917 - the command line's options
    quick: Annotated[bool, typer.Option(help="Short runs, fewer rows (under a minute)")] = False,
    smoke: Annotated[bool, typer.Option(help="A few seconds; proves the driver works")] = False,
    client: Annotated[
        str, typer.Option(help="auto (wrk, installed when missing), wrk, python")
    ] = "auto",
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
    redis_url: RedisUrlOption = DEFAULT_REDIS_URL,
    results: Annotated[Path, typer.Option(help="Where to write the JSON results")] = RESULTS_PATH,
) -> None:
    """Benchmark the kit against the bare reference and print the table."""
    plan = SMOKE if smoke else QUICK if quick else FULL
    run_bench(
        plan, database_url=database_url, redis_url=redis_url, results_path=results, client=client
    )


if __name__ == "__main__":
    typer.run(main)
