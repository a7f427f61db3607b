"""`copier copy` and `copier update` of this repository as a template (copier.yml), run for
real from a snapshot of this working tree, and the generated projects checked with this
venv's tools: names, lint, formatting, types, import contracts and their own suite,
collected whole, of which some tests run (among them the app's migrations on SQLite, with
no drift from the models).

Keeping one demo module of two is checked on the task alone (tests/unit/test_new_project.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import copier
import pytest

from app.scaffold.new_project import BOTH_DEMOS, DEMO_PATHS, EMBEDDED_DATABASE_URL
from tests.copies import DEMO_USE, STILL_NAMING_DEMOS, assert_all_succeed
from tests.processes import PROJECT_ROOT

# Tens of seconds each (Copier renders the whole tree, up to four times): they start first.
pytestmark = [pytest.mark.runs_long, pytest.mark.template]

ANSWERS = {
    "project_name": "Book Club",
    "description": "Clubs that read together",
    "author": "Ada Lovelace",
}
GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]
# The one file of a project that names the kit: the task that renames it.
NAMES_THE_KIT = {"app/scaffold/new_project.py"}
SQLITE_ROUND_TRIP = "test_sqlite_upgrade_downgrade_upgrade_and_no_drift"
# `TEMPLATE_SUITES=whole` (CI, `.ci/run`): every test of each generated project runs
# there, in two processes; otherwise (`make test`, to stay fast) the listed ones.
WHOLE_SUITES = os.environ.get("TEMPLATE_SUITES") == "whole"


def git(folder: Path, *args: str) -> str:
    done = subprocess.run([*GIT, *args], cwd=folder, check=True, capture_output=True, text=True)
    return done.stdout


def commit_all(folder: Path, message: str) -> None:
    """`folder` as a new repository of one commit holding all of it."""
    git(folder, "init", "--quiet")
    git(folder, "add", "--all")
    git(folder, "commit", "--quiet", "-m", message)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This working tree, uncommitted changes included and ignored files not, as a
    repository of one commit: what `copier copy` of a clone would see."""
    root = tmp_path_factory.mktemp("template")
    listed = git(PROJECT_ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.split("\0")):
        if (PROJECT_ROOT / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_ROOT / name, root / name)
    commit_all(root, "The kit")
    return root


def generate(template: Path, target: Path, **answers: Any) -> Path:
    copier.run_copy(
        str(template),
        target,
        data=ANSWERS | answers,
        defaults=True,
        unsafe=True,  # the task
        vcs_ref="HEAD",
        quiet=True,
    )
    return target


def text_files(project: Path) -> dict[str, str]:
    files = {}
    for path in project.rglob("*"):
        relative = path.relative_to(project).as_posix()
        if path.is_file() and ".git" not in path.parts and "__pycache__" not in path.parts:
            try:
                files[relative] = path.read_text()
            except UnicodeDecodeError:
                continue
    return files


def assert_renamed(project: Path) -> dict[str, str]:
    files = text_files(project)
    naming_the_kit = {
        name for name, text in files.items() if re.search("modulith", text, re.IGNORECASE)
    }
    assert naming_the_kit == NAMES_THE_KIT
    assert '[project]\nname = "book-club"' in files["pyproject.toml"]
    assert 'authors = [{ name = "Ada Lovelace" }]' in files["pyproject.toml"]
    assert 'TITLE = "Book Club"' in files["app/main.py"]
    assert files["README.md"].startswith("# Book Club\n\nClubs that read together\n")
    assert "Copyright (c) 2026 Ada Lovelace" in files["LICENSE"]
    assert "name: book-club-api" in files["deploy/k8s/base/api-deployment.yaml"]
    assert "book_club_test" in files[".test.env"]
    answers = files[".copier-answers.yml"]
    assert "project_slug: book-club" in answers
    assert "_commit: " in answers
    return files


def as_installed(project: Path) -> None:
    """What its whole suite expects of a project: a repository (the bootstrap test clones
    it) and `.venv` (the pre-commit hooks run its tools): this venv."""
    if not (project / ".git").exists():
        commit_all(project, "Start from the kit")
    (project / ".venv").symlink_to(Path(sys.prefix))


