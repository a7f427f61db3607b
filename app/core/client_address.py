"""Client addresses in one form: what the logs and sessions record, what limits count by.

A client's address arrives as text: the peer's, or the `X-Forwarded-For` client that
uvicorn's `ProxyHeadersMiddleware` put in its place when the peer is a trusted proxy.
One address has many spellings (`2001:DB8::1`, `2001:db8:0:0::1`; `::ffff:10.20.0.1` is
the IPv4 client `10.20.0.1` on a dual-stack socket), and one IPv6 subscriber commonly
holds a whole /64, any address of which it may use. So:

- `canonical_address` writes an address one way (an IPv4-mapped address as its IPv4
  address, no IPv6 zone index): what the audit log and the sessions record;
- `address_key` names the client behind an address for the rate limits (and the
  addresses an account signed in from): its canonical address, or for IPv6 its network
  (`RATE_LIMIT_IPV6_PREFIX`, /64 by default).

Text that is no IP address (no peer at all, a unix socket) has no canonical form, and
every such client shares the one key `UNKNOWN_CLIENT`, so that nobody gets a bucket of
their own by sending a new string.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import TypeGuard

UNKNOWN_CLIENT = "unknown"
# Longer text is no IP address: an IPv4-mapped address written out in full is 45
# characters, and a zone index names a network interface (at most 15). It is neither
# parsed nor kept in the caches.
MAX_ADDRESS_TEXT = 64

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _may_be_address(text: str | None) -> TypeGuard[str]:
    return text is not None and 0 < len(text) <= MAX_ADDRESS_TEXT


def canonical_address(text: str | None) -> str | None:
    """`text`'s IP address written one way, or None when it is no IP address."""
    return _canonical(text) if _may_be_address(text) else None


def address_key(text: str | None, ipv6_prefix: int) -> str:
    """The client behind the address `text`, for limits: its canonical address, an IPv6
    address's network of `ipv6_prefix` bits, `UNKNOWN_CLIENT` for what is no address."""
    return _key(text, ipv6_prefix) if _may_be_address(text) else UNKNOWN_CLIENT


# Both answers are cached by the text itself: they are asked on every request.
@functools.lru_cache(maxsize=4096)
def _canonical(text: str) -> str | None:
    address = _parsed(text)
    return None if address is None else str(address)


@functools.lru_cache(maxsize=4096)
def _key(text: str, ipv6_prefix: int) -> str:
    address = _parsed(text)
    if address is None:
        return UNKNOWN_CLIENT
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    return str(ipaddress.IPv6Network((address, ipv6_prefix), strict=False))


def _parsed(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        # The packed bytes leave out the zone index, which means nothing past the first hop.
        return address.ipv4_mapped or ipaddress.IPv6Address(address.packed)
    return address
