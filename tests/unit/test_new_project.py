"""The task that makes a copy of the kit a project (app/scaffold/new_project.py), on the
kit's own files: markers, wiring, migrations and names. Copier runs it for real in
tests/integration/test_copier_template.py."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from dotenv import dotenv_values
from pydantic import SecretStr

from app.core.config import DEFAULT_DATABASE_URL
from app.scaffold.new_project import (
    DEMO_MODULES,
    EMBEDDED_DATABASE_URL,
    SHARED_MIGRATIONS,
    Project,
    ProjectError,
    main,
    paths_of,
    remove_migration,
    renamed,
    strip_marked,
    text_files,
    unwire_contracts,
    unwire_modules,
)
from tests.conftest import load_test_settings
from tests.copies import DEMO_USE, STILL_NAMING_DEMOS
from tests.processes import PROJECT_ROOT

[SHARED] = SHARED_MIGRATIONS
BOOK_CLUB = Project("Book Club", "book-club", "Clubs that read", "Ada", "Ada")


@pytest.mark.parametrize(("removed", "kept"), [("movies", "posts"), ("posts", "movies")])
def test_a_shared_migration_keeps_the_tables_of_the_module_kept(removed: str, kept: str) -> None:
    migration = strip_marked((PROJECT_ROOT / SHARED).read_text(), [removed])
    compile(migration, SHARED, "exec")
    assert f'"{removed}"' not in migration
    assert f'op.create_table(\n        "{kept}"' in migration
    assert f'op.drop_table("{kept}")' in migration


def test_marked_lines_and_blocks_go_with_their_module_only() -> None:
    text = (
        "keep\n"
        "one  # demo: movies\n"
        "# demo: posts\n"
        "block\n"
        "# end demo: posts\n"
        "<!-- demo: movies posts -->\n"
        "both\n"
        "<!-- end demo: movies posts -->\n"
        "last\n"
    )
    assert strip_marked(text, ["movies"]) == (
        "keep\n# demo: posts\nblock\n# end demo: posts\nlast\n"
    )
    assert strip_marked(text, []) == text
    with pytest.raises(ProjectError, match="no `end demo: posts`"):
        strip_marked("# demo: posts\nnever closed\n", ["posts"])


def test_removing_marked_blocks_leaves_no_run_of_blank_lines() -> None:
    factories = strip_marked(
        (PROJECT_ROOT / "tests" / "factories.py").read_text(), ["movies", "posts"]
    )
    assert "\n\n\n\n" not in factories
    assert factories.endswith("return user\n")


def test_unwiring_keeps_a_tuple_of_one() -> None:
    source = (PROJECT_ROOT / "app" / "modules.py").read_text()
    without = unwire_modules(source, ["movies", "posts"])
    assert "\nfrom app import auth\n" in without
    assert "INSTALLED_MODULES: tuple[ModuleType, ...] = (auth,)" in without
    assert "(auth, posts)" in unwire_modules(source, ["movies"])


def test_unwiring_the_contracts_drops_every_rule_naming_the_module() -> None:
    contracts = unwire_contracts((PROJECT_ROOT / "pyproject.toml").read_text(), ["posts"])
    assert "app.posts" not in contracts
    assert '"app.movies.** -> app.auth",\n    "app.auth.** -> app.movies",' in contracts
    assert 'source_modules = ["app.auth.router", "app.movies.router"]' in contracts


def test_a_removed_migration_is_relinked_around(tmp_path: Path) -> None:
    versions = PROJECT_ROOT / "migrations" / "versions"
    shutil.copytree(versions, tmp_path / "migrations" / "versions")
    remove_migration(tmp_path / SHARED)
    following = tmp_path / "migrations" / "versions" / "2026_11_23_cache_invalidations.py"
    assert 'down_revision: str | Sequence[str] | None = "5b1f0c9d7e21"' in following.read_text()
    assert not (tmp_path / SHARED).exists()


def test_renaming_is_idempotent() -> None:
    text = "fastapi-modulith fastapi_modulith_client modulith_test modulith-dev Modulith <a@b>"
    once = renamed(text, BOOK_CLUB)
    assert once == "book-club book_club_client book_club_test book-club-dev Book Club <a@b>"
    assert renamed(once, BOOK_CLUB) == once


@pytest.mark.parametrize(
    ("slug", "title", "reason"),
    [
        ("Book-Club", "Book Club", "no project slug"),
        ("book--club", "Book Club", "no project slug"),
        ("2books", "Book Club", "no project slug"),
        ("modulith-shop", "Shop", "without the kit's name"),
        ("book-club", 'The "Club"', "without"),
        ("book-club", "Clubs: the API", "without"),
    ],
)
def test_refused_answers(slug: str, title: str, reason: str) -> None:
    with pytest.raises(ProjectError, match=reason):
        Project(title, slug, "", "", "").check()


def test_an_unknown_demo_module_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--title", "T", "--slug", "t", "--keep", "films"]) == 1
    assert "no demo module named films" in capsys.readouterr().err


def test_every_path_a_project_drops_is_one_of_the_kit() -> None:
    """A demo-only file renamed in the kit would otherwise stay in projects, broken."""
    missing = [
        path for path in paths_of(frozenset(DEMO_MODULES)) if not (PROJECT_ROOT / path).exists()
    ]
    assert missing == []


def test_the_code_that_uses_the_demos_goes_with_them() -> None:
    """What a project without the demos keeps (marked lines stripped) names none of them,
    but for the core's documentation examples: a new test of a demo module is listed in
    `DEMO_PATHS` or marked, or projects without it fail."""
    excluded = yaml.safe_load((PROJECT_ROOT / "copier.yml").read_text())["_exclude"]
    gone = [PROJECT_ROOT / path for path in (*paths_of(frozenset(DEMO_MODULES)), *excluded)]
    still_using = {
        path.relative_to(PROJECT_ROOT).as_posix()
        for path, text in text_files(PROJECT_ROOT)
        if path.suffix == ".py"
        and path.parts[len(PROJECT_ROOT.parts)] in ("app", "tests", "migrations")
        and not any(path == removed or removed in path.parents for removed in gone)
        and DEMO_USE.search(strip_marked(text, DEMO_MODULES))
    }
    assert still_using == STILL_NAMING_DEMOS


def copy_of_the_kit(root: Path) -> None:
    """The kit's code, migrations, docs, README, licence and settings, in `root`."""
    for name in ("app", "migrations", "docs"):
        shutil.copytree(
            PROJECT_ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    for name in ("README.md", "LICENSE", "pyproject.toml", "Makefile", ".sample.env"):
        shutil.copy(PROJECT_ROOT / name, root / name)


def test_the_task_makes_a_copy_of_the_kit_a_project_without_the_demos(tmp_path: Path) -> None:
    """The task as Copier runs it, here in this process, on a copy of the kit's code,
    migrations, README and licence (Copier itself: tests/integration/test_copier_template.py)."""
    copy_of_the_kit(tmp_path)
    arguments = ["--root", str(tmp_path), "--title", "Book Club", "--slug", "book-club"]
    arguments += ["--database", "postgresql"]
    assert main([*arguments, "--author", "Ada", "--keep", ""]) == 0

    assert not (tmp_path / "app" / "posts").exists()
    assert not list((tmp_path / "migrations" / "versions").glob("*posts*"))
    readme = (tmp_path / "README.md").read_text()
    assert readme.startswith("# Book Club\n")
    assert "## A tour with curl" not in readme
    assert 'TITLE = "Book Club"' in (tmp_path / "app" / "main.py").read_text()
    assert "Ada" in (tmp_path / "LICENSE").read_text()
    assert "Permission is hereby granted" in (tmp_path / "LICENSE").read_text()  # MIT
    assert '\nlicense = "MIT"\n' in (tmp_path / "pyproject.toml").read_text()
    assert 'authors = [{ name = "Ada" }]' in (tmp_path / "pyproject.toml").read_text()
    assert "modulith" not in (tmp_path / "Makefile").read_text()
    assert_serves_on_its_own_postgresql_database(tmp_path)

    generated = dotenv_values(tmp_path / ".env")
    key = generated["SECRET_KEY"]
    assert key is not None
    production = load_test_settings(environment="production", secret_key=SecretStr(key))
    assert production.secret_key.get_secret_value() == key  # strong enough for production
    assert main([*arguments, "--keep", ""]) == 0  # as `copier update` runs it again
    assert dotenv_values(tmp_path / ".env") == generated
    assert_serves_on_its_own_postgresql_database(tmp_path)


BOOK_CLUB_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/book_club"


def assert_serves_on_its_own_postgresql_database(project: Path) -> None:
    """Its default DATABASE_URL, its sample settings and its README name its PostgreSQL
    database (and `.env`, which compose reads too, names none)."""
    config = (project / "app" / "core" / "config.py").read_text()
    assert f'DEFAULT_DATABASE_URL = "{BOOK_CLUB_DATABASE}"' in config
    sample = dotenv_values(project / ".sample.env")
    assert sample["DATABASE_URL"] == BOOK_CLUB_DATABASE
    assert f"# DATABASE_URL={EMBEDDED_DATABASE_URL}\n" in (project / ".sample.env").read_text()
    readme = (project / "README.md").read_text()
    assert f"it serves on PostgreSQL: `{BOOK_CLUB_DATABASE}`" in readme
    assert "createdb -h 127.0.0.1 -U postgres book_club" in readme
    assert f"| `DATABASE_URL` | `{BOOK_CLUB_DATABASE}` |" in readme
    assert "— on PostgreSQL" in readme
    assert "SQLite database" not in readme
    assert "embedded SQLite default" not in (project / ".sample.env").read_text()
    assert "`make run` needs only the database" in (project / ".sample.env").read_text()
    assert "(on its PostgreSQL database)" in (project / "Makefile").read_text()
    assert "DATABASE_URL" not in (project / ".env").read_text()


def test_a_proprietary_project_grants_no_licence_and_keeps_the_kit_year(tmp_path: Path) -> None:
    copy_of_the_kit(tmp_path)
    arguments = ["--root", str(tmp_path), "--title", "Book Club", "--slug", "book-club"]
    arguments += ["--license", "proprietary", "--license-holder", "Ada Lovelace"]
    assert main(arguments) == 0
    licence = (tmp_path / "LICENSE").read_text()
    year = re.search(r"Copyright \(c\) (\d{4})", (PROJECT_ROOT / "LICENSE").read_text())
    assert year is not None
    assert licence.startswith(f"Copyright (c) {year[1]} Ada Lovelace. All rights reserved.\n")
    assert "Permission is hereby granted" not in licence
    assert '\nlicense = "LicenseRef-Proprietary"\n' in (tmp_path / "pyproject.toml").read_text()
    # The OpenAPI document's licence too.
    assert '\nLICENSE = {"name": "Proprietary"}\n' in (tmp_path / "app" / "main.py").read_text()
    assert main(arguments) == 0  # as `copier update` runs it again
    assert (tmp_path / "LICENSE").read_text() == licence


def test_an_unknown_licence_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--title", "T", "--slug", "t", "--license", "GPL"]) == 1
    assert "the licence is one of MIT, proprietary" in capsys.readouterr().err


def test_the_kit_serves_on_the_embedded_database() -> None:
    assert DEFAULT_DATABASE_URL == EMBEDDED_DATABASE_URL
    assert DEFAULT_DATABASE_URL in (PROJECT_ROOT / "README.md").read_text()
    assert dotenv_values(PROJECT_ROOT / ".sample.env")["DATABASE_URL"] == EMBEDDED_DATABASE_URL


def test_an_unknown_database_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--title", "T", "--slug", "t", "--database", "mysql"]) == 1
    assert "the database is one of sqlite, postgresql" in capsys.readouterr().err
