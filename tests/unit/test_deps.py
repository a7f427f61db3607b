"""The trivial dependencies run on the event loop, not in FastAPI's thread pool."""

from __future__ import annotations

import inspect

import pytest

from app.core import deps


@pytest.mark.parametrize(
    "dependency",
    [
        deps.get_settings,
        deps.get_session,
        deps.get_events,
        deps.get_queue,
        deps.get_mailer,
        deps.get_cache,
    ],
)
def test_trivial_dependency_is_async(dependency: object) -> None:
    assert inspect.iscoroutinefunction(dependency)
