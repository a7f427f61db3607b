"""Cache invalidations written in the same transaction as the data they invalidate.

A Redis-backed `Cache` records every `invalidate_after_commit` here, so a committed change
whose Redis delete failed (Redis unreachable, the process died) is never forgotten: the
next process that renews the cache's trust lease deletes the keys before any entry is
trusted again (see `app.core.cache`). Rows hold full Redis keys (`cache:v1:movies:42`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import BigInteger, Boolean, Integer, String, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime, utc_now


class PendingInvalidation(Base):
    """A key (or a key prefix) to delete from Redis before the cache is trusted again."""

    __tablename__ = "cache_invalidations"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    key: Mapped[str] = mapped_column(String(1000))
    is_prefix: Mapped[bool] = mapped_column(Boolean(), default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


def record_invalidations(
    session: AsyncSession, keys: Sequence[str], prefixes: Sequence[str]
) -> None:
    """Add the rows to `session`: they commit, or roll back, with the change itself."""
    session.add_all(
        [PendingInvalidation(key=key, is_prefix=False) for key in keys]
        + [PendingInvalidation(key=prefix, is_prefix=True) for prefix in prefixes]
    )


async def pending_invalidations(session: AsyncSession) -> Sequence[PendingInvalidation]:
    return (await session.scalars(select(PendingInvalidation))).all()


async def forget_invalidations(session: AsyncSession, done: Sequence[PendingInvalidation]) -> None:
    """Delete the rows whose keys are gone from Redis (only those: newer rows stay)."""
    if done:
        ids = [row.id for row in done]
        await session.execute(delete(PendingInvalidation).where(PendingInvalidation.id.in_(ids)))
