"""Without Redis, tasks run in the background of the app process, never in the response time."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings
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