def check_in_the_project(project: Path, database: str, keywords: list[str]) -> None:
    """What `make lint` runs (ruff, the formatting, the import contracts, the Dockerfile
    and compose checks, mypy --strict once the kit's cache is copied) and the project's
    own suite: collected whole (every test module imports), of which the tests `keywords`
    name run (each must name one at least), or all of it with `TEMPLATE_SUITES=whole`."""
    pytest_run = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"]
    if WHOLE_SUITES:
        as_installed(project)
        pytest_run += ["-n", "2", "--dist", "worksteal"]  # as the project's `make test`
    else:
        pytest_run += ["-p", "no:xdist", "-rA", "-k", " or ".join(keywords)]
    outputs = assert_all_succeed(
        project,
        {
            "ruff check": [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
            "ruff format": [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."],
            "lint-imports": [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
            "hadolint": [str(Path(sys.executable).with_name("hadolint")), "Dockerfile"],
            "compose schema": [
                str(Path(sys.executable).with_name("check-jsonschema")),
                *("--builtin-schema", "vendor.compose-spec"),
                *("docker-compose.yaml", "docker-compose.dev.yaml"),
            ],
            "pytest": pytest_run,
        },
        database=database,
        mypy=[sys.executable, "-m", "mypy"],
    )
    if not WHOLE_SUITES:
        passed = [line for line in outputs["pytest"].splitlines() if line.startswith("PASSED ")]
        unmatched = [word for word in keywords if not any(word in line for line in passed)]
        assert unmatched == [], f"no test of the project is named by {unmatched}"


def test_a_project_without_demo_modules(template: Path, tmp_path: Path) -> None:
    project = generate(
        template,
        tmp_path / "book-club",
        demo_modules=[],
        database="postgresql",
        license="proprietary",
    )
    files = assert_renamed(project)
    assert "database: postgresql" in files[".copier-answers.yml"]
    assert "2026 Ada Lovelace. All rights reserved.\n" in files["LICENSE"]
    assert '\nlicense = "LicenseRef-Proprietary"\n' in files["pyproject.toml"]
    assert '\nLICENSE = {"name": "Proprietary"}\n' in files["app/main.py"]
    default_url = "postgresql+psycopg://postgres@127.0.0.1:5432/book_club"
    assert f'DEFAULT_DATABASE_URL = "{default_url}"' in files["app/core/config.py"]
    assert f"\nDATABASE_URL={default_url}\n" in files[".sample.env"]
    for path in [*DEMO_PATHS["movies"], *DEMO_PATHS["posts"], *BOTH_DEMOS]:
        assert not (project / path).exists(), path
    assert not list((project / "migrations" / "versions").glob("*movies*"))
    assert "INSTALLED_MODULES: tuple[ModuleType, ...] = (auth,)" in files["app/modules.py"]
    assert "app.movies" not in files["pyproject.toml"]
    assert "def seed(" not in files["app/cli.py"]
    assert "## A tour with curl" not in files["README.md"]
    using_demos = {
        name
        for name, text in files.items()
        if name.endswith((".py", "Makefile", ".toml")) and DEMO_USE.search(text)
    }
    assert using_demos == STILL_NAMING_DEMOS
    check_in_the_project(
        project,
        "copier_none",
        [
            "test_login.py",
            "test_defaults_need_no_configuration",
            "test_operations.py",
            "test_a_branched_migration_history_is_refused",
            SQLITE_ROUND_TRIP,
        ],
    )


def test_a_project_with_every_demo_module_updated_to_a_later_kit(
    template: Path, tmp_path: Path
) -> None:
    """A project with a change of its own, updated to a kit commit that changes a file
    naming the kit: the change arrives renamed, and the project's stays. (One project for
    both: copier spends seconds of CPU on each render of this tree, an update renders it
    three times.)"""
    kit = tmp_path / "kit"
    git(tmp_path, "clone", "--quiet", str(template), str(kit))
    project = generate(kit, tmp_path / "book-club")
    ours = "\nOur own notes.\n"
    with (project / "docs" / "operations.md").open("a") as notes:
        notes.write(ours)
    commit_all(project, "Start from the kit")

    testing = kit / "docs" / "testing.md"
    testing.write_text(testing.read_text() + "\nDeploy fastapi-modulith with care.\n")
    git(kit, "commit", "--quiet", "--all", "-m", "A change of the kit")
    copier.run_update(
        project, defaults=True, overwrite=True, unsafe=True, vcs_ref="HEAD", quiet=True
    )

    assert (project / "docs" / "testing.md").read_text().endswith("\nDeploy book-club with care.\n")
    assert (project / "docs" / "operations.md").read_text().endswith(ours)
    changed = git(project, "status", "--porcelain").split("\n")
    assert sorted(filter(None, changed)) == [" M .copier-answers.yml", " M docs/testing.md"]
    files = assert_renamed(project)
    assert "from app import auth, movies, posts" in files["app/modules.py"]
    assert f'DEFAULT_DATABASE_URL = "{EMBEDDED_DATABASE_URL}"' in files["app/core/config.py"]
    assert (project / "app" / "movies").is_dir()
    assert (project / "bench").is_dir()
    check_in_the_project(
        project,
        "copier_all",
        [
            # The renamed manifests, overlays and components: still valid Kubernetes.
            "test_every_resource_is_valid_kubernetes[all-1.30]",
            "test_docs_use_no_cdn",
            "test_posts.py",
            SQLITE_ROUND_TRIP,
        ],
    )
