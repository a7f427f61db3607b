"""/metrics: the series an operator needs, its token, and one view of several processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from structlog.testing import capture_logs
from taskiq.kicker import AsyncKicker

from app.core.config import Settings
from app.core.db import Database
from app.core.errors import PROBLEM_CONTENT_TYPE
from app.core.metrics import MULTIPROC_ENV, Metrics, share_with_child_processes
from app.core.queue import task, task_options
from app.core.queue.registry import task_labels
from app.core.queue.stream import CONSUMER_GROUP
from app.core.queue.task_broker import TaskBroker
from app.main import API_PREFIX as API
from app.main import create_app
from app.worker import serving_metrics
from tests.apps import serving
from tests.conftest import load_production_settings, load_test_settings

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(body: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


async def scrape(client: httpx.AsyncClient, **headers: str) -> Samples:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert "_created" not in response.text
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
async def own_engine_client() -> AsyncIterator[httpx.AsyncClient]:
    """An app with its own engine (and pool), RATE_LIMIT_DEFAULT=1/minute, METRICS_TOKEN set."""
    settings = load_test_settings(
        rate_limit_default="1/minute", metrics_token=SecretStr("scrape-me")
    )
    async with serving(create_app(settings)) as client:
        yield client


async def test_pool_gauges_rejections_and_the_token(
    own_engine_client: httpx.AsyncClient,
    redis: Redis,  # emptied: no count left over from another test
) -> None:
    client = own_engine_client
    # The default limit is counted before the route's own dependencies (here, sign-in).
    first, second = [await client.get(f"{API}/users") for _ in range(2)]
    assert (first.status_code, second.status_code) == (401, 429)

    refused = await client.get("/metrics")
    assert refused.status_code == 401
    assert refused.headers["content-type"] == PROBLEM_CONTENT_TYPE
    assert refused.headers["www-authenticate"] == "Bearer"
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer scrape-you"})
    assert wrong.status_code == 401

    samples = await scrape(client, Authorization="Bearer scrape-me")
    assert value(samples, "rate_limit_rejections_total", route=f"{API}/users") == 1
    assert value(samples, "db_pool_size") == load_test_settings().database_pool_size
    assert value(samples, "db_pool_connections_in_use") == 0  # every request gave its back
    assert ("db_pool_overflow_connections", frozenset()) in samples


async def test_production_serves_metrics_only_behind_a_token() -> None:
    async with serving(create_app(load_production_settings())) as client:
        hidden = await client.get("/metrics")
    assert hidden.status_code == 404
    assert hidden.headers["content-type"] == PROBLEM_CONTENT_TYPE
    with_token = load_production_settings(metrics_token=SecretStr("scrape-me"))
    async with serving(create_app(with_token)) as client:
        assert (await client.get("/metrics")).status_code == 401
        await scrape(client, Authorization="Bearer scrape-me")


async def test_the_stream_backlog_is_read_at_scrape_time(
    client: httpx.AsyncClient, redis: Redis, settings: Settings
) -> None:
    stream = settings.queue_stream
    await redis.xgroup_create(stream, CONSUMER_GROUP, id="$", mkstream=True)
    for number in range(3):
        await redis.xadd(stream, {"data": str(number)})
    await redis.xreadgroup(CONSUMER_GROUP, "a-worker", {stream: ">"}, count=1)

    samples = await scrape(client)
    assert value(samples, "queue_stream_waiting") == 2
    assert value(samples, "queue_stream_unacknowledged") == 1


async def test_metrics_answer_while_the_database_and_redis_are_down() -> None:
    nowhere = load_test_settings(
        database_url="postgresql+psycopg://postgres@127.0.0.1:1/nowhere_test",
        redis_url="redis://127.0.0.1:1/0",
    )
    async with serving(create_app(nowhere)) as client:
        await client.get("/health/live")
        with capture_logs() as lines:
            await scrape(client)
            samples = await scrape(client)
    live = {"method": "GET", "route": "/health/live", "status": "200"}
    assert value(samples, "http_requests_total", **live) == 1
    names = {name for name, _ in samples}
    assert not names & {"queue_outbox_pending", "queue_stream_waiting", "events_deliveries_pending"}
    # Once per outage, not at every scrape.
    warned = [line["source"] for line in lines if line["event"].startswith("metrics source")]
    assert sorted(warned) == ["event deliveries", "outbox", "task stream"]


# What each process of the test runs: as `serve --workers N` starts one, with
# `PROMETHEUS_MULTIPROC_DIR` set before anything is imported.
ONE_PROCESS = """
import sys
from app.core.config import Settings
from app.core.metrics import Metrics
metrics = Metrics.from_settings(Settings(metrics_multiproc_dir=sys.argv[1]))
metrics.observe("GET", "/health/live", 200, 0.01)
if sys.argv[2] == "render":
    sys.stdout.write(metrics.render().decode())
