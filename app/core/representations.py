"""Single resources over HTTP: their JSON with a strong `ETag`, conditional requests
(RFC 9110 section 13) and the `Location` of a created one.

One mechanism for every module: the entity tag is a digest of the representation's
JSON bytes, the very bytes the response carries. Equal representations have equal
tags wherever they come from (a warm cache or the database), and any change of what a
client sees (an embedded author's name included) makes a new one.

- A read route returns `representation(dto, request)`: 200 with the body and its `ETag`,
  or 304 when the request's `If-None-Match` lists that tag.
- A write route takes `IfMatch` (a `Precondition`, or None without the header) and hands
  it to its command, which calls `Precondition.check` on the current representation
  once it holds the row locked, so that a check and the write it guards are one.
- A create route sets `Location` from `location(request, read_endpoint, id=...)`.

The `*_RESPONSES` constants and `READ_PARAMETERS` document the headers and statuses on
those routes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from pydantic import BaseModel, WithJsonSchema
from starlette.datastructures import Headers

from app.core.errors import PreconditionFailedError
from app.core.openapi import problem_response_doc

# Each entity tag of an If-Match or If-None-Match list: an optional weak marker and the
# quoted opaque tag, which may contain commas (RFC 9110 section 8.8.3).
_ENTITY_TAG = re.compile(r'(W/)?("[^"]*")')
_ANY = "*"
IF_NONE_MATCH = "If-None-Match"


def render(dto: BaseModel) -> bytes:
    """The JSON bytes of a representation, as its response carries them (the model's own
    serializer, as `model_dump_json` without its str round trip)."""
    return dto.__pydantic_serializer__.to_json(dto)


def entity_tag(body: bytes) -> str:
    """The strong entity tag of a representation's bytes (quoted, as the header has it)."""
    return f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'


def lists_tag(header: str, tag: str, *, weak: bool) -> bool:
    """Whether an If-Match or If-None-Match value lists `tag` (`*` lists every one), by
    weak comparison (a `W/` marker ignored, If-None-Match) or by strong comparison (a
    weak tag matches nothing, If-Match): RFC 9110 section 8.8.3.2."""
    if header.strip() == _ANY:
        return True
    return any(
        opaque == tag and (weak or not marker) for marker, opaque in _ENTITY_TAG.findall(header)
    )


def representation(
    dto: BaseModel, request: Request | None = None, *, headers: Headers | None = None
) -> Response:
    """A single resource's response: its JSON with its `ETag`, or 304 with the `ETag` and
    no body when the `If-None-Match` of `request` (a read's) lists it.

    Rendered once, here: the tag is the digest of the body sent. `headers` are added to
    either answer: those that route dependencies set on FastAPI's `Response`, which a
    response returned by the route does not get otherwise.

    The header is read from the request rather than declared as a header parameter (and
    documented by `READ_PARAMETERS`): FastAPI's header parameter costs a read ~20 us,
    more than all of this does.
    """
    body = render(dto)
    tag = entity_tag(body)
    if_none_match = request.headers.get(IF_NONE_MATCH) if request is not None else None
    if if_none_match is not None and lists_tag(if_none_match, tag, weak=True):
        response = Response(status_code=HTTPStatus.NOT_MODIFIED)
    else:
        response = Response(body, media_type="application/json")
    # Raw: the header's value is known to be plain ASCII, and this is every read's path.
    response.raw_headers.append((b"etag", tag.encode()))
    if headers is not None:
        response.raw_headers.extend(headers.raw)
    return response


@dataclass(frozen=True, slots=True)
class Precondition:
    """An `If-Match` header: the write may go on only while the resource's current
    representation has one of the listed entity tags (any one, for `*`)."""

    header: str

    def check(self, current: BaseModel) -> None:
        """Raise `PreconditionFailedError` unless `current` (the representation a read
        would give now, taken under the write's row lock) has a listed tag."""
        if not lists_tag(self.header, entity_tag(render(current)), weak=False):
            raise PreconditionFailedError()


async def get_precondition(
    if_match: Annotated[
        # A string when sent, never a JSON null (as `str | None` would document it).
        Annotated[str | None, WithJsonSchema({"type": "string"})],
        Header(
            alias="If-Match",
            description="Change only if the resource still has this entity tag (`ETag`), "
            "else 412; `*` matches whatever it has",
        ),
    ] = None,
) -> Precondition | None:
    """The request's `If-Match`, for the command to check. A header parameter (documented
    by FastAPI): its cost does not matter beside a write's."""
    return Precondition(if_match) if if_match is not None else None


IfMatch = Annotated[Precondition | None, Depends(get_precondition)]


def location(request: Request, endpoint: Callable[..., Any], **path_params: int) -> str:
    """The URL of what the route of `endpoint` (its function) serves at `path_params`.

    A path under the app's root path, with no scheme or host: those of the request are
    what a proxy or the client chose, and the Host header is anyone's to write.
    """
    router = request.scope.get("router") or request.app
    path: str = router.url_path_for(endpoint.__name__, **path_params)
    root_path: str = request.scope.get("root_path", "")
    return root_path.rstrip("/") + path


_ETAG = {
    "ETag": {"description": "The representation's strong entity tag", "schema": {"type": "string"}}
}
_PRECONDITION_FAILED: dict[int | str, dict[str, Any]] = {
    HTTPStatus.PRECONDITION_FAILED: {
        **problem_response_doc(HTTPStatus.PRECONDITION_FAILED),
        "description": "`If-Match` lists no entity tag of the resource as it is now: read it again",
    }
}

# `openapi_extra=` of the read of a single resource (the header `representation` reads).
READ_PARAMETERS: dict[str, Any] = {
    "parameters": [
        {
            "name": IF_NONE_MATCH,
            "in": "header",
            "required": False,
            "description": "Entity tags (`ETag`) the client holds: 304 while the resource "
            "still has one of them (`*`: any)",
            "schema": {"type": "string"},
        }
    ]
}
# `responses=` of the routes of a single resource.
READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    HTTPStatus.OK: {"headers": _ETAG},
    HTTPStatus.NOT_MODIFIED: {
        "description": "`If-None-Match` lists the resource's entity tag: no body",
        "headers": _ETAG,
    },
}
CHANGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    HTTPStatus.OK: {"headers": _ETAG},
    **_PRECONDITION_FAILED,
}
DELETE_RESPONSES: dict[int | str, dict[str, Any]] = dict(_PRECONDITION_FAILED)
CREATED_RESPONSES: dict[int | str, dict[str, Any]] = {
    HTTPStatus.CREATED: {
        "headers": {
            "Location": {
                "description": "The path of the new resource",
                "schema": {"type": "string", "format": "uri-reference"},
            }
        }
    }
}
