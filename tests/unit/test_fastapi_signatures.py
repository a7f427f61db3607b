"""What `tests/fastapi_signatures.py` relies on in FastAPI, pinned."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.dependencies import utils

from tests.fastapi_signatures import read_signature, typed_signature


def test_fastapi_reads_dependency_signatures_through_the_replaced_function() -> None:
    assert utils.get_typed_signature is typed_signature  # installed by the suite's conftest
    calls: list[object] = []

    def endpoint(x: int) -> int:
        return x

    def recording(call: object) -> object:
        calls.append(call)
        return read_signature(endpoint)

    utils.get_typed_signature = recording  # type: ignore[assignment]
    try:
        app = FastAPI()
        app.get("/")(endpoint)
        app.openapi()
    finally:
        utils.get_typed_signature = typed_signature
    assert endpoint in calls


def test_a_signature_is_read_once_and_equals_fastapis() -> None:
    def endpoint(name: str, count: int = 1) -> None: ...

    first = typed_signature(endpoint)
    assert typed_signature(endpoint) is first
    assert first == read_signature(endpoint)
