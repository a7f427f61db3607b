"""create_app(): the composition root of the API. Nothing else wires the application."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.core.config import Settings
from app.core.db import Database
from app.core.errors import install_error_handlers
from app.core.health import router as health_router
from app.core.hosts import AllowedHostsMiddleware
from app.core.injection import Provided, attach_to_app, check_provided, route_needs
from app.core.logging import configure_logging, direct_logger
from app.core.metrics import Metrics, metrics_endpoint_for
from app.core.middleware import RequestMiddleware
from app.core.openapi import (
    document_for_clients,
    document_problems,
    operation_id,
    problem_responses,
    rewrite_openapi,
)
from app.core.pages import router as pages_router
from app.core.rate_limit import DEFAULT_RATE_LIMIT
from app.core.telemetry import Telemetry
from app.modules import api_routers
from app.process import running

API_PREFIX = "/api/v1"
TITLE = "fastapi-modulith"
VERSION = "0.1.0"
DESCRIPTION = """\
An async modular monolith: accounts and tokens (`auth`, `users`, `profile`) and the
resources of its business modules.

Sign in at `/api/v1/auth/login` (OAuth 2 password flow) and send the access token as
`Authorization: Bearer <token>`. Every error is an RFC 9457 problem document
(`application/problem+json`); lists page by `page` or by `cursor` (`next_cursor`).
"""
# The tags of the document, in the order the docs show them (a module's tag missing here
# is defined after them, with a plain description).
TAGS = {
    "auth": "Sign up, sign in, refresh and revoke tokens, reset a password",
    "profile": "The signed-in user's own account",
    "users": "Every account, for superusers",
    "movies": "The movie catalogue: read by users, edited by superusers",  # demo: movies
    "posts": "Posts: read by anyone, written by their authors",  # demo: posts
    "health": "Liveness and readiness probes (unversioned, not rate limited)",
}
LICENSE = {"name": "MIT", "identifier": "MIT"}
# Relative: a generated client, or the docs, call the host they were given (or that
# served the document). FastAPI puts the proxy's root path, when one is set, before it.
SERVERS = [{"url": "/"}]

logger = structlog.get_logger(__name__)

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    provided: Provided | None = None,
) -> FastAPI:
    """Build a fresh application; two apps in one process share nothing.

    `database`: the one to use instead of the settings' (tests pass one bound to the
    test's transaction); the app then leaves disposing its engine to the caller.
    `provided`: objects of the caller's to use instead of building them (tests pass
    in-memory telemetry exporters; see app/core/telemetry.py).
    """
    settings = settings or Settings()
    configure_logging(settings)
    metrics = Metrics.from_settings(settings)
    provided = provided or Provided()
    provided.add(Settings, settings)
    provided.add(Metrics, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """Build every shared resource at start-up, check that every route finds what it
        asks for, and release them all at shutdown."""
        async with running(settings, database=database, provided=provided) as services:
            check_provided(provided, route_needs(app.routes))
            if services.task_broker is not None:  # embedded mode: tasks run in the app
                await services.task_broker.start_in_app(services.outbox)
            logger.info(
                "app started", environment=settings.environment, redis=bool(settings.redis_url)
            )
            yield
        logger.info("app stopped")

    app = _new_fastapi(settings, lifespan)
    attach_to_app(app, provided)
    Telemetry.of(settings, provided).instrument_app(app)
    install_error_handlers(app, settings)
    rewrite_openapi(app, document_problems, document_for_clients)
    # The last added is the outermost: proxy headers, CORS, then the app's own middleware.
    # Inside them all, the host check: a refused host is logged and counted like the rest.
    if settings.allowed_host_list:
        app.add_middleware(AllowedHostsMiddleware, allowed_hosts=settings.allowed_host_list)
    app.add_middleware(
        RequestMiddleware,
        metrics=metrics,
        max_body_bytes=settings.max_body_bytes,
        access_log=direct_logger("app.access", settings),
    )
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_credentials=settings.cors_allow_credentials,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "Retry-After", "X-RateLimit-Remaining"],
        )
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)

    app.include_router(pages_router)
    app.include_router(health_router)
    if settings.serves_metrics:
        app.add_route("/metrics", metrics_endpoint_for(settings, metrics), include_in_schema=False)
    # Every API route is rate limited and reaches the database.
    api_problems = problem_responses(HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE)
    for router in api_routers():
        app.include_router(router, prefix=API_PREFIX, responses=api_problems)
        metrics.mount(API_PREFIX, router.routes)
    metrics.mount_operational(app.routes)
    return app


# FastAPI's own OpenTelemetry hooks look up the tracer provider (and the environment) on
# every request: off, since the kit traces through the official instrumentations.
NO_NATIVE_TELEMETRY = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}


def _new_fastapi(settings: Settings, lifespan: Lifespan) -> FastAPI:
    options: dict[str, Any] = {
        "title": TITLE,
        "version": VERSION,
        "description": DESCRIPTION,
        "license_info": LICENSE,
        "openapi_tags": [{"name": name, "description": text} for name, text in TAGS.items()],
        "servers": SERVERS,
        "generate_unique_id_function": operation_id,
        "lifespan": lifespan,
        "telemetry": NO_NATIVE_TELEMETRY,
        # A path with a stray trailing slash is a 404, not a redirect: Starlette builds the
        # redirect's URL from the Host header, so it would point wherever the client said.
        "redirect_slashes": False,
    }
    if settings.rate_limit_enabled and settings.rate_limit_default:
        # RATE_LIMIT_DEFAULT, for every route without a limit of its own; when it is not
        # set, requests do not pay for the dependency at all.
        options["dependencies"] = [Depends(DEFAULT_RATE_LIMIT)]
    if settings.show_docs:
        return FastAPIOffline(**options)
    return FastAPI(**options, docs_url=None, redoc_url=None, openapi_url=None)
