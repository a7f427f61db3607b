"""Memory, CPU, descriptors and collections of every process sharing a multiprocess view.

prometheus-client's stock collectors describe the process they run in, and in multiprocess
mode one process (the one scraped) renders the view of all of them. So instead:

- every process registers itself in the shared directory (`ProcessRegistration`): its
  start time, and its interpreter's collection counts, rewritten by a thread every second
  when they changed (a few file writes, off the request path). Both are `liveall` gauges,
  kept by pid, which `mark_process_dead` removes when the process ends cleanly;
- the process that renders the view (`LiveProcesses`) reads /proc of every registered
  process at scrape time: fresh values even for a process too busy to write any (the one
  whose CPU an operator looks at). It keeps the processes still running, those whose
  /proc start time is the registered one: one whose pid another process reuses is left
  out, and one that is gone (killed, so never marked dead) is marked dead then, so that
  its `live*` gauges (the database pool's) leave the sums too.

Every series has a `pid` label; names, help and types are the stock collectors' so that
dashboards work, and `python_info` is rendered once (every process runs one interpreter).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import suppress

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

PID = "pid"
START_TIME = "process_start_time_seconds"
GC_REFRESH_SECONDS = 1.0
# /proc start times have clock-tick precision: the same process reads the same value.
SAME_START_SECONDS = 0.01

# This interpreter's collection counts, read when asked, named as the stock collector does.
COLLECTIONS = GCCollector(registry=CollectorRegistry())
# Counters written as gauges (a gauge by pid goes when its process ends, a counter stays):
# rendered as the counters they are.
COLLECTION_COUNTERS = frozenset(
    sample.name for family in COLLECTIONS.collect() for sample in family.samples
)


class ProcessRegistration:
    """What one process writes for the view: its start time (once) and its collection
    counts (at start, then every `interval` seconds from a thread), until `close`."""

    def __init__(self, interval: float = GC_REFRESH_SECONDS) -> None:
        self._gauges: dict[str, Gauge] = {}
        self._written: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        own = ProcessCollector(registry=None).collect()  # nothing where there is no /proc
        self._write(family for family in own if family.name == START_TIME)
        self._write(COLLECTIONS.collect())
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._refresh, name="process-metrics", daemon=True)
        self._thread.start()

    def _refresh(self) -> None:
        while not self._stop.wait(self._interval):
            self._write(COLLECTIONS.collect())

    def _write(self, families: Iterable[Metric]) -> None:
        """Each sample into a `liveall` gauge of its name, unless it has not changed."""
        for family in families:
            for sample in family.samples:
                key = (sample.name, tuple(sample.labels.items()))
                if self._written.get(key) == sample.value:
                    continue
                gauge = self._gauges.get(sample.name)
                if gauge is None:
                    gauge = self._gauges[sample.name] = Gauge(
                        sample.name,
                        family.documentation,
                        list(sample.labels),
                        registry=None,  # rendered from the files, by `LiveProcesses`
                        multiprocess_mode="liveall",
                    )
                (gauge.labels(**sample.labels) if sample.labels else gauge).set(sample.value)
                self._written[key] = sample.value

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def reader_of(pid: str) -> ProcessCollector:
    """prometheus-client's process collector, for process `pid` instead of this one."""
    return ProcessCollector(pid=lambda: pid, registry=None)


class LiveProcesses(Collector):
    """Every series written under `directory`, summed as prometheus-client does, and the
    process and collection series of each registered process still running, by pid."""

    def __init__(self, directory: str) -> None:
        self._directory = directory
        self._files = MultiProcessCollector(None, directory)  # type: ignore[no-untyped-call]
        self._readers: dict[str, ProcessCollector] = {}
        self._python = PlatformCollector(registry=None)

    def collect(self) -> Iterator[Metric]:
        written: list[Metric] = list(self._files.collect())  # type: ignore[no-untyped-call]
        registered = {
            sample.labels[PID]: sample.value
            for family in written
            if family.name == START_TIME
            for sample in family.samples
        }
        running = self._running(registered)
        if self._forget_gone(registered):  # read again, without their `live*` gauges
            written = list(self._files.collect())  # type: ignore[no-untyped-call]
        for family in written:
            if family.name in COLLECTION_COUNTERS:
                yield counter_of(family, running)
            elif family.name != START_TIME:  # (read from /proc below)
                yield family
        yield from labelled_by_pid(running)
        yield from self._python.collect()

    def _running(self, registered: dict[str, float]) -> dict[str, list[Metric]]:
        """The /proc series of each registered process that still runs, by pid."""
        running: dict[str, list[Metric]] = {}
        readers: dict[str, ProcessCollector] = {}
        for pid, registered_start in registered.items():
            reader = self._readers.get(pid) or reader_of(pid)
            families = list(reader.collect())  # none once the process is gone
            start = [s.value for f in families if f.name == START_TIME for s in f.samples]
            if start and math.isclose(start[0], registered_start, abs_tol=SAME_START_SECONDS):
                running[pid] = families
                readers[pid] = reader
        self._readers = readers
        return running

    def _forget_gone(self, registered: Iterable[str]) -> bool:
        """Mark dead the registered processes that are gone (a killed one never marks
        itself), so that their `live*` gauges (the database pool's) leave the sums too.
        True when there were any."""
        gone = [pid for pid in registered if not os.path.exists(f"/proc/{pid}")]
        for pid in gone:
            with suppress(FileNotFoundError):  # a concurrent scrape removed its files first
                mark_process_dead(pid, self._directory)  # type: ignore[no-untyped-call]
        return bool(gone)

    def describe(self) -> Iterator[Metric]:
        return iter(())  # the names are the files' and the stock collectors'


def counter_of(family: Metric, running: dict[str, list[Metric]]) -> Metric:
    """A counter written as a `liveall` gauge, with the samples of running processes."""
    counter = Metric(family.name.removesuffix("_total"), family.documentation, "counter")
    for sample in family.samples:
        if sample.labels[PID] in running:
            counter.add_sample(sample.name, sample.labels, sample.value)
    return counter


def labelled_by_pid(running: dict[str, list[Metric]]) -> Iterator[Metric]:
    """One family per name, with every process's samples told apart by `pid`."""
    merged: dict[str, Metric] = {}
    for pid, families in running.items():
        for family in families:
            into = merged.setdefault(
                family.name, Metric(family.name, family.documentation, family.type)
            )
            for sample in family.samples:
                into.add_sample(sample.name, {**sample.labels, PID: pid}, sample.value)
    return iter(merged.values())
