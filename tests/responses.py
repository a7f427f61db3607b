"""Assertions on the shape of HTTP responses that several modules' tests share."""

from __future__ import annotations

import httpx


def assert_no_content(response: httpx.Response) -> None:
    """A 204 carries no body and so no content type (RFC 9110 section 15.3.5)."""
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert "content-type" not in response.headers
