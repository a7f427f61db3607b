"""Whom a request counts as under a limit: its client address, a submitted form field,
or the signed-in user (through the identity a module gives the limiter)."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

from fastapi import Request

from app.core.client_address import address_key
from app.core.config import Settings
from app.core.rate_limit.limiter import RateLimiter

# A key function names the bucket of a request, given the process's limiter.
KeyFunction = Callable[[Request, RateLimiter], Awaitable[str]]


def client_key(request: Request, settings: Settings) -> str:
    """The client of the request as limits count it: the peer address (already the
    forwarded client when the peer is a trusted proxy), by `address_key`."""
    host = request.client.host if request.client else None
    return address_key(host, settings.rate_limit_ipv6_prefix)


async def by_client_ip(request: Request, limiter: RateLimiter) -> str:
    return f"ip:{client_key(request, limiter.settings)}"


def by_client_ip_and_form_field(field: str) -> KeyFunction:
    """Client IP plus a submitted form field (the login's `username`), case-insensitively.

    Reads the url-encoded form through `request.form()`, which Starlette parses once and
    caches on the request, so the handler still gets its body. The value is hashed: keys
    stay short and Redis holds no submitted identifiers.
    """

    async def key(request: Request, limiter: RateLimiter) -> str:
        value = (await request.form()).get(field)
        submitted = value.strip().casefold() if isinstance(value, str) else ""
        digest = hashlib.sha256(submitted.encode()).hexdigest()[:32]
        return f"{await by_client_ip(request, limiter)}:{field}:{digest}"

    return key


async def by_user_or_client_ip(request: Request, limiter: RateLimiter) -> str:
    """The signed-in user (by the limiter's `identify_callers`), else the client IP."""
    identity = await limiter.caller_identity(request)
    return f"user:{identity}" if identity else await by_client_ip(request, limiter)
