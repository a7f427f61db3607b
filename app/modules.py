"""The installed business modules, in the order the app wires them."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from types import ModuleType
from typing import Any

from fastapi import APIRouter
from sqlalchemy import MetaData

from app import auth, movies, posts
from app.core.config import Settings
from app.core.db import Base
from app.core.injection import Provided
from app.core.queue import tasks_in

INSTALLED_MODULES: tuple[ModuleType, ...] = (auth, movies, posts)

# Core services that own tables of their own.
CORE_MODEL_MODULES: tuple[str, ...] = (
    "app.core.queue.outbox",
    "app.core.cache_invalidations",
    "app.core.mail.deliveries",
    "app.core.event_deliveries",
)

# Core services that declare queue tasks of their own.
CORE_TASK_MODULES: tuple[str, ...] = ("app.core.queue.tasks", "app.core.mail.tasks")


def module_parts(part: str) -> list[ModuleType]:
    """Import `app.<module>.<part>` for every installed module that has one."""
    found = []
    for module in INSTALLED_MODULES:
        try:
            found.append(importlib.import_module(f"{module.__name__}.{part}"))
        except ModuleNotFoundError as error:
            if error.name != f"{module.__name__}.{part}":
                raise
    return found


def api_routers() -> list[APIRouter]:
    """Every router the modules publish in their package root."""
    return [router for module in INSTALLED_MODULES for router in module.routers]


# A module's start-up: it may read the core services from `provided` and add its own.
ModuleLifespan = Callable[[Provided], AbstractAsyncContextManager[None]]


def module_lifespans() -> list[ModuleLifespan]:
    """The start-up/shut-down hooks (`lifespan` in a package root) of the modules."""
    return [module.lifespan for module in INSTALLED_MODULES if hasattr(module, "lifespan")]


def task_functions(settings: Settings) -> list[Callable[..., Awaitable[Any]]]:
    """Every `@task` of core, of the modules' `tasks.py`, and of `QUEUE_TASK_MODULES`."""
    extra = [name.strip() for name in settings.queue_task_modules.split(",") if name.strip()]
    core = [importlib.import_module(name) for name in (*CORE_TASK_MODULES, *extra)]
    return tasks_in([*core, *module_parts("tasks")])


def load_all_models() -> MetaData:
    """Import every table definition (core and modules) and return their metadata."""
    for name in CORE_MODEL_MODULES:
        importlib.import_module(name)
    module_parts("models")
    return Base.metadata
