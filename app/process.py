"""The start-up path shared by the API server, the worker, the scheduler and the CLI.

`running(settings)` builds the core services with every module's listeners and tasks,
runs the modules' start-ups, checks that every task and listener finds what it asks for,
and closes everything on the way out: a request handler and a background task see the
same services, built the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from app.core.config import Settings
from app.core.db import Database
from app.core.events import listeners_in
from app.core.injection import Provided, check_provided, task_needs
from app.core.services import CoreServices
from app.core.telemetry import Telemetry
from app.modules import module_lifespans, module_parts, task_functions


@asynccontextmanager
async def running(
    settings: Settings,
    *,
    database: Database | None = None,
    provided: Provided | None = None,
    runs_tasks: bool = False,
) -> AsyncIterator[CoreServices]:
    """The process's core services, started; `database`, `provided` and `runs_tasks` as
    in `build`."""
    tasks = task_functions(settings)
    services = CoreServices.build(
        settings,
        database=database,
        listeners=listeners_in(module_parts("listeners")),
        tasks=tasks,
        provided=provided,
        runs_tasks=runs_tasks,
    )
    telemetry = Telemetry.of(settings, services.provided)
    telemetry.instrument_process(services.database.engine, services.outbox, services.task_broker)
    try:
        async with AsyncExitStack() as modules:
            for module_lifespan in module_lifespans():
                await modules.enter_async_context(module_lifespan(services.provided))
            check_provided(services.provided, task_needs(tasks))
            services.events.check()
            yield services
    finally:
        await services.close()
        telemetry.close()
