"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.core.injection import Provide
from app.core.rate_limit import exempt_from_default_limit

logger = structlog.get_logger(__name__)

CHECK_TIMEOUT_SECONDS = 2.0

router = APIRouter(prefix="/health", tags=["health"])
# Answered by the request middleware before routing (`app.core.middleware`).
LIVENESS_PATH = "/health/live"

Probe = Callable[[], Awaitable[Any]]
CheckStatus = Literal["ok", "degraded", "unavailable", "schema_not_at_head"]


class NotReadyError(Exception):
    """Raised by a probe whose dependency answers but cannot serve; `status` says why."""

    status: CheckStatus = "unavailable"


@dataclass(frozen=True)
class Check:
    """One dependency: `probe` raises when it cannot serve.

    A `required` one down makes the app unready (503); any other is reported `degraded`
    while the app goes on serving without it (200).
    """

    probe: Probe
    required: bool = True


@dataclass(frozen=True)
class Readiness:
    """What `/health/ready` checks, by name."""

    checks: Mapping[str, Check]


class HealthRead(BaseModel):
    status: Literal["ok", "degraded", "unavailable"]
    checks: dict[str, CheckStatus] | None = None


async def _status(name: str, check: Check) -> CheckStatus:
    try:
        await asyncio.wait_for(check.probe(), CHECK_TIMEOUT_SECONDS)
    except Exception as error:
        logger.warning("readiness check failed", check=name, error_type=type(error).__name__)
        if not check.required:
            return "degraded"
        return error.status if isinstance(error, NotReadyError) else "unavailable"
    return "ok"


LIVE = HealthRead(status="ok")


# Probes are exempt from RATE_LIMIT_DEFAULT: a throttled liveness probe restarts the pod.
@router.get(
    LIVENESS_PATH.removeprefix(router.prefix),
    response_model=HealthRead,
    response_model_exclude_none=True,
)
@exempt_from_default_limit
async def live() -> HealthRead:
    """The process is up (no I/O). The request middleware answers it before routing
    (`app.core.middleware`), out of the access log: this route documents it."""
    return LIVE


@router.get(
    "/ready",
    response_model=HealthRead,
    responses={503: {"model": HealthRead, "description": "A required dependency cannot serve"}},
)
@exempt_from_default_limit
async def ready(readiness: Provide[Readiness]) -> JSONResponse:
    """503 while the database is unreachable or its schema is not at the migration head of
    this code; 200 `degraded` while Redis is down (requests are served without it)."""
    checks = readiness.checks
    statuses = await asyncio.gather(*(_status(name, check) for name, check in checks.items()))
    by_name = dict(zip(checks, statuses, strict=True))
    if any(status not in {"ok", "degraded"} for status in statuses):
        overall = "unavailable"
    else:
        overall = "degraded" if "degraded" in statuses else "ok"
    body = {"status": overall, "checks": by_name}
    return JSONResponse(body, status_code=503 if overall == "unavailable" else 200)
