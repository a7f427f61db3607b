"""Without Redis, `worker` and `scheduler` exit at once and say why."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from app.cli import NO_REDIS_EXIT_CODE, cli


@pytest.mark.parametrize("command", ["worker", "scheduler"])
def test_queue_processes_refuse_to_start_without_redis(command: str) -> None:
    result = CliRunner().invoke(cli, [command], env={"REDIS_URL": ""})
    assert result.exit_code == NO_REDIS_EXIT_CODE
    output = " ".join(result.output.split())
    assert "tasks run inside the app process" in output
    assert "REDIS_URL" in output
