"""The queue worker and the scheduler processes (`python -m app worker|scheduler`).

Both start through `app.process.running`, as the app does. A worker consumes the Redis
stream, runs the outbox relay, and stops gracefully on SIGTERM or SIGINT: it
takes no new task, lets the running ones finish (up to
`QUEUE_SHUTDOWN_TIMEOUT`), and leaves any still running un-acknowledged so
that another worker gets it again.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import multiprocessing.connection
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.context import ForkContext, SpawnContext
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from pathlib import Path
from types import FrameType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import structlog
from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer
from taskiq.receiver import Receiver

from app.core.config import Settings
from app.core.heartbeat import run_with_heartbeat
from app.core.logging import configure_logging
from app.core.metrics import Metrics, mode_chosen_at_import_holds
from app.core.queue.backoff import Backoff
from app.core.queue.sending import wait_for_event
from app.core.queue.task_broker import TaskBroker
from app.process import running

logger = structlog.get_logger("app.worker")


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def consume(settings: Settings, tasks: TaskBroker, stop: asyncio.Event) -> None:
    """Run tasks from the stream until `stop`; reconnect when Redis goes away, waiting
    longer after each failed attempt (up to `QUEUE_RECONNECT_MAX_DELAY`)."""
    broker = tasks.broker
    broker.is_worker_process = True
    backoff = Backoff(settings.queue_poll_interval, settings.queue_reconnect_max_delay)
    clock = asyncio.get_running_loop().time
    while not stop.is_set():
        receiver = Receiver(
            broker,
            max_async_tasks=settings.queue_max_concurrent_tasks,
            wait_tasks_timeout=settings.queue_shutdown_timeout,
            run_startup=True,  # (re)declares the consumer group, lost if Redis restarted empty
        )
        started = clock()
        try:
            await receiver.listen(stop)
        except Exception as error:
            if clock() - started >= backoff.cap:  # it had been reading: a new outage
                backoff.reset()
            delay = backoff.next_delay()
            while isinstance(error, ExceptionGroup) and error.exceptions:
                error = error.exceptions[0]  # the receiver's task group wraps the cause
            logger.warning(
                "cannot read the task stream; retrying",
                error=str(error) or type(error).__name__,
                retry_in_s=delay,
            )
            await wait_for_event(stop, delay)


async def run_worker(
    settings: Settings,
    metrics_port: int | None = None,
    on_started: Callable[[], None] | None = None,
) -> None:
    """Consume tasks and relay the outbox until SIGTERM; serve the task metrics on
    `metrics_port` (every interface) when given."""
    stop = stop_on_signals()
    async with running(settings, runs_tasks=True) as services:
        with serving_metrics(services.metrics, metrics_port) as port:
            logger.info(
                "worker started",
                metrics_port=port,
                tasks=len(services.tasks.broker.get_all_tasks()),
                stream=settings.queue_stream,
                concurrency=settings.queue_max_concurrent_tasks,
            )
            if on_started is not None:
                on_started()
            async with asyncio.TaskGroup() as group:
                group.create_task(consume(settings, services.tasks, stop))
                group.create_task(services.outbox.run_relay(stop))
            logger.info("worker stopping")
    logger.info("worker stopped")


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access line: a scrape every few seconds is noise."""


@contextmanager
def serving_metrics(metrics: Metrics, port: int | None) -> Iterator[int | None]:
    """Serve `metrics` over HTTP on `port` (0: any free one) in a thread while inside,
    when a port is given; yields the port listened on."""
    if port is None:
        yield None
        return
    server = make_server(
        "0.0.0.0",  # noqa: S104 - scraped from other hosts; the port is off by default
        port,
        make_wsgi_app(metrics.exposed),
        ThreadingWSGIServer,
        handler_class=QuietHandler,
    )
    # prometheus-client's `start_http_server` polls for shutdown every 0.5 s; a stop
    # should not wait that long.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="metrics", daemon=True
    )
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def run_scheduler(settings: Settings) -> None:
    """Send the scheduled tasks on time until SIGTERM; run exactly one."""
    stop = stop_on_signals()
    async with running(settings, runs_tasks=True) as services:
        runner = asyncio.create_task(services.tasks.run_scheduler())
        logger.info("scheduler started")
        await stop.wait()
        runner.cancel()
    logger.info("scheduler stopped")


def run_one_worker(
    settings: Settings, heartbeat_file: Path | None, metrics_port: int | None, started: Event
) -> None:
    """The body of one process of `run_workers`. It sets up its own logging and signals
    (a forked one inherits the supervisor's handlers), and keeps what it inherited out of
    its garbage collections, which would otherwise write to, and so copy, every page."""
    gc.freeze()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # until the worker's loop handles it
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    configure_logging(settings)
    worker = run_worker(settings, metrics_port, started.set)
    asyncio.run(run_with_heartbeat(worker, heartbeat_file))


def worker_processes(*, threaded: bool) -> ForkContext | SpawnContext:
    """How `run_workers` starts its processes: forked from this one, which has imported
    the app and started nothing else (no thread, no connection), so that none imports
    the app again (over a second of CPU each), a replacement starts at once and they
    share the imported code's memory. Spawned, as fresh interpreters, when another thread
    runs here (`threaded`: a fork copies no thread, so a lock one held stays held), or
    when the processes must share a metrics directory (prometheus-client picks its mode
    on import, and this process imported it before the directory was set)."""
    if not threaded and mode_chosen_at_import_holds():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def run_workers(
    settings: Settings, count: int, heartbeat_file: Path | None, metrics_port: int | None = None
) -> int:
    """Run `count` worker processes, each a consumer of the same group, until SIGTERM or
    SIGINT (passed on to each; each stops gracefully). A worker that dies after it started
    is replaced; one that fails before it started stops them all (its failure would only
    repeat). Returns the exit code."""
    context = worker_processes(threaded=threading.active_count() > 1)
    workers: list[tuple[BaseProcess, Event, int]] = []
    stopping = False

    def start(index: int) -> None:
        """Worker `index` (its metrics on `metrics_port + index`); a replacement reuses it.
        Listed before it starts, so that a signal meanwhile stops it too."""
        if stopping:
            return
        started = context.Event()
        port = None if metrics_port is None else metrics_port + index
        process = context.Process(
            target=run_one_worker, args=(settings, heartbeat_file, port, started), name="worker"
        )
        workers.append((process, started, index))
        process.start()
        if stopping:
            process.terminate()

    def stop_all(_: int = 0, __: FrameType | None = None) -> None:
        nonlocal stopping
        stopping = True
        for process, _started, _index in workers:
            if process.is_alive():
                process.terminate()

    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    for index in range(count):
        start(index)
    exit_code = 0
    while workers:
        multiprocessing.connection.wait([process.sentinel for process, _, _ in workers])
        for process, started, index in [worker for worker in workers if not worker[0].is_alive()]:
            workers.remove((process, started, index))
            process.join()
            if stopping:
                continue
            if started.is_set():
                logger.warning("worker process died; starting another", exit_code=process.exitcode)
                start(index)
            else:
                logger.error("worker process failed to start", exit_code=process.exitcode)
                exit_code = process.exitcode or 1
                stop_all()
    return exit_code
