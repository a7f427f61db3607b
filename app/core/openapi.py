"""The error responses of the OpenAPI schema: every one is an RFC 9457 problem.

FastAPI documents only the successes and its own 422 (`application/json`,
`{"detail": [...]}`); the API answers every error with `application/problem+json`
(see `app.core.errors`). `document_problems` rewrites the generated schema:
the `Problem` and `ValidationProblem` schemas join the components, every operation's
422 becomes a `ValidationProblem`, and the statuses any operation of its shape can
answer are added (500 always; 400 and 413 with a body; 401 and 403 when it needs a
token; 404 with a path parameter). A module documents its specific ones with
`responses=problem_responses(409, ...)` on a route or router.

`operation_id` and `document_for_clients` make the document one that client generators
read as intended: short operation names, security on every operation, plain optional
bodies, every tag defined.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import inflection
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from app.core.errors import PROBLEM_CONTENT_TYPE

SCHEMA_REF = "#/components/schemas/{model}"
# FastAPI's own 422 schemas, dropped once nothing refers to them any more.
FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")

DESCRIPTIONS: dict[int, str] = {
    HTTPStatus.BAD_REQUEST: "The body could not be read (not UTF-8, for one)",
    HTTPStatus.UNAUTHORIZED: "Missing, malformed, expired or revoked access token",
    HTTPStatus.FORBIDDEN: "Authenticated but not allowed",
    HTTPStatus.NOT_FOUND: "No such resource",
    HTTPStatus.CONFLICT: "Conflict with the current state of the resource",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "The body is larger than the limit (1 MiB by default)",
    HTTPStatus.UNPROCESSABLE_ENTITY: "A parameter or the body is not valid",
    HTTPStatus.TOO_MANY_REQUESTS: "Rate limit exceeded; retry after `Retry-After` seconds",
    HTTPStatus.INTERNAL_SERVER_ERROR: "Unexpected error, logged with the request id",
    HTTPStatus.SERVICE_UNAVAILABLE: "The database is unavailable; retry after `Retry-After`",
}
_SECONDS = {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
HEADERS: dict[int, dict[str, Any]] = {
    HTTPStatus.UNAUTHORIZED: {
        "WWW-Authenticate": {"description": "Always `Bearer`", "schema": {"type": "string"}}
    },
    HTTPStatus.TOO_MANY_REQUESTS: {"Retry-After": _SECONDS},
    HTTPStatus.SERVICE_UNAVAILABLE: {"Retry-After": _SECONDS},
}


class Problem(BaseModel):
    """An RFC 9457 problem document: the body of every error response."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Not Found",
                    "status": 404,
                    "detail": "Post 42 not found",
                    "instance": "/api/v1/posts/42",
                    "request_id": "3f0c9a8e2b6d4f1e9c7a5b3d1e0f2a4c",
                }
            ]
        }
    )

    type: str = Field("about:blank", description="Always `about:blank`")
    title: str = Field(description="The HTTP status phrase")
    status: int = Field(description="The HTTP status code")
    detail: str = Field(description="What went wrong, for a human")
    instance: str = Field(description="The request path")
    request_id: str = Field(description="The `X-Request-ID` of the request, also in the logs")


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(description='Where: `["body", "title"]`, `["query", "page"]`')
    msg: str
    type: str


class ValidationProblem(Problem):
    """The 422 problem: `errors` names every invalid parameter or body field."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Unprocessable Entity",
                    "status": 422,
                    "detail": "Invalid request: query.per_page",
                    "instance": "/api/v1/posts",
                    "request_id": "3f0c9a8e2b6d4f1e9c7a5b3d1e0f2a4c",
                    "errors": [
                        {
                            "loc": ["query", "per_page"],
                            "msg": "Input should be less than or equal to 100",
                            "type": "less_than_equal",
                        }
                    ],
                }
            ]
        }
    )

    errors: list[ValidationIssue]


def problem_response_doc(status: int, members: type[BaseModel] | None = None) -> dict[str, Any]:
    """The OpenAPI response object of one error status; `members`, the extension members
    its problems carry (`app.core.errors.with_problem_members`)."""
    model = ValidationProblem if status == HTTPStatus.UNPROCESSABLE_ENTITY else Problem
    schema: dict[str, Any] = {"$ref": SCHEMA_REF.format(model=model.__name__)}
    if members is not None:
        schema = {"allOf": [schema, members.model_json_schema()]}
    doc: dict[str, Any] = {
        "description": DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
        "content": {PROBLEM_CONTENT_TYPE: {"schema": schema}},
    }
    if status in HEADERS:
        doc["headers"] = HEADERS[status]
    return doc


def problem_responses(
    *statuses: int, members: type[BaseModel] | None = None
) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route or router: these statuses answered as problems, with
    `members` besides the problem's own when given."""
    return {int(status): problem_response_doc(status, members) for status in statuses}


