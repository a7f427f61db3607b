"""Turn a copy of the kit into a project of its own: its name, and without the demo modules
it does not want.

Copier runs this file after copying the kit (`copier.yml`, `_tasks`), with copier's own
Python, so it imports the standard library only and runs as a script:

    python app/scaffold/new_project.py --title "Book Club" --slug book-club \\
        --description "..." --author "Ada" --keep posts --database postgresql

Every step is idempotent: `copier update` runs it again on fresh renders of the kit, and
answering `demo_modules` anew (`copier update --data ...`) removes a demo module later.

A demo module is removed with everything that exists only for it (`DEMO_PATHS`), the
lines of shared files marked for it (`# demo: movies` at the end of a line, or a block
between the comment lines `# demo: movies` and `# end demo: movies`; `<!-- -->` in
Markdown), its entries in `app/modules.py` and in the import contracts of pyproject.toml,
and its migrations, the chain relinked around them.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import shutil
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

KIT = "fastapi-modulith"
GENERATED_NOTE = (
    "Generated from a starter kit with Copier (its source and version are in "
    "`.copier-answers.yml`; `copier update` brings its later changes, see "
    "[docs/starting-a-project.md](docs/starting-a-project.md)). What follows is the kit's "
    "manual."
)
DEMO_MODULES = ("movies", "posts")
# Files and folders that exist only for a demo module; a path under both names goes when
# either module goes.
DEMO_PATHS: dict[str, tuple[str, ...]] = {
    "movies": (
        "app/movies",
        "tests/integration/movies",
        "tests/integration/test_cache.py",
    ),
    "posts": (
        "app/posts",
        "tests/integration/posts",
        "migrations/versions/2026_11_30_posts_keyset_index.py",
        "tests/integration/test_transactions.py",
        "tests/integration/test_event_deliveries.py",
        "tests/integration/test_database_outage.py",
        "tests/integration/test_hosts.py",
        "tests/integration/test_security_headers.py",
        "tests/integration/test_problem_types.py",
        "tests/integration/test_problem_docs.py",
        "tests/integration/test_docs_in_a_browser.py",
    ),
}
# What measures, lists or tours both demo modules together.
BOTH_DEMOS = (
    "bench",
    "docs/performance.md",
    "tests/integration/test_bench.py",
    "tests/integration/test_reference_parity.py",
    "tests/unit/test_bench_tools.py",
    "tests/unit/test_bench_report.py",
    "tests/integration/test_generated_client.py",
    "tests/integration/test_openapi_document.py",
    "tests/integration/paging.py",
    "tests/integration/test_paging.py",
    "tests/integration/test_paging_properties.py",
    "tests/integration/test_readme_commands.py",
    "tests/integration/test_queries.py",
)
# Migrations that create the tables of several demo modules: deleted once all are removed
# (until then, the marked blocks of a removed one go).
SHARED_MIGRATIONS = {"migrations/versions/2026_11_23_movies_and_posts.py": DEMO_MODULES}
# The README's sections that show the demo modules at work.
README_DEMO_SECTIONS = ("## A tour with curl",)
# Never renamed: this file holds the kit's names it replaces.
NOT_RENAMED = ("app/scaffold/new_project.py", ".copier-answers.yml")
SKIPPED_FOLDERS = {".git", ".venv", ".tools", "var", "__pycache__", "node_modules"}
SKIPPED_FOLDERS |= {".mypy_cache", ".ruff_cache", ".pytest_cache", ".import_linter_cache"}

# The database a project serves on without DATABASE_URL: the kit's embedded SQLite, or a
# PostgreSQL database on this machine named after the project (`Project.database_url`).
DATABASES = ("sqlite", "postgresql")


@dataclass(frozen=True)
class License:
    """How a licence is named: in pyproject.toml (SPDX) and in the OpenAPI document
    (`LICENSE` in app/main.py)."""

    spdx: str
    openapi: str


# The licences a project may take, by answer.
LICENSES = {
    "MIT": License("MIT", '{"name": "MIT", "identifier": "MIT"}'),
    "proprietary": License("LicenseRef-Proprietary", '{"name": "Proprietary"}'),
}
EMBEDDED_DATABASE_URL = "sqlite+aiosqlite:///./var/app.db"
SAMPLE_POSTGRESQL_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/app"

MARKER = re.compile(r"(?:#|<!--)\s*(end )?demo: ([a-z_ ]+?)\s*(?:-->)?\s*$")


class ProjectError(ValueError):
    """The answers cannot make a project; the message says why."""


@dataclass(frozen=True)
class Project:
    """The answers: the project's names and the demo modules it drops."""

    title: str
    slug: str
    description: str
    author: str
    license_holder: str
    removed: frozenset[str] = frozenset()
    database: str = "sqlite"
    license: str = "MIT"

    @property
    def snake(self) -> str:
        """The slug as an identifier: database names, Python packages."""
        return self.slug.replace("-", "_")

    @property
    def database_url(self) -> str:
        """Its DATABASE_URL when none is set."""
        if self.database == "postgresql":
            return f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.snake}"
        return EMBEDDED_DATABASE_URL

    def check(self) -> None:
        if self.license not in LICENSES:
            raise ProjectError(f"{self.license!r}: the licence is one of {', '.join(LICENSES)}")
        if self.database not in DATABASES:
            raise ProjectError(f"{self.database!r}: the database is one of {', '.join(DATABASES)}")
        if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", self.slug):
            raise ProjectError(
                f"{self.slug!r} is no project slug: lowercase letters and digits, "
                "words joined by single hyphens (e.g. book-club)"
            )
        if "modulith" in self.slug:
            raise ProjectError(f"{self.slug!r}: choose a slug without the kit's name in it")
        # It lands in Python strings, YAML and .env values (MAIL_FROM) unquoted.
        if not self.title.strip() or any(c in self.title for c in '"\\:#\n'):
            raise ProjectError(f'{self.title!r}: a title is one line, without " \\ : or #')


