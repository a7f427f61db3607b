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

Each kind of problem (`app.core.errors.problem_kinds`) is listed in the description of
`Problem.type` with its status, title and meaning, and is an example of its own in
`components.examples`, which every response of its status refers to: a client learns
from the document which `type` values each status may carry.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Annotated, Any

import inflection
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema, models_json_schema

from app.core.errors import (
    ABOUT_BLANK,
    MAX_LISTED_ERRORS,
    PROBLEM_CONTENT_TYPE,
    AppError,
    BadCursorError,
    problem_kinds,
)

SCHEMA_REF = "#/components/schemas/{model}"
EXAMPLE_REF = "#/components/examples/{name}"
# FastAPI's own 422 schemas, dropped once nothing refers to them any more.
FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")

DESCRIPTIONS: dict[int, str] = {
    HTTPStatus.BAD_REQUEST: "The body could not be read, or the request was refused as it is",
    HTTPStatus.UNAUTHORIZED: "Missing, malformed, expired or revoked access token",
    HTTPStatus.FORBIDDEN: "Authenticated but not allowed",
    HTTPStatus.NOT_FOUND: "No such resource",
    HTTPStatus.CONFLICT: "Conflict with the current state of the resource",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "The body is larger than the limit (1 MiB by default)",
    HTTPStatus.UNPROCESSABLE_ENTITY: "A parameter or the body is not valid",
    HTTPStatus.TOO_MANY_REQUESTS: "Rate limit exceeded; retry after `Retry-After` seconds",
    HTTPStatus.INTERNAL_SERVER_ERROR: "Unexpected error, logged with the request id",
    HTTPStatus.SERVICE_UNAVAILABLE: "A dependency is unavailable; retry after `Retry-After`",
}
_SECONDS = {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
HEADERS: dict[int, dict[str, Any]] = {
    HTTPStatus.UNAUTHORIZED: {
        "WWW-Authenticate": {"description": "Always `Bearer`", "schema": {"type": "string"}}
    },
    HTTPStatus.TOO_MANY_REQUESTS: {"Retry-After": _SECONDS},
    HTTPStatus.SERVICE_UNAVAILABLE: {"Retry-After": _SECONDS},
}


REQUEST_ID_EXAMPLE = "3f0c9a8e2b6d4f1e9c7a5b3d1e0f2a4c"
INSTANCE_EXAMPLE = "/api/v1/posts/42"
TYPE_DESCRIPTION = (
    "The kind of error, to switch on (never on `detail`): a URI reference, "
    "`about:blank` where the status alone says it all (no route, a method not allowed, "
    "a body too large, an internal error)."
)


class Problem(BaseModel):
    """An RFC 9457 problem document: the body of every error response."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/not-found",
                    "title": "Resource not found",
                    "status": 404,
                    "detail": "Post 42 not found",
                    "instance": INSTANCE_EXAMPLE,
                    "request_id": REQUEST_ID_EXAMPLE,
                }
            ]
        }
    )

    type: str = Field(
        ABOUT_BLANK, description=TYPE_DESCRIPTION, json_schema_extra={"format": "uri-reference"}
    )
    title: str = Field(description="The kind's short title (the status phrase for `about:blank`)")
    status: int = Field(description="The HTTP status code")
    detail: str = Field(description="What went wrong, for a human")
    instance: str = Field(description="The request path")
    request_id: str = Field(description="The `X-Request-ID` of the request, also in the logs")


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(description='Where: `["body", "title"]`, `["query", "page"]`')
    msg: str
    type: str


def _no_default(schema: dict[str, Any]) -> None:
    del schema["default"]


VALIDATION_ISSUE_EXAMPLE: dict[str, Any] = {
    "loc": ["query", "per_page"],
    "msg": "Input should be less than or equal to 100",
    "type": "less_than_equal",
}
CURSOR_ISSUE_EXAMPLE: dict[str, Any] = {
    "loc": ["query", "cursor"],
    "msg": "invalid cursor: minted for another query",
    "type": "value_error",
}


class ValidationProblem(Problem):
    """The 422 problem: `errors` names the invalid parameters and body fields."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/validation-error",
                    "title": "Validation failed",
                    "status": 422,
                    "detail": "Invalid request: query.per_page",
                    "instance": "/api/v1/posts",
                    "request_id": REQUEST_ID_EXAMPLE,
                    "errors": [VALIDATION_ISSUE_EXAMPLE],
                }
            ]
        }
    )

    errors: list[ValidationIssue] = Field(
        description=f"The first {MAX_LISTED_ERRORS} errors at most", max_length=MAX_LISTED_ERRORS
    )
    errors_omitted: Annotated[int, Field(ge=1)] | SkipJsonSchema[None] = Field(
        None,
        description=f"How many errors there were beyond the {MAX_LISTED_ERRORS} listed; "
        "present only then",
        json_schema_extra=_no_default,
    )


