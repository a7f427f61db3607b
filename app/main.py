"""create_app(): the composition root. Nothing else wires the application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from http import HTTPStatus

import structlog
from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.core.config import Settings
from app.core.errors import install_error_handlers
from app.core.events import EventsMiddleware, listeners_in
from app.core.health import router as health_router
from app.core.logging import configure_logging
from app.core.metrics import Metrics, metrics_endpoint
from app.core.middleware import (
    BodyLimitMiddleware,
    HeadAsGetMiddleware,
    RequestContextMiddleware,
)
from app.core.openapi import install_problem_docs, problem_responses
from app.core.pages import router as pages_router
from app.core.rate_limit import DEFAULT_RATE_LIMIT, RateLimitHeadersMiddleware
from app.core.services import CoreServices
from app.modules import api_routers, module_lifespans, module_parts, task_functions

API_PREFIX = "/api/v1"
TITLE = "fastapi-modulith"
VERSION = "0.1.0"

logger = structlog.get_logger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Build every shared resource at start-up and release it at shutdown."""
    settings: Settings = app.state.settings
    services = await CoreServices.start(settings, listeners=listeners_in(module_parts("listeners")))
    app.state.services = services
    await services.queue.start_in_app(task_functions(settings))
    try:
        async with AsyncExitStack() as modules:
            for module_lifespan in module_lifespans():
                await modules.enter_async_context(module_lifespan(app))
            logger.info(
                "app started", environment=settings.environment, redis=bool(settings.redis_url)
            )
            yield
    finally:
        await services.close()
        logger.info("app stopped")


def _new_fastapi(settings: Settings) -> FastAPI:
    # RATE_LIMIT_DEFAULT, for every route without a limit of its own.
    default_limit = Depends(DEFAULT_RATE_LIMIT)
    if settings.show_docs:
        return FastAPIOffline(
            title=TITLE, version=VERSION, lifespan=lifespan, dependencies=[default_limit]
        )
    return FastAPI(
        title=TITLE,
        version=VERSION,
        lifespan=lifespan,
        dependencies=[default_limit],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build a fresh application; two apps in one process share nothing."""
    settings = settings or Settings()
    configure_logging(settings)
    app = _new_fastapi(settings)
    app.state.settings = settings
    app.state.metrics = Metrics()

    install_error_handlers(app)
    install_problem_docs(app)
    # The last added is the outermost: proxy headers, rate-limit headers (outside the request
    # context, so its last-resort 500 carries them too), request context, body limit, events
    # (inside the request context, so listeners log with the request id), then HEAD as GET.
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(EventsMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics)
    app.add_middleware(RateLimitHeadersMiddleware)
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)

    app.include_router(pages_router)
    app.include_router(health_router)
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    # Every API route is rate limited and reaches the database.
    api_problems = problem_responses(HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE)
    for router in api_routers():
        app.include_router(router, prefix=API_PREFIX, responses=api_problems)
    return app