# --- demo modules ----------------------------------------------------------------------


def strip_marked(text: str, removed: Iterable[str]) -> str:
    """`text` without the lines and blocks marked for a removed module."""
    gone = set(removed)
    kept: list[str] = []
    skipping: str | None = None
    for line in text.splitlines(keepends=True):
        marker = MARKER.search(line)
        names = set(marker.group(2).split()) if marker else set()
        if skipping is not None:
            if marker and marker.group(1) and skipping in names:
                skipping = None
            continue
        if marker and not marker.group(1) and names & gone:
            if line[: marker.start()].strip():
                continue  # one marked line
            skipping = next(iter(names & gone))
            continue
        kept.append(line)
    if skipping is not None:
        raise ProjectError(f"a `demo: {skipping}` block has no `end demo: {skipping}`")
    stripped = "".join(kept)
    if stripped == text:
        return text
    # What stood around a removed block: at most two blank lines, none at the end.
    return re.sub(r"\n{4,}", "\n\n\n", stripped).rstrip("\n") + "\n"


def _items(body: str) -> list[str]:
    return [item.strip() for item in body.split(",") if item.strip()]


def unwire_modules(source: str, removed: Iterable[str]) -> str:
    """`app/modules.py` without the removed modules' import and `INSTALLED_MODULES` entry."""
    gone = set(removed)

    def without(found: re.Match[str]) -> str:
        kept = [item for item in _items(found.group(2)) if item not in gone]
        # A tuple of one keeps its comma: `(auth,)`.
        joined = ", ".join(kept) + ("," if len(kept) == 1 and found.group(3) else "")
        return f"{found.group(1)}{joined}{found.group(3)}"

    source = re.sub(r"^(from app import \(?)([^)\n]*)(\)?)$", without, source, flags=re.M)
    return re.sub(
        r"^(INSTALLED_MODULES: tuple\[ModuleType, \.\.\.\] = \()([^)]*)(\))",
        without,
        source,
        flags=re.M,
    )


def unwire_contracts(source: str, removed: Iterable[str]) -> str:
    """pyproject.toml without the removed modules in the import contracts' lists."""
    start = source.find("[tool.importlinter]")
    if start == -1:
        return source
    module = re.compile(r"\bapp\.(" + "|".join(map(re.escape, removed)) + r")\b")

    def without(found: re.Match[str]) -> str:
        items = re.findall(r'"[^"]*"', found.group(2))
        kept = [item for item in items if not module.search(item)]
        if "\n" in found.group(2):
            body = "\n" + "".join(f"    {item},\n" for item in kept)
        else:
            body = ", ".join(kept)
        return f"{found.group(1)}[{body}]"

    contracts = re.sub(r"^(\w+ = )\[(.*?)\]$", without, source[start:], flags=re.M | re.S)
    return source[:start] + contracts


def _revisions(path: Path) -> tuple[str, str]:
    """A migration's revision and the revision it follows."""
    text = path.read_text()
    revision = re.search(r'^revision: str = "(\w+)"', text, re.M)
    parent = re.search(r'^down_revision: [^=]+= "(\w+)"', text, re.M)
    if revision is None or parent is None:
        raise ProjectError(f"{path}: no revision and down_revision to relink around")
    return revision.group(1), parent.group(1)


