"""Multiprocess mode: each process's memory, CPU, descriptors and collections, by pid, in
the view any of them renders; a process that ends leaves it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from app.core.metrics import MULTIPROC_ENV, share_with_child_processes
from app.core.process_metrics import LiveProcesses
from tests.integration.test_metrics import Samples, parse, value

# One process of the view, as `serve --workers N` starts one, driven line by line.
CHILD = """
import gc, sys, time
from app.core.config import Settings
from app.core.metrics import Metrics
metrics = Metrics.from_settings(Settings(metrics_multiproc_dir=sys.argv[1]))
metrics.pool_size.inc(5)  # as a database pool of five does
print("ready", flush=True)
for command in sys.stdin:
    if command == "render\\n":
        body = metrics.render().decode()
        print(len(body), flush=True)
        sys.stdout.write(body)
    elif command == "work\\n":  # a third of a second of CPU
        started = time.process_time()
        while time.process_time() - started < 0.35:
            pass
    elif command == "collect\\n":
        gc.collect()
    elif command == "close\\n":
        metrics.close()
    print("done", flush=True)
"""

MB = 1 << 20
pytestmark = pytest.mark.runs_long  # starts interpreters that import the app


class Child:
    """A process writing its metrics under `directory`."""

    def __init__(self, directory: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(directory)],
            env={**os.environ, MULTIPROC_ENV: str(directory)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.pid = str(self.process.pid)

    def line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def ask(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        if command != "render":
            assert self.line() == "done"

    def render(self) -> str:
        """The view, as this process renders it for a scrape."""
        self.ask("render")
        assert self.process.stdout is not None
        body = self.process.stdout.read(int(self.line()))
        assert self.line() == "done"
        return body

    def end(self) -> None:
        """Exit, as a worker does once its services are closed."""
        self.ask("close")
        assert self.process.stdin is not None
        self.process.stdin.close()
        assert self.process.wait(10) == 0

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)


def start(directory: Path, count: int) -> list[Child]:
    """`count` processes started side by side, each once ready (its metrics registered)."""
    children = [Child(directory) for _ in range(count)]
    for child in children:
        assert child.line() == "ready"
    return children


@pytest.fixture
def shared_dir(tmp_path: Path) -> Path:
    share_with_child_processes(tmp_path)  # as `serve` does before it starts its workers
    os.environ.pop(MULTIPROC_ENV)  # (this test process itself stays as it was)
    return tmp_path


def rendered_here(directory: Path) -> str:
    """The view as any process renders it from the shared files (this one, here)."""
    registry = CollectorRegistry()
    registry.register(LiveProcesses(str(directory)))
    return generate_latest(registry).decode()


def pids_of(samples: Samples) -> set[str]:
    """The processes any series of the view is labelled with."""
    return {value for _, labels in samples for name, value in labels if name == "pid"}


def collections(samples: Samples, pid: str) -> float:
    return value(samples, "python_gc_collections_total", generation="2", pid=pid)


def test_each_process_of_the_view_reports_its_memory_cpu_and_collections(
    shared_dir: Path,
) -> None:
    began = time.time()
    first, second = start(shared_dir, 2)
    try:
        body = second.render()
        samples = parse(body)
        for pid in (first.pid, second.pid):
            rss = value(samples, "process_resident_memory_bytes", pid=pid)
            assert 10 * MB < rss < value(samples, "process_virtual_memory_bytes", pid=pid)
            fds = value(samples, "process_open_fds", pid=pid)
            assert 0 < fds < value(samples, "process_max_fds", pid=pid)
            assert began - 1 < value(samples, "process_start_time_seconds", pid=pid) < time.time()
            assert value(samples, "process_cpu_seconds_total", pid=pid) > 0
            assert collections(samples, pid) > 0  # importing the app collected
        assert pids_of(samples) == {first.pid, second.pid}
        assert pids_of(parse(rendered_here(shared_dir))) == {first.pid, second.pid}
        # The stock collectors' types, and one interpreter described once.
        assert "# TYPE process_cpu_seconds_total counter" in body
        assert "# TYPE python_gc_collections_total counter" in body
        assert sum(name == "python_info" for name, _ in samples) == 1

        # Read from /proc at scrape time: another process's CPU is current at once.
        cpu_before = value(samples, "process_cpu_seconds_total", pid=first.pid)
        first.ask("work")
        samples = parse(second.render())
        assert value(samples, "process_cpu_seconds_total", pid=first.pid) >= cpu_before + 0.3

        # Collections are written by each process on a timer: current within seconds.
        collected_before = collections(samples, first.pid)
        first.ask("collect")
        deadline = time.monotonic() + 10
        while collections(samples, first.pid) == collected_before:
            assert time.monotonic() < deadline, "the collection never reached the view"
            time.sleep(0.1)
            samples = parse(second.render())
    finally:
        first.kill()
        second.kill()


def test_a_process_that_ends_or_is_killed_leaves_the_view(shared_dir: Path) -> None:
    ending, killed, staying = start(shared_dir, 3)
    try:
        samples = parse(staying.render())
        assert pids_of(samples) == {ending.pid, killed.pid, staying.pid}
        assert value(samples, "db_pool_size") == 15
        ending.end()  # marked dead as it ends
        killed.kill()  # never marked dead by itself: the view finds it gone
        samples = parse(rendered_here(shared_dir))
        assert pids_of(samples) == {staying.pid}
        assert value(samples, "process_resident_memory_bytes", pid=staying.pid) > 10 * MB
        assert value(samples, "db_pool_size") == 5  # only the pool still open
    finally:
        for child in (ending, killed, staying):
            child.kill()
