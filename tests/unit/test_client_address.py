"""One form per client address: the canonical text, and the key limits count by."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from app.core.client_address import UNKNOWN_CLIENT, address_key, canonical_address

ipv6_addresses = st.integers(min_value=0, max_value=2**128 - 1).map(ipaddress.IPv6Address)


def spellings(address: ipaddress.IPv6Address) -> list[str]:
    return [
        str(address),
        str(address).upper(),
        address.exploded,
        address.exploded.upper(),
        ":".join(group.lstrip("0") or "0" for group in address.exploded.split(":")),
        f"{address}%eth0",
    ]


@given(ipv6_addresses)
def test_every_spelling_of_an_ipv6_address_is_one(address: ipaddress.IPv6Address) -> None:
    canonical = str(address.ipv4_mapped or address)
    assert {canonical_address(text) for text in spellings(address)} == {canonical}
    assert len({address_key(text, 64) for text in spellings(address)}) == 1


@given(ipv6_addresses, st.integers(min_value=0, max_value=2**64 - 1))
def test_an_ipv6_client_is_its_network(address: ipaddress.IPv6Address, host: int) -> None:
    neighbour = ipaddress.IPv6Address((int(address) >> 64 << 64) | host)
    assume(address.ipv4_mapped is None and neighbour.ipv4_mapped is None)
    assert address_key(str(address), 64) == address_key(str(neighbour), 64)
    assert (address_key(str(address), 128) == address_key(str(neighbour), 128)) == (
        address == neighbour
    )


@pytest.mark.parametrize(
    ("text", "canonical", "key"),
    [
        ("10.20.0.1", "10.20.0.1", "10.20.0.1"),
        ("::ffff:10.20.0.1", "10.20.0.1", "10.20.0.1"),
        ("0:0:0:0:0:FFFF:0A14:0001", "10.20.0.1", "10.20.0.1"),
        ("2001:DB8:1::c", "2001:db8:1::c", "2001:db8:1::/64"),
        ("fe80::1%eth0", "fe80::1", "fe80::/64"),
    ],
)
def test_addresses_in_one_form(text: str, canonical: str, key: str) -> None:
    assert canonical_address(text) == canonical
    assert address_key(text, 64) == key


def test_the_prefix_is_a_setting() -> None:
    assert address_key("2001:db8:1:2:3::1", 48) == "2001:db8:1::/48"
    assert address_key("2001:db8:1:2:3::1", 128) == "2001:db8:1:2:3::1/128"


@pytest.mark.parametrize(
    "text", [None, "", "testclient", "/run/app.sock", "10.20.0.1.5", "::ffff:" * 20, "a" * 1000]
)
def test_what_is_no_address_is_one_unknown_client(text: str | None) -> None:
    assert canonical_address(text) is None
    assert address_key(text, 64) == UNKNOWN_CLIENT