def remove_migration(path: Path) -> None:
    """Delete a migration; the one that followed it follows its parent instead."""
    revision, parent = _revisions(path)
    for other in path.parent.glob("*.py"):
        text = other.read_text()
        relinked = re.sub(
            rf'^(down_revision: [^=]+= )"{revision}"', rf'\1"{parent}"', text, flags=re.M
        )
        if relinked != text:
            other.write_text(relinked)
    path.unlink()


def paths_of(removed: frozenset[str]) -> list[str]:
    """Every file or folder that goes with the removed modules (migrations apart)."""
    paths = [path for name in sorted(removed) for path in DEMO_PATHS[name]]
    return paths + list(BOTH_DEMOS) if removed else paths


def remove_demos(root: Path, removed: frozenset[str]) -> None:
    for relative in paths_of(removed):
        path = root / relative
        if path.suffix == ".py" and path.parent.name == "versions" and path.exists():
            remove_migration(path)
        elif path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    for relative, owners in SHARED_MIGRATIONS.items():
        if set(owners) <= removed and (root / relative).exists():
            remove_migration(root / relative)
    modules, pyproject = root / "app" / "modules.py", root / "pyproject.toml"
    modules.write_text(unwire_modules(modules.read_text(), removed))
    pyproject.write_text(unwire_contracts(pyproject.read_text(), removed))


# --- names -----------------------------------------------------------------------------


def renamed(text: str, project: Project) -> str:
    """`text` with the kit's names replaced by the project's."""
    text = text.replace(KIT, project.slug).replace(KIT.replace("-", "_"), project.snake)
    text = re.sub(r"\bmodulith(?=_)", project.snake, text)
    text = re.sub(r"\bmodulith\b", project.slug, text)
    return re.sub(r"\bModulith\b", project.title, text)


def text_files(root: Path) -> Iterator[tuple[Path, str]]:
    """Every UTF-8 file of the project (its tools, caches and data aside)."""
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if SKIPPED_FOLDERS & set(relative.parts) or not path.is_file():
            continue
        if relative.as_posix() in NOT_RENAMED:
            continue
        try:
            yield path, path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue


def readme(text: str, project: Project) -> str:
    """The (renamed) README, introduced as the project's, without the tour of removed demos."""
    if GENERATED_NOTE not in text:
        _, _, manual = text.partition("\n")
        intro = f"# {project.title}\n\n{project.description}\n\n{GENERATED_NOTE}"
        if project.database == "postgresql":
            intro += (
                f" Without `DATABASE_URL`, it serves on PostgreSQL: `{project.database_url}`"
                f" (create it once: `createdb -h 127.0.0.1 -U postgres {project.snake}`; the"
                " server must let `postgres` in without a password, or set DATABASE_URL"
                " with a user and password of yours)."
            )
        text = f"{intro}\n\n## The kit's manual\n{manual}"
    if project.removed:
        for heading in README_DEMO_SECTIONS:
            before, found, after = text.partition(f"\n{heading}\n")
            if found:
                _, next_heading, rest = after.partition("\n## ")
                text = before + (f"\n## {rest}" if next_heading else "")
    return text


def default_database_edits(project: Project) -> dict[str, list[tuple[str, str]]]:
    """Per file, the texts that name the kit's default database, and what replaces them
    in `project` (none for the embedded default). Each replacement is done once: its new
    text does not contain the old one."""
    if project.database_url == EMBEDDED_DATABASE_URL:
        return {}
    url, embedded = project.database_url, EMBEDDED_DATABASE_URL
    return {
        "app/core/config.py": [
            (f'DEFAULT_DATABASE_URL = "{embedded}"', f'DEFAULT_DATABASE_URL = "{url}"')
        ],
        ".sample.env": [
            (
                "Nothing here is required for `make run`.",
                "`make run` needs only the database of DATABASE_URL's default.",
            ),
            (
                "# Any SQLAlchemy async URL: the embedded SQLite default, or PostgreSQL "
                f"through psycopg 3:\n# DATABASE_URL={SAMPLE_POSTGRESQL_URL}\n"
                f"DATABASE_URL={embedded}\n",
                "# Any SQLAlchemy async URL: the project's PostgreSQL database (psycopg 3), "
                f"or the embedded SQLite:\n# DATABASE_URL={embedded}\nDATABASE_URL={url}\n",
            ),
        ],
        "Makefile": [("(SQLite, no services needed)", "(on its PostgreSQL database)")],
        "README.md": [
            ("127.0.0.1:8000 — SQLite, no services", "127.0.0.1:8000 — on PostgreSQL"),
            (
                "migrates the embedded SQLite database (`./var/app.db`) and serves",
                "migrates its PostgreSQL database (above) and serves",
            ),
            (
                f"| `{embedded}` | e.g. `postgresql+psycopg://user:pass@host:5432/db` |",
                f"| `{url}` | or the embedded `{embedded}` |",
            ),
        ],
    }


