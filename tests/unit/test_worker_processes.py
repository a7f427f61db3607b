"""How `worker --workers N` starts its processes: forked from the command, which has
imported the app, unless a fork would carry the wrong state into them."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.metrics import MULTIPROC_ENV, share_with_child_processes
from app.worker import worker_processes


def test_a_process_with_no_other_thread_forks_its_workers() -> None:
    assert worker_processes(threaded=False).get_start_method() == "fork"


def test_a_process_running_another_thread_spawns_them() -> None:
    assert worker_processes(threaded=True).get_start_method() == "spawn"


def test_workers_that_share_a_metrics_directory_are_spawned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """prometheus-client chose its mode when this process imported it: a fork keeps it."""
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    share_with_child_processes(tmp_path)
    assert worker_processes(threaded=False).get_start_method() == "spawn"
