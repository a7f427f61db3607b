"""The new module's Alembic migration, chained after the project's current head.

Alembic's own `ScriptDirectory` finds the head and writes the file through the
project's `script.py.mako`, so the revision looks like any `alembic revision`;
the operations come from `templates/migration/`.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import rev_id

from app.scaffold.names import ModuleNames, ScaffoldError, render

TEMPLATES = Path(__file__).parent / "templates" / "migration"


def migrations_of(root: Path) -> ScriptDirectory:
    """The migrations of the project at `root`, as its pyproject.toml configures them."""
    return ScriptDirectory.from_config(Config(toml_file=str(root / "pyproject.toml")))


def current_head(migrations: ScriptDirectory) -> str | None:
    """The one revision the new one follows (None before any); refuses a branched history."""
    heads = migrations.get_heads()
    if len(heads) > 1:
        raise ScaffoldError(
            f"the migrations have {len(heads)} heads ({', '.join(sorted(heads))}): "
            "merge them first (`.venv/bin/alembic merge heads`)"
        )
    return heads[0] if heads else None


def _function_body(template: str, names: ModuleNames) -> str:
    """A template's operations, indented to sit in the function body of `script.py.mako`."""
    return textwrap.indent(render(TEMPLATES / template, names), "    ").strip()


def write_migration(migrations: ScriptDirectory, head: str | None, names: ModuleNames) -> Path:
    """Write the revision that creates the module's table; its path."""
    script = migrations.generate_revision(
        rev_id(),
        f"{names.package}: the table of the new module",
        head=head or "base",
        upgrades=_function_body("upgrade.tmpl", names),
        downgrades=_function_body("downgrade.tmpl", names),
        imports="",
    )
    if script is None:  # pragma: no cover - only when a post-write hook deletes the file
        raise ScaffoldError("Alembic wrote no migration")
    return Path(script.path)
