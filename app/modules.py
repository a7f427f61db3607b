"""The installed business modules, in the order the app wires them."""

from __future__ import annotations

import importlib
from types import ModuleType

from fastapi import APIRouter
from sqlalchemy import MetaData

from app import auth, movies, posts
from app.core.db import Base

INSTALLED_MODULES: tuple[ModuleType, ...] = (auth, movies, posts)

# Core services that own tables of their own.
CORE_MODEL_MODULES: tuple[str, ...] = ()


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


def load_all_models() -> MetaData:
    """Import every table definition (core and modules) and return their metadata."""
    for name in CORE_MODEL_MODULES:
        importlib.import_module(name)
    module_parts("models")
    return Base.metadata
