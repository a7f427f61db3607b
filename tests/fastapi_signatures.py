"""The suite builds a fresh app for every test, and FastAPI analyses every route's
endpoint and dependencies again for each app: `inspect.signature(..., eval_str=True)` of
the same module-level functions, a third of the suite's CPU. Their signatures never change
while the suite runs, so each is read once per process.

This replaces FastAPI's `fastapi.dependencies.utils.get_typed_signature` (not a public
API) in the test process only; `tests/unit/test_fastapi_signatures.py` pins what it relies
on, so that a FastAPI release that moves it fails loudly instead of slowing the suite.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable
from typing import Any

from fastapi.dependencies import utils

read_signature: Callable[[Callable[..., Any]], inspect.Signature] = utils.get_typed_signature
_signatures: weakref.WeakKeyDictionary[Callable[..., Any], inspect.Signature] = (
    weakref.WeakKeyDictionary()
)


def typed_signature(call: Callable[..., Any]) -> inspect.Signature:
    """FastAPI's typed signature of `call`, read once while `call` lives."""
    try:
        return _signatures[call]
    except KeyError:
        signature = _signatures[call] = read_signature(call)
        return signature
    except TypeError:  # neither hashable nor weakly referenced: read every time
        return read_signature(call)


def read_each_signature_once() -> None:
    utils.get_typed_signature = typed_signature
