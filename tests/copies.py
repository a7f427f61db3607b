"""Running the project's tools in a copy of it (a generated module's, a generated project's)
with this venv, so that no copy needs an environment of its own."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.processes import PROJECT_ROOT

KIT_MYPY_CACHE = PROJECT_ROOT / ".mypy_cache"
# Held by `make test`'s lint while it runs (where `flock` exists).
LINT_LOCK = PROJECT_ROOT / "var" / "lint.lock"
# Code that uses a demo module (`movies`, `posts`): in a project without them, only...
DEMO_USE = re.compile(
    r"app\.(movies|posts)\b|/api/v1/(movies|posts)\b|\b(Movie|Post)Factory\b|create_(movie|post)\("
)
# ...the core's own documentation examples name them, and a test of the events' naming.
STILL_NAMING_DEMOS = {"app/core/openapi.py", "app/core/events.py", "tests/unit/test_events.py"}


def copy_kit_mypy_cache(project: Path) -> None:
    """A copy of this tree's mypy cache in `project`, once `make test`'s lint (mypy among
    it) has finished, if it is running. With it, mypy reads the modules the copy did not
    change from the cache (checked by hash) and analyses only the others. Its SQLite files
    are copied through SQLite's backup, consistent even while a mypy writes them (where no
    lock tells when the lint is done)."""
    if LINT_LOCK.exists():
        with LINT_LOCK.open() as lock:
            fcntl.flock(lock, fcntl.LOCK_SH)
    for source in sorted(KIT_MYPY_CACHE.rglob("*")):
        target = project / ".mypy_cache" / source.relative_to(KIT_MYPY_CACHE)
        if source.is_dir() or source.name.endswith(("-wal", "-shm", "-journal")):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.suffix == ".db":
            with (
                closing(sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True)) as cache,
                closing(sqlite3.connect(target)) as copy,
            ):
                cache.backup(copy)
        else:
            shutil.copy2(source, target)


def scratch_environment(project: Path, database: str) -> dict[str, str]:
    """The settings for the copy's tools: a database of the copy's own (`database` names
    it) and neither this suite's xdist worker nor its coverage measurement."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTEST_", "COV_CORE_", "COVERAGE_"))
        # This worker's servers are already in DATABASE_URL and REDIS_URL (the copy's
        # suite would otherwise share the first worker's Redis db).
        and name not in {"TEST_DATABASE_URL", "TEST_REDIS_URL"}
    }
    url = make_url(os.environ["DATABASE_URL"])
    # `x_test` -> `x_scaffold_test`: a name of its own, still ending in `_test`.
    name = (url.database or "").removesuffix("_test")
    environment["DATABASE_URL"] = url.set(database=f"{name}_{database}_test").render_as_string(
        hide_password=False
    )
    environment["PYTHONPATH"] = str(project)
    return environment


def assert_all_succeed(
    project: Path,
    commands: dict[str, list[str]],
    database: str = "scaffold",
    *,
    mypy: list[str] | None = None,
) -> dict[str, str]:
    """Run every command at once in the copy, and `mypy` once the kit's mypy cache is
    copied into it (which may wait for the lint, while the others run); each must exit 0
    (else its output is shown). Returns their outputs, by name."""
    environment = scratch_environment(project, database)

    def start(command: list[str]) -> subprocess.Popen[str]:
        return subprocess.Popen(
            command,
            cwd=project,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    running = {name: start(command) for name, command in commands.items()}
    outputs, failures = {}, {}
    try:
        if mypy is not None:
            copy_kit_mypy_cache(project)
            running["mypy"] = start(mypy)
        for name, process in running.items():
            output, _ = process.communicate(timeout=300)
            outputs[name] = output
            if process.returncode != 0:
                failures[name] = output
    finally:
        for process in running.values():
            process.kill()  # only those still running, after a timeout
    assert failures == {}, "\n\n".join(f"{name}:\n{output}" for name, output in failures.items())
    return outputs
