"""`ALLOWED_HOSTS`: requests for any other `Host` are refused with a 400 problem.

Starlette's `TrustedHostMiddleware` does the same check but answers plain text; this one
answers the API's problem document, and lets through the routes that infrastructure
calls by address: a kubelet probes `/health/*` and Prometheus scrapes `/metrics` with
the pod's IP as `Host`, which no list of public names can hold. Those routes build
nothing (no link, no redirect) from the `Host` header, so serving them for any host
gives an attacker nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus

from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.errors import problem_response

# Called by address (the pod IP), never through the public host name.
INFRASTRUCTURE_PREFIX = "/health/"
INFRASTRUCTURE_PATHS = frozenset({"/metrics"})


def host_name(header: str) -> str:
    """The host of a `Host` header, lower-cased, without its port (`[::1]:80` gives `::1`)."""
    host = header.strip().lower()
    if host.startswith("["):  # an IPv6 literal
        return host[1:].partition("]")[0]
    return host.partition(":")[0]


class HostPatterns:
    """Exact host names, and `*.example.com` for every subdomain of `example.com`."""

    def __init__(self, patterns: Iterable[str]) -> None:
        names = [pattern.strip().lower() for pattern in patterns if pattern.strip()]
        self.exact = frozenset(name for name in names if not name.startswith("*."))
        # `*.example.com` matches what ends with `.example.com` (not `example.com` itself).
        self.suffixes = tuple(name[1:] for name in names if name.startswith("*."))

    def __contains__(self, host: str) -> bool:
        return host in self.exact or host.endswith(self.suffixes)


class AllowedHostsMiddleware:
    """Refuses (400 problem) a request whose `Host` is not listed, before any route runs."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: Iterable[str]) -> None:
        self.app = app
        self.allowed = HostPatterns(allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_allowed(scope):
            await self.app(scope, receive, send)
            return
        response = problem_response(
            HTTPStatus.BAD_REQUEST,
            "The Host header names a host this API does not serve",
            instance=scope["path"],
        )
        await response(scope, receive, send)

    def _is_allowed(self, scope: Scope) -> bool:
        path: str = scope["path"]
        if path.startswith(INFRASTRUCTURE_PREFIX) or path in INFRASTRUCTURE_PATHS:
            return True
        for name, value in scope["headers"]:
            if name == b"host":
                return host_name(value.decode("latin-1")) in self.allowed
        return False
