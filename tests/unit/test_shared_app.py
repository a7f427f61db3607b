"""The guard of the app the tests share: a test that changes it is caught, not leaked."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from app.core.events import EventBus
from app.core.injection import provided_by
from app.main import create_app
from tests.apps import SharedAppSessions, unchanged
from tests.conftest import load_test_settings


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_app(load_test_settings())


async def ok() -> None:
    return None


def test_a_test_that_adds_a_route_is_told_to_take_its_own_app(app: FastAPI) -> None:
    with (
        pytest.raises(AssertionError, match="changes the shared app: mark it own_app"),
        unchanged(app, "test_x"),
    ):
        app.add_api_route("/test/added", ok)


def test_an_override_or_replaced_listeners_are_caught_too(app: FastAPI) -> None:
    with (
        pytest.raises(AssertionError, match="test_y changes the shared app"),
        unchanged(app, "test_y"),
    ):
        app.dependency_overrides[ok] = ok
    app.dependency_overrides.clear()
    with (
        pytest.raises(AssertionError, match="test_z changes the shared app"),
        unchanged(app, "test_z"),
    ):
        EventBus([], provided_by(app))  # a new bus provides itself: new listeners


def test_a_test_that_reads_only_passes(app: FastAPI) -> None:
    with unchanged(app, "test_reader"):
        assert provided_by(app).kinds()


def test_the_shared_sessions_refuse_use_outside_a_test() -> None:
    with pytest.raises(RuntimeError, match="outside a test"):
        SharedAppSessions()()