def apply_names(root: Path, project: Project) -> None:
    license_file = root / "LICENSE"
    database_edits = default_database_edits(project)
    for path, text in text_files(root):
        new = renamed(strip_marked(text, project.removed), project)
        for old, replacement in database_edits.get(path.relative_to(root).as_posix(), []):
            new = new.replace(old, replacement)
        if path == root / "README.md":
            new = readme(new, project)
        if path == license_file:
            new = license_text(new, project)
        if path == root / "pyproject.toml":
            new = re.sub(
                r'^description = ".*"$',
                f"description = {json.dumps(project.description)}",
                new,
                flags=re.M,
            )
            new = re.sub(
                r'^license = ".*"$',
                f"license = {json.dumps(LICENSES[project.license].spdx)}",
                new,
                count=1,
                flags=re.M,
            )
            if project.author and "\nauthors = " not in new:
                author = f"authors = [{{ name = {json.dumps(project.author)} }}]"
                new = re.sub(r"^(description = .*)$", rf"\1\n{author}", new, count=1, flags=re.M)
        if path == root / "app" / "main.py":
            new = re.sub(r'^TITLE = ".*"$', f'TITLE = "{project.title}"', new, flags=re.M)
            licence = LICENSES[project.license].openapi
            new = re.sub(r"^LICENSE = \{.*\}$", f"LICENSE = {licence}", new, flags=re.M)
        if new != text:
            path.write_text(new, encoding="utf-8")


def license_text(kit_licence: str, project: Project) -> str:
    """The project's LICENSE, from the kit's (MIT): the same year, the project's holder,
    and for a proprietary project a notice that grants nothing instead of MIT's terms."""
    copyright_line = re.search(r"^Copyright \(c\) (\d{4}) .*$", kit_licence, flags=re.M)
    if copyright_line is None:
        raise ProjectError("LICENSE has no `Copyright (c) <year> <holder>` line")
    year = copyright_line.group(1)
    if project.license == "proprietary":
        return (
            f"Copyright (c) {year} {project.license_holder}. All rights reserved.\n\n"
            "This software is proprietary and confidential. No licence to use, copy, modify\n"
            "or distribute it, or any part of it, is granted without the written permission\n"
            "of the copyright holder.\n"
        )
    return kit_licence.replace(
        copyright_line.group(0), f"Copyright (c) {year} {project.license_holder}"
    )


def write_secrets(root: Path) -> None:
    """A `.env` of the project's own with fresh secrets (`SECRET_KEY`, and the
    `POSTGRES_PASSWORD` compose requires), unless it has one: an update keeps it."""
    env = root / ".env"
    if env.exists():
        return
    env.write_text(
        "# This project's secrets, made when it was generated; never commit this file.\n"
        f"SECRET_KEY={secrets.token_urlsafe(48)}\n"
        f"POSTGRES_PASSWORD={secrets.token_hex(16)}\n"
    )


def make_project(root: Path, project: Project) -> None:
    """Rename the copy at `root`, drop the demo modules `project` removes, and give it
    secrets of its own."""
    project.check()
    remove_demos(root, project.removed)
    apply_names(root, project)
    write_secrets(root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path())
    parser.add_argument("--title", required=True)
    parser.add_argument("--slug", required=True)
    parser.add_argument("--description", default="")
    parser.add_argument("--author", default="")
    parser.add_argument("--license", default="MIT", help=f"one of {', '.join(LICENSES)}")
    parser.add_argument("--license-holder", default="")
    parser.add_argument(
        "--keep",
        default=",".join(DEMO_MODULES),
        help=f"the demo modules to keep, comma-separated, of {', '.join(DEMO_MODULES)}",
    )
    parser.add_argument(
        "--database",
        default=DATABASES[0],
        help=f"the database served without DATABASE_URL, one of {', '.join(DATABASES)}",
    )
    arguments = parser.parse_args(argv)
    kept = {name.strip() for name in arguments.keep.split(",") if name.strip()}
    project = Project(
        title=arguments.title,
        slug=arguments.slug,
        description=arguments.description or arguments.title,
        author=arguments.author,
        license_holder=arguments.license_holder
        or arguments.author
        or f"The {arguments.title} authors",
        removed=frozenset(DEMO_MODULES) - kept,
        database=arguments.database,
        license=arguments.license,
    )
    if kept - set(DEMO_MODULES):
        print(
            f"error: no demo module named {', '.join(sorted(kept - set(DEMO_MODULES)))}",
            file=sys.stderr,
        )
        return 1
    try:
        make_project(arguments.root, project)
    except ProjectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
