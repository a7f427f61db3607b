"""The README's commands work as printed: its tour and command-line sections, run line by
line in a fresh shell whose PATH has no uv, against a real server on the embedded default."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.processes import (
    PROJECT_ROOT,
    embedded_env,
    free_port,
    start_app_process,
    stop,
    wait_until_ready,
)

README = PROJECT_ROOT / "README.md"
SECTIONS = ("## A tour with curl", "## The command line")
README_SERVER = "http://127.0.0.1:8000"
# Any curl answered with an error status fails the script, as `set -e` fails on the rest.
STRICT_CURL = 'curl() { command curl --fail-with-body --show-error "$@"; }\n'


def shell_blocks(markdown: str, heading: str) -> list[str]:
    """The ```sh blocks of one `## ` section."""
    section = markdown.split(heading, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(?:sh|bash)\n(.*?)```", section, flags=re.DOTALL)


def path_without_uv() -> str:
    """This machine's standard directories, less any that holds a `uv`."""
    directories = ("/usr/local/bin", "/usr/bin", "/bin")
    return ":".join(folder for folder in directories if not Path(folder, "uv").exists())


def test_the_sections_hold_commands() -> None:
    markdown = README.read_text()
    for heading in SECTIONS:
        assert shell_blocks(markdown, heading), f"no shell block under {heading!r}"


@pytest.mark.runs_long
async def test_readme_commands_work_in_a_fresh_shell_without_uv(tmp_path: Path) -> None:
    path = path_without_uv()
    missing = [tool for tool in ("curl", "jq") if shutil.which(tool, path=path) is None]
    if missing:
        pytest.skip(f"the README's tour uses {' and '.join(missing)}, not installed here")
    port = free_port()
    settings = embedded_env(tmp_path)
    server = start_app_process(
        ["serve", "--port", str(port)], env=settings, log=tmp_path / "serve.log"
    )
    try:
        await wait_until_ready(f"http://127.0.0.1:{port}/health/ready", server)
        markdown = README.read_text().replace(README_SERVER, f"http://127.0.0.1:{port}")
        script = STRICT_CURL + "\n".join(
            block for heading in SECTIONS for block in shell_blocks(markdown, heading)
        )
        shell_env = {
            "PATH": path,
            "HOME": str(tmp_path),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            **settings,
        }
        done = await asyncio.to_thread(
            subprocess.run,
            ["/bin/bash", "-euo", "pipefail", "-c", script],
            cwd=PROJECT_ROOT,
            env=shell_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        stop(server)
    assert done.returncode == 0, f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
