"""The posts module's errors; `app.core.errors` turns each into a problem response."""

from __future__ import annotations

from app.core.errors import NotFoundError, PermissionDeniedError


class PostNotFoundError(NotFoundError):
    detail = "Post not found"


class NotPostAuthorError(PermissionDeniedError):
    detail = "Only the author of this post or a superuser may change it"
