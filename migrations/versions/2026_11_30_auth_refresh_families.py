"""auth: refresh families (sessions) with an absolute end, revoked as one row

Existing families are backfilled from their tokens: they end when their newest token
expires, and a family with any revoked token stays revoked. The per-token `revoked`
flag goes: revocation is now one update of the family row, which a concurrent
rotation cannot slip past.

Revision ID: 6f2b8d41c9e3
Revises: ab7ad9fc2c7f
Create Date: 2026-11-30 05:20:00
"""

import warnings
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "6f2b8d41c9e3"
down_revision: str | Sequence[str] | None = "ab7ad9fc2c7f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "refresh_families",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", app.core.db.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", app.core.db.UTCDateTime(), nullable=True),
        sa.Column(
            "created_at", app.core.db.UTCDateTime(), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_refresh_families_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_families")),
    )
    op.create_index(
        op.f("ix_refresh_families_user_id"), "refresh_families", ["user_id"], unique=False
    )
    op.execute(
        "INSERT INTO refresh_families (id, user_id, expires_at, revoked_at, created_at) "
        "SELECT family_id, min(user_id), max(expires_at), "
        "CASE WHEN max(CASE WHEN revoked THEN 1 ELSE 0 END) = 1 THEN CURRENT_TIMESTAMP END, "
        "min(created_at) FROM refresh_tokens GROUP BY family_id"
    )
    # SQLite's batch copy reflects `users` (the foreign key's target) and cannot read its
    # expression index on lower(email); it skips it, which is harmless here.
    with (
        warnings.catch_warnings(),
        op.batch_alter_table("refresh_tokens") as batch_op,
    ):
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        batch_op.drop_column("revoked")
        batch_op.create_foreign_key(
            batch_op.f("fk_refresh_tokens_family_id_refresh_families"),
            "refresh_families",
            ["family_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("refresh_tokens") as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_refresh_tokens_family_id_refresh_families"), type_="foreignkey"
        )
        batch_op.add_column(
            sa.Column("revoked", sa.Boolean(), server_default="false", nullable=False)
        )
    op.execute(
        "UPDATE refresh_tokens SET revoked = true WHERE family_id IN "
        "(SELECT id FROM refresh_families WHERE revoked_at IS NOT NULL)"
    )
    op.drop_index(op.f("ix_refresh_families_user_id"), table_name="refresh_families")
    op.drop_table("refresh_families")
