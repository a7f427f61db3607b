"""Request and response bodies of the posts endpoints."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core.schemas import PatchModel, RequestModel
from app.posts.models import CONTENT_MAX_LENGTH, TITLE_MAX_LENGTH

Title = Annotated[str, StringConstraints(min_length=1, max_length=TITLE_MAX_LENGTH)]
Content = Annotated[str, StringConstraints(min_length=1, max_length=CONTENT_MAX_LENGTH)]


class PostCreate(RequestModel):
    """A new post, or every field of one replaced (PUT)."""

    title: Title
    content: Content


class PostUpdate(PatchModel):
    """Any subset of the fields; a field left out keeps its value."""

    title: Title | None = None
    content: Content | None = None


class PostRead(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    title: str
    content: str
    user_id: int
    user_name: str | None = Field(description="The author's username; null once they are gone")
    created_at: dt.datetime
    updated_at: dt.datetime