def _meaning(kind: type[AppError]) -> str:
    """What a kind of problem means: its class's docstring, as one line."""
    return " ".join((inspect.getdoc(kind) or "").split())


def _example_name(kind: type[AppError]) -> str:
    return kind.problem_type.rpartition("/")[2]


def _example(kind: type[AppError]) -> dict[str, Any]:
    """The example of one kind of problem, for `components.examples`."""
    value: dict[str, Any] = {
        "type": kind.problem_type,
        "title": kind.title,
        "status": kind.status_code,
        "detail": kind.detail,
        "instance": INSTANCE_EXAMPLE,
        "request_id": REQUEST_ID_EXAMPLE,
    }
    if kind.status_code == HTTPStatus.UNPROCESSABLE_ENTITY:
        value["errors"] = [
            CURSOR_ISSUE_EXAMPLE if issubclass(kind, BadCursorError) else VALIDATION_ISSUE_EXAMPLE
        ]
    return {
        "summary": f"{kind.status_code} {kind.title}",
        "description": _meaning(kind),
        "value": value,
    }


def _kinds_table(kinds: list[type[AppError]]) -> str:
    rows = [f"| `{k.problem_type}` | {k.status_code} | {k.title} | {_meaning(k)} |" for k in kinds]
    return "\n".join(["| type | status | title | when |", "|---|---|---|---|", *rows])


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


def _describe_type(model: dict[str, Any], kinds: list[type[AppError]], *also: str) -> None:
    """Describe the `type` of a problem schema with the table of `kinds`."""
    problem_type = model["properties"]["type"]
    problem_type["description"] = f"{TYPE_DESCRIPTION}\n\n{_kinds_table(kinds)}"
    problem_type["examples"] = [*also, *(kind.problem_type for kind in kinds)]


def _document_kinds(schema: dict[str, Any], kinds: list[type[AppError]]) -> None:
    """List every kind of problem in the `type` of the problem schemas, and refer each
    problem response to an example of each kind of its status (in place). Only the
    examples referred to join the components."""
    kinds = sorted(kinds, key=lambda kind: kind.status_code)
    schemas = schema["components"]["schemas"]
    _describe_type(schemas[Problem.__name__], kinds, ABOUT_BLANK)
    validation = [kind for kind in kinds if kind.status_code == HTTPStatus.UNPROCESSABLE_ENTITY]
    _describe_type(schemas[ValidationProblem.__name__], validation)
    by_status: dict[str, list[type[AppError]]] = {}
    for kind in kinds:
        by_status.setdefault(str(kind.status_code), []).append(kind)
    used: dict[str, type[AppError]] = {}
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {}).get(PROBLEM_CONTENT_TYPE, {})
                # A problem with members of its own (an `allOf`) is not what they show.
                if "$ref" not in content.get("schema", {}) or status not in by_status:
                    continue
                names = {_example_name(kind): kind for kind in by_status[status]}
                content["examples"] = {
                    name: {"$ref": EXAMPLE_REF.format(name=name)} for name in names
                }
                used |= names
    examples = schema["components"].setdefault("examples", {})
    examples.update({name: _example(kind) for name, kind in used.items()})


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
    _document_kinds(schema, problem_kinds())
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