"""


def run_process(directory: Path, action: str) -> str:
    env = {**os.environ, MULTIPROC_ENV: str(directory)}
    done = subprocess.run(
        [sys.executable, "-c", ONE_PROCESS, str(directory), action],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_processes_sharing_a_multiprocess_dir_render_one_view(tmp_path: Path) -> None:
    share_with_child_processes(tmp_path)  # as `serve` does before it starts its workers
    os.environ.pop(MULTIPROC_ENV)  # (this test process itself stays as it was)
    run_process(tmp_path, "count")  # one worker process answered a request
    rendered = run_process(tmp_path, "render")  # another answered one, then a scrape
    live = {"method": "GET", "route": "/health/live", "status": "200"}
    assert value(parse(rendered), "http_requests_total", **live) == 2


@task()
async def succeed() -> None:
    """Does nothing, successfully."""


@task(retries=0)
async def fail() -> None:
    raise RuntimeError("planned failure")


async def test_the_worker_counts_tasks_by_name_and_serves_them_on_its_port(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    metrics = Metrics()
    embedded = load_test_settings(redis_url="")
    tasks = TaskBroker(embedded, Database(session_factory), metrics)
    tasks.register([succeed, fail])
    await tasks.broker.startup()
    for fn in (succeed, succeed, fail):
        labels = task_labels(task_options(fn))
        await AsyncKicker(task_options(fn).name, tasks.broker, labels).kiq()
    await tasks.close()  # waits for the tasks to finish

    with serving_metrics(metrics, port=0) as port:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}/metrics")
    samples = parse(response.text)
    ok, failed = task_options(succeed).name, task_options(fail).name
    assert value(samples, "tasks_total", task=ok, result="success") == 2
    assert value(samples, "tasks_total", task=failed, result="failure") == 1
    assert value(samples, "task_duration_seconds_count", task=ok) == 2
    # A task that does nothing lands below a millisecond, not in a 10 ms bucket.
    assert value(samples, "task_duration_seconds_bucket", task=ok, le="0.001") == 2
    assert "_created" not in response.text


async def test_operational_paths_are_labelled_as_themselves(
    own_engine_client: httpx.AsyncClient,
) -> None:
    """`/metrics`, `/openapi.json` and the docs' assets are Starlette's routes and mounts,
    which put no route in the scope: they are still counted under their own template."""
    client = own_engine_client
    docs = await client.get("/docs")
    asset = next(part for part in docs.text.split('"') if part.endswith(".js"))
    for path in ("/openapi.json", asset, "/health/live"):
        assert (await client.get(path)).status_code == 200, path
    scrape_headers = {"Authorization": "Bearer scrape-me"}
    await scrape(client, **scrape_headers)
    samples = await scrape(client, **scrape_headers)
    for route in ("/openapi.json", "/static-offline-docs/{path}", "/health/live", "/metrics"):
        assert value(samples, "http_requests_total", method="GET", route=route, status="200"), route
    assert not value(
        samples, "http_requests_total", method="GET", route="<unmatched>", status="200"
    )


async def test_a_process_of_its_own_reports_its_memory_cpu_and_collections(
    own_engine_client: httpx.AsyncClient,
) -> None:
    samples = await scrape(own_engine_client, Authorization="Bearer scrape-me")
    assert value(samples, "process_resident_memory_bytes") > 0
    assert value(samples, "process_open_fds") > 0
    assert any(name == "python_gc_collections_total" for name, _ in samples)
    assert any(name == "python_info" for name, _ in samples)
