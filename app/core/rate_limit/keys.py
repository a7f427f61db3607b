"""Whom a request counts as under a limit: its client address, a submitted form field,
or the signed-in user (through the `RequestIdentity` a module provides)."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

from fastapi import Request

from app.core.client_address import address_key
from app.core.config import Settings
from app.core.injection import provided_by

KeyFunction = Callable[[Request], Awaitable[str]]


def client_key(request: Request) -> str:
    """The client of the request as limits count it: the peer address (already the
    forwarded client when the peer is a trusted proxy), by `address_key`."""
    prefix = provided_by(request.app).get(Settings).rate_limit_ipv6_prefix
    return address_key(request.client.host if request.client else None, prefix)


async def by_client_ip(request: Request) -> str:
    return f"ip:{client_key(request)}"


def by_client_ip_and_form_field(field: str) -> KeyFunction:
    """Client IP plus a submitted form field (the login's `username`), case-insensitively.

    Reads the url-encoded form through `request.form()`, which Starlette parses once and
    caches on the request, so the handler still gets its body. The value is hashed: keys
    stay short and Redis holds no submitted identifiers.
    """

    async def key(request: Request) -> str:
        value = (await request.form()).get(field)
        submitted = value.strip().casefold() if isinstance(value, str) else ""
        digest = hashlib.sha256(submitted.encode()).hexdigest()[:32]
        return f"ip:{client_key(request)}:{field}:{digest}"

    return key


class RequestIdentity:
    """Who a request comes from, for the default limit: a user id, or None for anonymous.

    The default limit runs before any route dependency (the auth one included), so the
    identity must be found from the request alone, cheaply and without I/O (for example
    the `sub` of a valid access token). A module provides one at start-up.
    """

    def __init__(self, resolve: Callable[[Request], Awaitable[str | None]]) -> None:
        self.resolve = resolve


async def by_user_or_client_ip(request: Request) -> str:
    identity_of = provided_by(request.app).find(RequestIdentity)
    identity = await identity_of.resolve(request) if identity_of is not None else None
    return f"user:{identity}" if identity else await by_client_ip(request)
