"""auth: usernames and emails unique in their normalised form (NFKC, case-folded)

The keys are computed in Python (SQLite's lower() folds only ASCII). Existing rows are
backfilled; should two of them fold to one key, the older keeps it and the newer gets
`<key>#<id>` (which no input can fold to), so its owner signs in with the other field.

Revision ID: 9a4c7e0b2d18
Revises: 6f2b8d41c9e3
Create Date: 2026-11-30 05:40:00
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9a4c7e0b2d18"
down_revision: str | Sequence[str] | None = "6f2b8d41c9e3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

users = sa.table(
    "users",
    sa.column("id", sa.Integer()),
    sa.column("username", sa.String()),
    sa.column("email", sa.String()),
    sa.column("username_key", sa.String()),
    sa.column("email_key", sa.String()),
)


def fold(text: str) -> str:
    """A frozen copy of `app.auth.names.name_key`: a migration must not change with the app."""
    return unicodedata.normalize("NFKC", text.strip()).casefold()


def backfill() -> None:
    connection = op.get_bind()
    taken: dict[str, set[str]] = {"username": set(), "email": set()}
    rows = connection.execute(sa.select(users.c.id, users.c.username, users.c.email).order_by("id"))
    for row in rows.all():
        keys = {}
        for field in ("username", "email"):
            key = fold(getattr(row, field))
            if key in taken[field]:
                key = f"{key}#{row.id}"
            taken[field].add(key)
            keys[f"{field}_key"] = key
        connection.execute(sa.update(users).where(users.c.id == row.id).values(**keys))


def upgrade() -> None:
    # First, so that SQLite's batch copies never reflect this expression index (they cannot).
    op.drop_index("uq_users_email_lower", table_name="users")
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("username_key", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("email_key", sa.String(length=320), nullable=True))
    backfill()
    with op.batch_alter_table("users") as batch_op:
        batch_op.alter_column("username_key", existing_type=sa.String(length=50), nullable=False)
        batch_op.alter_column("email_key", existing_type=sa.String(length=320), nullable=False)
        batch_op.drop_constraint("uq_users_username", type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_users_username_key"), ["username_key"])
        batch_op.create_unique_constraint(batch_op.f("uq_users_email_key"), ["email_key"])


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_users_email_key"), type_="unique")
        batch_op.drop_constraint(batch_op.f("uq_users_username_key"), type_="unique")
        batch_op.create_unique_constraint("uq_users_username", ["username"])
        batch_op.drop_column("email_key")
        batch_op.drop_column("username_key")
    op.create_index("uq_users_email_lower", "users", [sa.text("lower(email)")], unique=True)
