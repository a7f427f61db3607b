"""Reactions of the posts module to other modules' events (delivered through the event
outbox: at least once, retried with backoff; so each is idempotent)."""

from __future__ import annotations

import structlog

from app.auth import UserDeleted
from app.core.db import Database
from app.core.events import listener
from app.core.injection import Provide
from app.posts.service import hide_posts_of_user

logger = structlog.get_logger(__name__)


@listener(UserDeleted)
async def hide_posts_of_deleted_user(event: UserDeleted, database: Provide[Database]) -> None:
    """A deleted user's posts vanish from every read; hiding them twice changes nothing."""
    async with database.unit_of_work() as uow:
        hidden = await hide_posts_of_user(uow, event.user_id)
    logger.info("posts of a deleted user hidden", user_id=event.user_id, posts=hidden)
