"""Prometheus metrics of one process: what an operator needs to run the kit.

The hot path pays a counter increment per event (a request, a cache lookup, a refused
request, a task, a pool checkout); what needs I/O is computed when Prometheus scrapes
(the outbox and task-stream backlogs), never per request.

Two ways to expose them:

- one registry per `Metrics` (the default): two apps in one process (the tests) never
  share a counter;
- prometheus-client's multiprocess mode, when `METRICS_MULTIPROC_DIR` is set: every
  process writes its values to files in that directory and `/metrics` renders the sum
  of all of them (`serve --workers N` answers one view whichever worker is asked).
  prometheus-client chooses this when it is imported, from `PROMETHEUS_MULTIPROC_DIR`, so
  `serve --workers N` (and `worker --workers N`) empty the directory and set that variable
  before starting the processes, each a fresh interpreter (`worker --workers N` forks its
  processes otherwise: app/worker.py). The memory, CPU, descriptors
  and collections of each process are there too, by pid (app/core/process_metrics.py).

No `_created` samples: they double the series and no dashboard reads them.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import structlog
from fastapi.routing import APIRoute
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import mark_process_dead
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from app.core.config import Settings
from app.core.errors import AuthenticationError
from app.core.process_metrics import LiveProcesses, ProcessRegistration

logger = structlog.get_logger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # where prometheus-client's files go
# Task run times, from a heartbeat's fraction of a millisecond to a long export.
TASK_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
)  # fmt: skip

disable_created_metrics()  # type: ignore[no-untyped-call]


# prometheus-client picks its value storage once, when it is imported: multiprocess files
# when `PROMETHEUS_MULTIPROC_DIR` is set by then. This module is imported with it, so this
# is the directory this process writes to (None: one process, one registry per app).
MULTIPROCESS_DIR = os.environ.get(MULTIPROC_ENV) or None


def mode_chosen_at_import_holds() -> bool:
    """Whether the environment still asks for the mode prometheus-client chose when it was
    imported here: a process forked from this one keeps that mode, whatever it asks."""
    return (os.environ.get(MULTIPROC_ENV) or None) == MULTIPROCESS_DIR


def share_with_child_processes(directory: Path) -> None:
    """Before starting server or worker processes: each (its interpreter started after
    this) will write its metrics under `directory`, and any will answer one view of all."""
    clear_multiprocess_dir(directory)
    os.environ[MULTIPROC_ENV] = str(directory)


def clear_multiprocess_dir(directory: Path) -> None:
    """Forget the values of a previous run (before the server starts its workers)."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


ScrapeSource = Callable[[], Awaitable[list[Metric]]]


class ScrapedGauges(Collector):
    """Metrics read at scrape time from their sources (`refresh`), not kept per event."""

    def __init__(self) -> None:
        self._sources: dict[str, ScrapeSource] = {}
        self._families: list[Metric] = []
        self._failing: set[str] = set()

    def add(self, name: str, source: ScrapeSource) -> None:
        self._sources[name] = source

    async def refresh(self) -> None:
        """Read every source; one that fails (its store is down) is left out of this
        scrape, so the rest still answers when it is needed most. An outage is logged
        when it starts and when it ends, not at every scrape."""
        families: list[Metric] = []
        for name, source in self._sources.items():
            try:
                families += await source()
            except Exception as error:
                if name not in self._failing:
                    self._failing.add(name)
                    logger.warning(
                        "metrics source unavailable; left out of /metrics",
                        source=name,
                        error=f"{type(error).__name__}: {error}",
                    )
                continue
            if name in self._failing:
                self._failing.discard(name)
                logger.info("metrics source available again", source=name)
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)

    def describe(self) -> Iterator[Metric]:
        return iter(())  # nothing to check at registration: the names are the sources'


