"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.core.injection import provided_by
from app.core.rate_limit import exempt_from_default_limit

logger = structlog.get_logger(__name__)

CHECK_TIMEOUT_SECONDS = 2.0

router = APIRouter(prefix="/health", tags=["health"])

Probe = Callable[[], Awaitable[Any]]


@dataclass(frozen=True)
class Readiness:
    """What `/health/ready` checks: a probe per dependency, each raising when it is down."""

    probes: Mapping[str, Probe]


async def get_readiness(request: Request) -> Readiness:
    return provided_by(request.app).get(Readiness)


class HealthRead(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, Literal["ok", "unavailable"]] | None = None


async def _check(name: str, probe: Probe) -> bool:
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT_SECONDS)
    except Exception as error:
        logger.warning("readiness check failed", check=name, error_type=type(error).__name__)
        return False
    return True


LIVE = HealthRead(status="ok")


# Probes are exempt from RATE_LIMIT_DEFAULT: a throttled liveness probe restarts the pod.
@router.get("/live", response_model=HealthRead, response_model_exclude_none=True)
@exempt_from_default_limit
async def live() -> HealthRead:
    """The process is up (no I/O)."""
    return LIVE


@router.get(
    "/ready",
    response_model=HealthRead,
    responses={503: {"model": HealthRead, "description": "A dependency is unavailable"}},
)
@exempt_from_default_limit
async def ready(readiness: Annotated[Readiness, Depends(get_readiness)]) -> JSONResponse:
    """The database (and Redis when configured) answer."""
    probes = readiness.probes
    results = await asyncio.gather(*(_check(name, probe) for name, probe in probes.items()))
    checks = {name: "ok" if ok else "unavailable" for name, ok in zip(probes, results, strict=True)}
    healthy = all(results)
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    return JSONResponse(body, status_code=200 if healthy else 503)
