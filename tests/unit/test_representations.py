"""Entity tag lists of If-Match and If-None-Match, compared as RFC 9110 section 8.8.3.2 says,
entity tags, and the `Location` of a created resource."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI, Request

from app.core.representations import entity_tag, lists_tag, location

TAG = '"abc"'


@pytest.mark.parametrize(
    ("header", "weak", "strong"),
    [
        ('"abc"', True, True),
        ('W/"abc"', True, False),
        ('"x", "abc"', True, True),
        ('"x,y" ,W/"z",  "abc"  ', True, True),
        ("*", True, True),
        (" * ", True, True),
        ('"ab"', False, False),
        ('"abc d"', False, False),
        ('"a,"abc"', False, False),  # the tag `"a,"`, then garbage: no `"abc"` listed
        ("abc", False, False),
        ("", False, False),
    ],
)
def test_a_tag_is_listed_by_weak_and_by_strong_comparison(
    header: str, weak: bool, strong: bool
) -> None:
    assert lists_tag(header, TAG, weak=True) is weak
    assert lists_tag(header, TAG, weak=False) is strong


def test_an_entity_tag_is_strong_and_follows_the_bytes() -> None:
    tag = entity_tag(b'{"id":1}')
    assert re.fullmatch(r'"[0-9a-f]{32}"', tag)  # strong: quoted, no W/
    assert tag == entity_tag(b'{"id":1}')
    assert tag != entity_tag(b'{"id":2}')


async def get_thing(thing_id: int) -> None:
    """The route whose location is asked for."""


@pytest.mark.parametrize(("root_path", "expected"), [("", "/things/3"), ("/kit/", "/kit/things/3")])
def test_a_location_is_the_routes_path_under_the_root_path(root_path: str, expected: str) -> None:
    app = FastAPI()
    app.get("/things/{thing_id}")(get_thing)
    scope = {"type": "http", "app": app, "router": app.router, "root_path": root_path}
    scope["headers"] = [(b"host", b"[not a host")]  # never read: no host in a location

    assert location(Request(scope), get_thing, thing_id=3) == expected
