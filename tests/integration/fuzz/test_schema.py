"""Schema fuzzing: every documented operation, with valid and invalid data, as a superuser.

The live app (lifespan run, PostgreSQL and Redis, the test's transaction) answers
requests that schemathesis generates from the app's own OpenAPI document: first its
boundary cases (schemathesis's coverage phase: minimum and maximum values, lengths,
each missing or mistyped field), then random ones. No answer may be a 5xx, and every
answer must be one the document describes (status, content type, headers, body);
invalid data must be refused. One test per area of the API, so xdist spreads them.

`FUZZ_EXAMPLES` sets the random requests per area and mode (`make fuzz` runs many).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case as GenericCase
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation as GenericOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# Coverage's tracer would quadruple this test's CPU for code the rest of the suite covers
# already: it checks the answers to generated requests, not which lines they reach.
pytestmark = pytest.mark.no_cover

Operation = GenericOperation[Any, Any, Any, Any]
Case = GenericCase[Any]
RANDOM_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
# One test each; OTHER_AREAS fuzzes the rest (a module added later, say).
AREAS = (
    "auth",
    "users",
    "profile",
    "movies",  # demo: movies
    "posts",  # demo: posts
    "health",
)
OTHER_AREAS = "others"
# Operations that end the fuzzer's own session: after them every request would be a 401.
ENDS_OWN_SESSION = {"POST /api/v1/auth/logout", "DELETE /api/v1/profile"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,  # applies to invalid data only
]


@dataclass
class Tally:
    """What the fuzzer sent and got, printed at the end (`-s`, or `make fuzz`)."""

    requests: int = 0
    server_errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def count(self, status: int) -> None:
        self.requests += 1
        self.server_errors += status >= 500
        self.statuses[status] = self.statuses.get(status, 0) + 1


TALLY = Tally()


@pytest.fixture(scope="module", autouse=True)
def _report_tally() -> Iterator[None]:
    yield
    print(  # the fuzzer's totals, shown with -s
        f"\nfuzz: {TALLY.requests} requests, {TALLY.server_errors} 5xx, "
        f"statuses {dict(sorted(TALLY.statuses.items()))}"
    )


def area_of(operation: Operation) -> str:
    return operation.path.removeprefix("/api/v1").split("/")[1]


def operations_of(app: FastAPI, area: str) -> list[Operation]:
    schema = schemathesis.openapi.from_dict(app.openapi())
    operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]

    def in_area(op: Operation) -> bool:
        return area_of(op) not in AREAS if area == OTHER_AREAS else area_of(op) == area

    return [op for op in operations if in_area(op) and op.label not in ENDS_OWN_SESSION]


def boundary_cases(operations: Iterable[Operation]) -> Iterator[Case]:
    """Schemathesis's coverage cases, less the undocumented methods (the router's 405)."""
    for operation in operations:
        schema = operation.schema
        generation = schema.config.generation_for(operation=operation, phase="coverage")
        for mode in MODES:
            cases = schema.iter_coverage_cases(
                operation, generation_modes=[mode], generation_config=generation
            )
            yield from (case for case in cases if case.method.upper() == operation.method.upper())


def request_of(case: Case, headers: dict[str, str]) -> dict[str, Any]:
    """httpx keyword arguments for a case (schemathesis serialises for `requests`)."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    body = kwargs.pop("data", None)
    if isinstance(body, bytes | str):
        kwargs["content"] = body
    elif body is not None:
        kwargs["data"] = body
    kwargs["headers"] = {**(kwargs.get("headers") or {}), **headers}
    wanted = {"method", "url", "params", "headers", "json", "content", "data", "cookies"}
    return {name: value for name, value in kwargs.items() if name in wanted and value}


class Fuzzer:
    """Sends cases from a worker thread (Hypothesis runs only sync tests) through the
    app's client on the test's loop, and keeps one report of each distinct failure."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers
        self.loop = asyncio.get_running_loop()
        self.failures: dict[str, str] = {}

    def send(self, case: Case) -> None:
        request = request_of(case, self.headers)
        response = asyncio.run_coroutine_threadsafe(
            self.client.request(**request), self.loop
        ).result()
        TALLY.count(response.status_code)
        try:
            case.validate_response(response, checks=CHECKS, headers=request["headers"])
        except FailureGroup as found:
            for failure in found.exceptions:
                key = f"{case.operation.label}: {type(failure).__name__} ({response.status_code})"
                self.failures.setdefault(key, str(found))

    def send_random(self, operations: list[Operation], mode: GenerationMode) -> None:
        @settings(
            max_examples=RANDOM_EXAMPLES,
            deadline=None,
            derandomize=RANDOM_EXAMPLES <= 100,  # the suite's runs are all alike
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(data=st.data())
        def one(data: st.DataObject) -> None:
            operation = data.draw(st.sampled_from(operations), label="operation")
            self.send(data.draw(operation.as_strategy(generation_mode=mode), label="case"))

        try:
            one()
        except Unsatisfiable:  # nothing of the operations can be made invalid (no input)
            assert mode is GenerationMode.NEGATIVE

    def run(self, operations: list[Operation]) -> None:
        for case in boundary_cases(operations):
            self.send(case)
        for mode in MODES if operations else ():
            self.send_random(operations, mode)

    def report(self) -> str:
        return "\n\n".join(f"== {key}\n{report}" for key, report in self.failures.items())


@pytest.mark.parametrize("area", [*AREAS, OTHER_AREAS])
async def test_every_answer_is_documented_and_none_is_a_5xx(
    area: str, app: FastAPI, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    fuzzer = Fuzzer(client, admin_headers)
    await asyncio.to_thread(fuzzer.run, operations_of(app, area))
    assert not fuzzer.failures, fuzzer.report()
