"""Reactions of the posts module to other modules' events."""

from __future__ import annotations

import structlog

from app.auth import UserDeleted
from app.core.db import Database
from app.core.events import listener
from app.core.queue import Queue, TaskBroker
from app.posts import tasks
from app.posts.service import hide_posts_of_user

logger = structlog.get_logger(__name__)


@listener(UserDeleted)
async def hide_posts_of_deleted_user(
    event: UserDeleted, database: Database, broker: TaskBroker
) -> None:
    """A deleted user's posts vanish from every read at once; if that fails, the queue
    retries it (the outbox keeps the retry even if this process dies)."""
    try:
        async with database.unit_of_work() as uow:
            hidden = await hide_posts_of_user(uow, event.user_id)
    except Exception:
        logger.exception(
            "hiding a deleted user's posts failed; retry queued", user_id=event.user_id
        )
        async with database.unit_of_work() as uow:
            await Queue(uow, broker).enqueue(
                tasks.hide_posts_of_deleted_user, user_id=event.user_id
            )
        return
    logger.info("posts of a deleted user hidden", user_id=event.user_id, posts=hidden)