def _statuses_of(path: str, operation: dict[str, Any]) -> list[int]:
    statuses: list[int] = [HTTPStatus.UNPROCESSABLE_ENTITY, HTTPStatus.INTERNAL_SERVER_ERROR]
    if "requestBody" in operation:
        statuses += [HTTPStatus.BAD_REQUEST, HTTPStatus.REQUEST_ENTITY_TOO_LARGE]
    if operation.get("security"):
        statuses += [HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN]
    if "{" in path:
        statuses.append(HTTPStatus.NOT_FOUND)
    return statuses


def _is_fastapi_422(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a generated OpenAPI schema so that its errors read as problems (in place)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    _, definitions = models_json_schema(
        [(Problem, "serialization"), (ValidationProblem, "serialization")],
        ref_template=SCHEMA_REF,
    )
    components.update(definitions["$defs"])
    for path, item in schema.get("paths", {}).items():
        for operation in item.values():  # FastAPI writes nothing but operations there
            responses = operation.setdefault("responses", {})
            for status in _statuses_of(path, operation):
                key = str(int(status))
                if key not in responses or _is_fastapi_422(responses[key]):
                    responses[key] = problem_response_doc(status)
    for name in FASTAPI_VALIDATION_SCHEMAS:  # the error before its item, which it refers to
        if f'"{SCHEMA_REF.format(model=name)}"' not in json.dumps(schema):
            components.pop(name, None)
    return schema


def rewrite_openapi(app: FastAPI, *rewrites: Callable[[dict[str, Any]], object]) -> None:
    """Make `app.openapi()` return the generated schema rewritten (in place) by each of
    `rewrites` in turn.

    FastAPI caches the schema and builds a new one when routes are added; each new one
    is rewritten once.
    """
    generate: Callable[[], dict[str, Any]] = app.openapi
    rewritten: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        schema = generate()
        if not rewritten or rewritten[0] is not schema:
            for rewrite in rewrites:
                rewrite(schema)
            rewritten[:] = [schema]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def operation_id(route: APIRoute) -> str:
    """A route's `operationId`, `{tag}_{action}`: `posts_list`, `posts_get`, `auth_login`.

    The action is the function's name without a closing noun that repeats the route's
    first tag, plural or singular: `list_posts` and `get_post` under `posts`, `get_profile`
    under `profile`; `login` and `refresh_token` under `auth` stay whole. Generated
    clients name their functions after it (FastAPI's default, `list_posts_api_v1_posts_get`,
    spells the path and the method out).
    """
    if not route.tags:
        return route.name
    tag = str(route.tags[0])
    nouns = (f"_{tag}", f"_{inflection.singularize(tag)}")
    action = next(
        (route.name.removesuffix(noun) for noun in nouns if route.name.endswith(noun)), route.name
    )
    return f"{tag}_{action}"


def document_for_clients(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a generated OpenAPI schema for client generators (in place).

    Every operation declares its security (`[]` when public: otherwise a linter, and a
    reader, cannot tell a public operation from a forgotten declaration); an optional body
    is a plain schema reference (FastAPI writes `anyOf [schema, null]`, which generated
    clients then send as `null` or fail to serialise when left out); every tag an
    operation uses is defined at the top level, with a plain description when the app
    gave it none (a newly scaffolded module's, until it is described).
    """
    tags = schema.setdefault("tags", [])
    defined = {tag["name"] for tag in tags}
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            operation.setdefault("security", [])
            _plain_optional_body(operation)
            for name in operation.get("tags", []):
                if name not in defined:
                    tags.append(
                        {"name": name, "description": f"The {name.replace('_', ' ')} operations"}
                    )
                    defined.add(name)
    return schema


def _plain_optional_body(operation: dict[str, Any]) -> None:
    body = operation.get("requestBody", {})
    if body.get("required"):
        return
    for media in body.get("content", {}).values():
        options = media.get("schema", {}).get("anyOf", [])
        others = [option for option in options if option != {"type": "null"}]
        if len(options) == 2 and len(others) == 1 and "$ref" in others[0]:
            media["schema"] = others[0]
