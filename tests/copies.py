"""Running the project's tools in a copy of it (a generated module's, a generated project's)
with this venv, so that no copy needs an environment of its own."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

# Code that uses a demo module (`movies`, `posts`): in a project without them, only...
DEMO_USE = re.compile(
    r"app\.(movies|posts)\b|/api/v1/(movies|posts)\b|\b(Movie|Post)Factory\b|create_(movie|post)\("
)
# ...the core's own documentation examples name them, and a test of the events' naming.
STILL_NAMING_DEMOS = {"app/core/openapi.py", "app/core/events.py", "tests/unit/test_events.py"}


def scratch_environment(project: Path, database: str) -> dict[str, str]:
    """The settings for the copy's tools: a database of the copy's own (`database` names
    it) and neither this suite's xdist worker nor its coverage measurement."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTEST_", "COV_CORE_", "COVERAGE_"))
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
    project: Path, commands: dict[str, list[str]], database: str = "scaffold"
) -> None:
    """Run every command at once in the copy; each must exit 0 (else its output is shown)."""
    environment = scratch_environment(project, database)
    running = {
        name: subprocess.Popen(
            command,
            cwd=project,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, command in commands.items()
    }
    failures = {}
    try:
        for name, process in running.items():
            output, _ = process.communicate(timeout=300)
            if process.returncode != 0:
                failures[name] = output
    finally:
        for process in running.values():
            process.kill()  # only those still running, after a timeout
    assert failures == {}, "\n\n".join(f"{name}:\n{output}" for name, output in failures.items())
