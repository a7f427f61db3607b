"""Without Redis, tasks run in the background of the app process, never in the response time."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings
from app.core.injection import provided_by
from app.core.queue.registry import task_options
from app.core.queue.task_broker import TaskBroker
from app.core.queue.tasks import heartbeat
from app.main import create_app
from tests.apps import started
from tests.integration.queue import tasks
from tests.integration.queue.conftest import app_client, queue_test_settings, wait_for


async def test_embedded_mode_runs_tasks_in_the_app_after_the_response(
    settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    embedded = queue_test_settings(settings, redis_url="", queue_retry_delay=0.05)
    done = tmp_path / "done"
    async with app_client(embedded) as client:
        response = await client.post(
            "/queue-test/record-later", params={"path": str(done), "value": "v"}
        )
        assert response.status_code == 204
        # `record_later` sleeps in the background: the response did not wait for it.
        assert "v" not in tasks.read_lines(done)

        expected = {"v", "v-follow-up", "v-retried"}
        await wait_for(lambda: set(tasks.read_lines(done)) == expected, what="all ran")
    # The retried task failed once, waited in the outbox, and the in-app relay sent it again.
    assert len(tasks.read_lines(f"{done}.attempts")) == 2


@pytest.fixture
def embedded_app(settings: Settings) -> FastAPI:
    """Built before the test runs: building configures logging, which replaces `caplog`'s
    handler."""
    return create_app(queue_test_settings(settings, redis_url=""))


async def test_a_heartbeat_logs_one_line_at_debug_and_none_at_info(
    embedded_app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    app = embedded_app
    caplog.set_level(logging.DEBUG)
    async with started(app):
        broker = provided_by(app).get(TaskBroker).broker
        heartbeat_task = broker.find_task(task_options(heartbeat).name)
        assert heartbeat_task is not None
        await heartbeat_task.kiq()
        await broker.wait_all()  # type: ignore[attr-defined]  # the in-process broker's

    lines = [record for record in caplog.records if "heartbeat" in record.getMessage()]
    assert [record.levelno for record in lines] == [logging.DEBUG], [
        record.getMessage() for record in lines
    ]


async def test_an_in_process_task_whose_retry_cannot_be_stored_does_not_break_the_stop(
    settings: Settings, tmp_path: Path
) -> None:
    """A task failing while the database cannot take its retry (here: not migrated at all)
    is logged; the app still stops cleanly."""
    unmigrated = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    app = create_app(queue_test_settings(settings, redis_url="", database_url=unmigrated))
    async with started(app):
        broker = provided_by(app).get(TaskBroker).broker
        failing = broker.find_task(task_options(tasks.fail_then_record).name)
        assert failing is not None
        await failing.kiq(path=str(tmp_path / "done"), value="v", failures=1)
