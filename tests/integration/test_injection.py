"""A route, a task or a listener asking for a service that nothing provides stops the
process at start-up, before it serves a request, runs a task or hears an event."""

from __future__ import annotations

from types import ModuleType

import pytest
from fastapi import APIRouter

from app.core.config import Settings
from app.core.injection import MissingProviderError, Provide
from app.main import create_app
from app.modules import module_parts
from app.process import running
from tests.integration import unprovided


async def test_an_app_whose_route_asks_for_an_unprovided_service_does_not_start(
    settings: Settings,
) -> None:
    router = APIRouter()

    @router.get("/needs")
    async def needs(service: Provide[unprovided.Unprovided]) -> None:
        return None

    app = create_app(settings)
    app.include_router(router, prefix="/test")
    with pytest.raises(
        MissingProviderError,
        match=r"^GET /test/needs: .*needs\(service\): nothing provides Unprovided\. Register",
    ):
        async with app.router.lifespan_context(app):
            pytest.fail("the app started")


async def test_a_process_whose_task_asks_for_an_unprovided_service_does_not_start(
    settings: Settings,
) -> None:
    with_task = settings.model_copy(update={"queue_task_modules": unprovided.MODULE})
    with pytest.raises(
        MissingProviderError,
        match=r"^task tests\.integration\.unprovided\.needs_the_unprovided: service: nothing "
        r"provides Unprovided\. Register",
    ):
        async with running(with_task):
            pytest.fail("the process started")


async def test_a_process_whose_listener_asks_for_an_unprovided_service_does_not_start(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def with_the_listener(part: str) -> list[ModuleType]:
        return [*module_parts(part), unprovided] if part == "listeners" else module_parts(part)

    monkeypatch.setattr("app.process.module_parts", with_the_listener)
    with pytest.raises(
        MissingProviderError, match=r"hears_the_unprovided\(service\): nothing provides Unprovided"
    ):
        async with running(settings):
            pytest.fail("the process started")
