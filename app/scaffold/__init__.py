"""`python -m app new-module NAME`: a new business module in the shape of `app/posts`.

It writes the module's package and its HTTP tests from the templates next to this
file (`string.Template`), an Alembic migration for its table chained after the current
head, and installs it in `app/modules.py` and the import contracts of pyproject.toml.
Every check and every edit is computed before the first file is written, so a refusal
leaves the project as it was.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from app.scaffold.migration import current_head, migrations_of, write_migration
from app.scaffold.names import TEMPLATES, ModuleNames, ScaffoldError, check_name, render
from app.scaffold.wiring import wire_contracts, wire_modules

PROJECT_ROOT = Path(__file__).resolve().parents[2]

__all__ = ["PROJECT_ROOT", "ModuleNames", "ScaffoldError", "Scaffolded", "new_module", "next_steps"]


def write_files(root: Path, names: ModuleNames) -> list[Path]:
    """The module's package and its integration tests, rendered from the templates."""
    targets = {
        "module": root / "app" / names.package,
        "tests": root / "tests" / "integration" / names.package,
    }
    written = []
    for kind, folder in targets.items():
        folder.mkdir(parents=True)
        for template in sorted((TEMPLATES / kind).glob("*.py.tmpl")):
            stem = template.name.removesuffix(".py.tmpl")
            filename = f"test_{names.package}.py" if stem == "test_module" else f"{stem}.py"
            (folder / filename).write_text(render(template, names))
            written.append(folder / filename)
    (targets["tests"] / "__init__.py").write_text("")
    return written


def tidy(paths: list[Path]) -> bool:
    """Sort imports and `__all__`, and format the generated files with ruff, if installed."""
    if importlib.util.find_spec("ruff") is None:
        return False
    files = [str(path) for path in paths]
    ruff = [sys.executable, "-m", "ruff"]
    sort = ["check", "--quiet", "--fix", "--select", "I,RUF022"]
    subprocess.run([*ruff, *sort, *files], check=False)  # noqa: S603
    subprocess.run([*ruff, "format", "--quiet", *files], check=True)  # noqa: S603
    return True


@dataclass(frozen=True)
class Scaffolded:
    names: ModuleNames
    files: list[Path]
    migration: Path
    formatted: bool


def new_module(root: Path, name: str, singular: str | None = None) -> Scaffolded:
    """Create `app/<name>/`, its tests and its migration; install it in the wiring files."""
    names = check_name(root, name, singular)
    modules_file, pyproject = root / "app" / "modules.py", root / "pyproject.toml"
    wired_modules = wire_modules(modules_file.read_text(), name)
    wired_contracts = wire_contracts(pyproject.read_text(), name)
    migrations = migrations_of(root)
    head = current_head(migrations)
    files = write_files(root, names)
    migration = write_migration(migrations, head, names)
    modules_file.write_text(wired_modules)
    pyproject.write_text(wired_contracts)
    return Scaffolded(names, files, migration, tidy([*files, migration, modules_file]))


def next_steps(created: Scaffolded, root: Path) -> list[str]:
    package = created.names.package
    return [
        f"make migrate   # creates the {package} table ({created.migration.relative_to(root)})",
        "make test",
        f'after changing app/{package}/models.py: make revision m="{package}: ..." and review it',
        "reactions to other modules' events or background work: add listeners.py or "
        "tasks.py as in app/posts",
    ]
