"""Assertions on the shape of HTTP responses that several modules' tests share."""

from __future__ import annotations

import httpx


def assert_no_content(response: httpx.Response) -> None:
    """A 204 carries no body and so no content type (RFC 9110 section 15.3.5)."""
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert "content-type" not in response.headers


def assert_precondition_failed(response: httpx.Response) -> None:
    """A stale `If-Match`: 412, as a problem."""
    assert response.status_code == 412, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 412


def assert_not_modified(response: httpx.Response, etag: str) -> None:
    """A 304 names the entity tag the client holds and carries no body (RFC 9110
    section 15.4.5)."""
    assert response.status_code == 304, response.text
    assert response.headers["etag"] == etag
    assert response.content == b""