class Metrics:
    """The counters, histograms and gauges of one process (or one app, in tests)."""

    def __init__(self, multiprocess_dir: str | None = MULTIPROCESS_DIR) -> None:
        """`multiprocess_dir`: render the view of every process writing there."""
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by method and route template",
            ["method", "route"],
            registry=registry,
        )
        self.cache_hits = Counter(
            "cache_hits_total",
            "Cache lookups answered from the cache",
            ["namespace"],
            registry=registry,
        )
        self.cache_misses = Counter(
            "cache_misses_total",
            "Cache lookups that found nothing",
            ["namespace"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "rate_limit_rejections_total",
            "Requests refused with 429 by a rate limit, by route template",
            ["route"],
            registry=registry,
        )
        self.tasks = Counter(
            "tasks_total",
            "Task runs by task name and result (success, retry, failure)",
            ["task", "result"],
            registry=registry,
        )
        self.task_duration = Histogram(
            "task_duration_seconds",
            "Task run time by task name (none for a task whose run time is secret)",
            ["task"],
            registry=registry,
            buckets=TASK_BUCKETS,
        )
        self.relay_passes = Counter(
            "queue_relay_passes_total",
            "Passes of the relay over the outbox and the event deliveries, by result "
            "(ok, failed): flat while no relay runs",
            ["result"],
            registry=registry,
        )
        # Per process, summed over the live ones in multiprocess mode.
        self.pool_size = Gauge(
            "db_pool_size",
            "Connections the database pools keep open",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.pool_in_use = Gauge(
            "db_pool_connections_in_use",
            "Database connections checked out of the pools",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.pool_overflow = Gauge(
            "db_pool_overflow_connections",
            "Connections open beyond the pools' size (DATABASE_MAX_OVERFLOW allows them)",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.scraped = ScrapedGauges()
        self.exposed = registry
        self._registration: ProcessRegistration | None = None
        if multiprocess_dir is not None:
            self.exposed = CollectorRegistry()
            self.exposed.register(LiveProcesses(multiprocess_dir))
            self._registration = ProcessRegistration()
        else:
            # The process's memory, CPU and descriptors, and the interpreter's collections,
            # read from /proc and `gc` at scrape time (a registry of its own has none).
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)
        self.exposed.register(self.scraped)

        # Label children by labels: `labels()` takes a lock and builds a key on every call.
        self._children: dict[tuple[Any, ...], Any] = {}
        self._templates: dict[int, str] = {}  # by id: routes are not hashable
        # Starlette's own routes and mounts (`/metrics`, `/openapi.json`, the docs' assets)
        # put no route in the scope, only their endpoint: templates by the endpoint's id.
        self._endpoint_templates: dict[int, str] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Metrics:
        """One registry per app, or the shared view when this process writes to the
        `METRICS_MULTIPROC_DIR` its parent set up (`serve --workers N`)."""
        directory = settings.metrics_multiproc_dir
        shared = MULTIPROCESS_DIR if directory and directory == MULTIPROCESS_DIR else None
        return cls(shared)

    def mount(self, prefix: str, routes: Iterable[BaseRoute]) -> None:
        """Label `routes`, included under `prefix`, with their whole template: FastAPI's
        scope names a route by its path inside its own router (`/movies/{movie_id}`)."""
        for route in routes:
            path = getattr(route, "path", None)
            if path is not None:
                self._templates[id(route)] = prefix + path

    def mount_operational(self, routes: Iterable[BaseRoute]) -> None:
        """Label the app's own Starlette routes and mounts, which FastAPI leaves out of the
        scope's `route`: a route by its path, a mount by its prefix and `/{path}`."""
        for route in routes:
            if isinstance(route, Mount):
                self._endpoint_templates[id(route.app)] = f"{route.path}/{{path}}"
            elif isinstance(route, Route) and not isinstance(route, APIRoute):
                self._endpoint_templates[id(route.endpoint)] = route.path

    def route_template(self, route: BaseRoute | None, endpoint: object = None) -> str:
        """The template a request matched, for labels (`<unmatched>` for a 404); `endpoint`,
        the scope's, names the app's own Starlette routes."""
        template = self._templates.get(id(route))
        if template is None:
            template = getattr(route, "path", None) or self._endpoint_templates.get(
                id(endpoint), "<unmatched>"
            )
        return template

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self._child(self.requests, method, route, str(status)).inc()
        self._child(self.latency, method, route).observe(seconds)

    def cache_lookup(self, key: str, *, hit: bool) -> None:
        """Count a lookup under its namespace (the part of the key before the first `:`)."""
        namespace = key.partition(":")[0]
        self._child(self.cache_hits if hit else self.cache_misses, namespace).inc()

    def rate_limit_rejection(self, route: BaseRoute | None) -> None:
        self._child(self.rate_limited, self.route_template(route)).inc()

    def task_run(self, task: str, result: str, seconds: float | None) -> None:
        """Count a run; `seconds` None: a run time that must not be exposed."""
        self._child(self.tasks, task, result).inc()
        if seconds is not None:
            self._child(self.task_duration, task).observe(seconds)

    def relay_pass(self, *, failed: bool) -> None:
        self._child(self.relay_passes, "failed" if failed else "ok").inc()

    def watch_pool(self, engine: AsyncEngine, size: int) -> None:
        """Keep the pool gauges of `engine` current (a gauge step per checkout/checkin,
        a connection opened or closed)."""
        self.pool_size.inc(size)
        opened = 0

        def connected(*_: object) -> None:
            nonlocal opened
            opened += 1
            self.pool_overflow.set(max(0, opened - size))

        def closed(*_: object) -> None:
            nonlocal opened
            opened -= 1
            self.pool_overflow.set(max(0, opened - size))

        pool = engine.sync_engine.pool
        event.listen(pool, "connect", connected)
        event.listen(pool, "close", closed)
        event.listen(pool, "checkout", lambda *_: self.pool_in_use.inc())
        event.listen(pool, "checkin", lambda *_: self.pool_in_use.dec())

    def render(self) -> bytes:
        return generate_latest(self.exposed)

    def close(self) -> None:
        """At the end of the process: its pool gauges no longer count in the sum, and its
        memory, CPU and collections leave the view."""
        if self._registration is not None:
            self._registration.close()
            mark_process_dead(os.getpid(), str(self.multiprocess_dir))  # type: ignore[no-untyped-call]


def check_metrics_token(request: Request, settings: Settings) -> None:
    """401 unless the request carries `Authorization: Bearer <METRICS_TOKEN>` (when set)."""
    token = settings.metrics_token.get_secret_value()
    if not token:
        return
    expected = f"Bearer {token}".encode()
    given = request.headers.get("authorization", "").encode("latin-1")
    if not hmac.compare_digest(given, expected):
        raise AuthenticationError("A valid metrics token is required")


def metrics_endpoint_for(
    settings: Settings, metrics: Metrics
) -> Callable[[Request], Awaitable[Response]]:
    """The `/metrics` endpoint of an app: Prometheus text exposition of this process's
    metrics (or every worker's), with the scrape-time gauges (the outbox backlog) read now."""

    async def exposition(request: Request) -> Response:
        check_metrics_token(request, settings)
        await metrics.scraped.refresh()
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return exposition
