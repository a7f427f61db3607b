"""`python -m app new-module NAME`, run against a copy of the project (never this tree)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.scaffold import PROJECT_ROOT, ModuleNames, new_module, wire_modules

COPIED = ("app", "tests", "migrations", "pyproject.toml", "uv.lock", ".test.env")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's code, tests and configuration."""
    for name in COPIED:
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name)
        else:
            shutil.copy(source, tmp_path / name)
    return tmp_path


def run_in(project: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *command], cwd=project, capture_output=True, text=True, check=False
    )


def test_new_module_is_created_wired_and_clean(project: Path) -> None:
    result = CliRunner().invoke(cli, ["new-module", "book_reviews", "--root", str(project)])
    assert result.exit_code == 0, result.output
    assert 'uv run alembic revision --autogenerate -m "book_reviews"' in result.output
    assert "make test" in result.output
    package = project / "app" / "book_reviews"
    expected = ["__init__", "deps", "events", "exceptions", "gateway", "listeners", "models"]
    expected += ["repository", "router", "schemas", "service", "tasks"]
    assert sorted(path.stem for path in package.glob("*.py")) == sorted(expected)
    assert (project / "tests/integration/book_reviews/test_book_reviews.py").is_file()
    assert "class BookReview(" in (package / "models.py").read_text()
    assert '__tablename__ = "book_reviews"' in (package / "models.py").read_text()
    router = (package / "router.py").read_text()
    assert 'prefix="/book-reviews"' in router
    # The shared conventions of app/core, not a copy of them (see app/posts).
    assert "book_review_id: PathId" in router
    assert "response_class=Response" in router
    assert "class BookReviewUpdate(PatchModel)" in (package / "schemas.py").read_text()
    pyproject = (project / "pyproject.toml").read_text()
    assert '"app.book_reviews.router"' in pyproject
    assert '"app.book_reviews.repository"' in pyproject
    assert '"app.book_reviews.** -> app.auth"' in pyproject
    assert '"app.posts.** -> app.book_reviews"' in pyproject

    written = ["app/modules.py", "app/book_reviews", "tests/integration/book_reviews"]
    lint = run_in(project, "-m", "ruff", "check", "--no-cache", *written)
    assert lint.returncode == 0, lint.stdout
    fmt = run_in(project, "-m", "ruff", "format", "--check", "--no-cache", *written)
    assert fmt.returncode == 0, fmt.stdout
    code = "from app.modules import INSTALLED_MODULES; print(INSTALLED_MODULES[-1].__name__)"
    imported = run_in(project, "-c", code)
    assert imported.stdout.strip() == "app.book_reviews", imported.stderr


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Books", "not a valid module name"),
        ("2books", "not a valid module name"),
        ("book-reviews", "not a valid module name"),
        ("class", "is a Python keyword"),
        ("classes", "'class' is a Python keyword"),
        ("match", "is a Python keyword"),
        ("posts", "app/posts already exists"),
        ("core", "app/core already exists"),
        ("cli", "app/cli already exists"),
        ("x" * 41, "40 characters at most"),
    ],
)
def test_refused_names_exit_1_and_write_nothing(project: Path, name: str, reason: str) -> None:
    before = (project / "app" / "modules.py").read_text()
    result = CliRunner().invoke(cli, ["new-module", name, "--root", str(project)])
    assert result.exit_code == 1
    assert reason in result.output
    assert (project / "app" / "modules.py").read_text() == before


@pytest.mark.parametrize(
    ("plural", "singular"),
    [("books", "book"), ("categories", "category"), ("boxes", "box"), ("addresses", "address")],
)
def test_singular_names(plural: str, singular: str) -> None:
    assert ModuleNames(plural).singular == singular


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
    assert not new_module(project, "books").formatted
    assert (project / "app" / "books" / "router.py").is_file()
