"""The trivial dependencies run on the event loop, not in FastAPI's thread pool."""

from __future__ import annotations

import inspect
from typing import get_args

import pytest
from fastapi.params import Depends

from app.core import deps
from app.core.config import Settings
from app.core.injection import Provide


def _route_dependency_of(alias: object) -> object:
    (marker,) = (meta for meta in get_args(alias)[1:] if isinstance(meta, Depends))
    return marker.dependency


@pytest.mark.parametrize(
    "dependency",
    [
        _route_dependency_of(Provide[Settings]),
        deps.get_session,
        deps.get_events,
        deps.get_queue,
        deps.get_mailer,
    ],
)
def test_trivial_dependency_is_async(dependency: object) -> None:
    assert inspect.iscoroutinefunction(dependency)
