"""The OpenAPI document lists every kind of problem, with its status, title and meaning,
and its examples are valid problems of their schemas."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest
from openapi_spec_validator import validate

from app.core.errors import PROBLEM_CONTENT_TYPE, problem_kinds

API_KINDS = {
    "/problems/access-token-missing": 401,
    "/problems/access-token-expired": 401,
    "/problems/access-token-invalid": 401,
    "/problems/refresh-token-invalid": 401,
    "/problems/invalid-credentials": 400,
    "/problems/unreadable-body": 400,
    "/problems/validation-error": 422,
    "/problems/invalid-cursor": 422,
    "/problems/duplicate": 409,
    "/problems/precondition-failed": 412,
    "/problems/rate-limited": 429,
    "/problems/dependency-unavailable": 503,
    "/problems/not-found": 404,
    "/problems/forbidden": 403,
}


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    schema: dict[str, Any] = (await client.get("/openapi.json")).json()
    return schema


def test_each_kind_has_a_type_title_and_meaning_of_its_own() -> None:
    kinds = problem_kinds()
    assert len({kind.problem_type for kind in kinds}) == len(kinds)
    for kind in kinds:
        assert "title" in vars(kind), kind
        assert kind.__doc__, kind
    assert {kind.problem_type: kind.status_code for kind in kinds}.items() >= API_KINDS.items()


async def test_the_document_lists_every_kind_with_its_status_and_meaning(
    document: dict[str, Any],
) -> None:
    description = document["components"]["schemas"]["Problem"]["properties"]["type"]["description"]
    answered = {
        status
        for item in document["paths"].values()
        for operation in item.values()
        for status in operation["responses"]
    }
    examples = document["components"]["examples"]
    for kind in problem_kinds():
        assert f"| `{kind.problem_type}` | {kind.status_code} | {kind.title} |" in description
        name = kind.problem_type.removeprefix("/problems/")
        # An example of each kind of a status some operation answers, and no other.
        assert (name in examples) == (str(kind.status_code) in answered), name
        if name in examples:
            assert examples[name]["value"]["type"] == kind.problem_type
            assert examples[name]["value"]["status"] == kind.status_code
            assert examples[name]["description"]


async def test_each_response_offers_the_kinds_of_its_status(document: dict[str, Any]) -> None:
    responses = document["paths"]["/api/v1/profile"]["get"]["responses"]
    unauthorized = responses["401"]["content"][PROBLEM_CONTENT_TYPE]["examples"]
    assert {
        "access-token-missing",
        "access-token-expired",
        "access-token-invalid",
    } <= unauthorized.keys()
    listed = document["paths"]["/api/v1/posts"]["get"]["responses"]["422"]
    assert set(listed["content"][PROBLEM_CONTENT_TYPE]["examples"]) == {
        "validation-error",
        "invalid-cursor",
    }


async def test_the_document_is_valid_and_so_are_its_problem_examples(
    document: dict[str, Any],
) -> None:
    validate(document)
    schemas = document["components"]["schemas"]

    def check(instance: object, model: str) -> None:
        # The components ride along, so that `#/components/...` resolves in the lone schema.
        schema = {**schemas[model], "components": document["components"]}
        jsonschema.Draft202012Validator(schema).validate(instance)

    for model in ("Problem", "ValidationProblem"):
        for example in schemas[model]["examples"]:
            check(example, model)
    for example in document["components"]["examples"].values():
        value = example["value"]
        check(value, "ValidationProblem" if value["status"] == 422 else "Problem")
