"""`python -m app new-module NAME`, run against a copy of the project (never this tree).

Running the generated module's own tests takes seconds: that test is marked `scaffold`,
and `make test-scaffold` runs it alone.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.scaffold import PROJECT_ROOT, ModuleNames, new_module
from app.scaffold.migration import migrations_of
from app.scaffold.wiring import wire_modules
from tests.copies import assert_all_succeed

# Names no project is likely to have made with `new-module` already.
NEW_MODULE = "scaffold_samples"
PYTHON = [sys.executable, "-m"]
COPIED = ("app", "tests", "migrations", "pyproject.toml", "uv.lock", ".test.env")
# Up, down, up, then `alembic check`: the new migration and the new models agree. (The
# generated tests already migrate PostgreSQL up through it.)
SQLITE_ROUND_TRIP = (
    "tests/integration/test_migrations.py::test_sqlite_upgrade_downgrade_upgrade_and_no_drift"
)


def copy_project(target: Path) -> Path:
    """A copy of the project's code, tests and configuration (bytecode included, so the
    copy's subprocesses start as fast as this tree's)."""
    for name in COPIED:
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name)
        else:
            shutil.copy2(source, target / name)
    return target


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path)


@pytest.fixture(scope="module")
def untouched_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy shared by the tests that expect the scaffold to write nothing."""
    return copy_project(tmp_path_factory.mktemp("untouched"))


def generate(project: Path, name: str) -> Path:
    """`new-module name` through the CLI in the copy, checked; the migration it wrote."""
    head = migrations_of(project).get_current_head()
    result = CliRunner().invoke(cli, ["new-module", name, "--root", str(project)])
    assert result.exit_code == 0, result.output
    [migration] = (project / "migrations" / "versions").glob(f"*_{name}_*.py")
    assert f'down_revision: str | Sequence[str] | None = "{head}"' in migration.read_text()
    assert f"make migrate   # creates the {name} table ({migration.relative_to(project)})" in (
        result.output
    )
    return migration


def test_a_new_module_passes_ruff_mypy_and_the_import_contracts(project: Path) -> None:
    """The generated code and the edited wiring, checked in the copy as CI checks this tree."""
    migration = generate(project, "book_series")
    assert not (project / "app" / "book_series" / "listeners.py").exists()

    written = ["app/modules.py", "app/book_series", "tests/integration/book_series", str(migration)]
    assert_all_succeed(
        project,
        {
            "ruff check": [*PYTHON, "ruff", "check", "--no-cache", *written],
            "ruff format": [*PYTHON, "ruff", "format", "--check", "--no-cache", *written],
            "lint-imports": [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        },
        mypy=[*PYTHON, "mypy", *written[:3]],
    )


@pytest.mark.runs_long
@pytest.mark.scaffold
def test_a_new_module_passes_its_own_tests(project: Path) -> None:
    """The generated tests, on a PostgreSQL database of their own migrated through the new
    migration, and the SQLite round trip of every migration."""
    generate(project, "book_series")
    pytest_run = [*PYTHON, "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
    pytest_run += ["-p", "no:cov", "tests/integration/book_series", SQLITE_ROUND_TRIP]
    assert_all_succeed(project, {"pytest": pytest_run})


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Books", "not a valid module name"),
        ("2books", "not a valid module name"),
        ("book-reviews", "not a valid module name"),
        ("class", "is a Python keyword"),
        ("classes", "'class' is a Python keyword"),
        ("match", "is a Python keyword"),
        ("posts", "app/posts already exists"),  # demo: posts
        ("core", "app/core already exists"),
        ("cli", "app/cli already exists"),
        ("users", "`user_id` is the owner column"),
        ("pages", "would name its model Page"),
        ("x" * 37, "36 characters at most"),
    ],
)
def test_refused_names_exit_1_and_write_nothing(
    untouched_project: Path, name: str, reason: str
) -> None:
    before = (untouched_project / "app" / "modules.py").read_text()
    migrations = sorted((untouched_project / "migrations" / "versions").iterdir())
    result = CliRunner().invoke(cli, ["new-module", name, "--root", str(untouched_project)])
    assert result.exit_code == 1
    assert reason in result.output
    assert (untouched_project / "app" / "modules.py").read_text() == before
    assert sorted((untouched_project / "migrations" / "versions").iterdir()) == migrations


def test_a_branched_migration_history_is_refused(project: Path) -> None:
    """A second head (two branches never merged): the new revision could follow neither.
    (The branch follows the first revision, auth's, which every project has.)"""
    branch = project / "migrations" / "versions" / "branch.py"
    branch.write_text('revision = "b1"\ndown_revision = "a7c3e91d2f40"\n')
    result = CliRunner().invoke(cli, ["new-module", NEW_MODULE, "--root", str(project)])
    assert result.exit_code == 1
    assert "the migrations have 2 heads" in result.output
    assert not (project / "app" / NEW_MODULE).exists()


@pytest.mark.parametrize(
    ("plural", "singular"),
    [
        ("books", "book"),
        ("statuses", "status"),
        ("series", "series"),
        ("categories", "category"),
        ("addresses", "address"),
        ("book_reviews", "book_review"),
    ],
)
def test_singular_names_are_inflected(plural: str, singular: str) -> None:
    assert ModuleNames.of(plural).singular == singular


def test_a_given_singular_wins() -> None:
    names = ModuleNames.of("data", "data_point")
    assert (names.singular, names.model) == ("data_point", "DataPoint")
    assert names.substitutions()["Plural"] == "Data"


def test_long_module_lists_wrap_one_name_a_line() -> None:
    source = (
        "from app import auth, movies, posts\n"
        "INSTALLED_MODULES: tuple[ModuleType, ...] = (auth, movies, posts)\n"
    )
    for name in ("comments", "notifications", "subscriptions", "attachments", "bookmarks", "tags"):
        source = wire_modules(source, name)
    assert source.startswith("from app import (\n    attachments,\n    auth,\n")
    assert "= (\n    auth,\n    movies,\n    posts,\n    comments,\n" in source
    assert source.count("tags,\n") == 2


def test_without_ruff_the_files_are_left_unformatted(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert not new_module(project, NEW_MODULE).formatted
    assert (project / "app" / NEW_MODULE / "router.py").is_file()
