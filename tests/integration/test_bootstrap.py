"""`make install` from a fresh clone, on a python3 that refuses system installs and has no uv.

The interpreter is this one's, started with a scratch PYTHONHOME: the same standard
library (linked), an EXTERNALLY-MANAGED marker (PEP 668, as on Debian 12, Ubuntu 24.04
and Homebrew) and an empty site-packages: no uv, and no pip either (Debian without
python3-pip). No `uv` is on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.processes import PROJECT_ROOT

# What the bootstrap reads: taken from the working tree, so uncommitted changes count.
BOOTSTRAP_FILES = ("Makefile", ".gitignore", "pyproject.toml", "uv.lock")
PEP_668_MARKER = "[externally-managed]\nError=A system interpreter (simulated by the test).\n"
# Set by the `uv run` and `make` this suite may run under; the scratch clone is not theirs.
OUTER_RUN = {
    *("UV", "UV_RUN_RECURSION_DEPTH", "UV_PROJECT_ENVIRONMENT", "UV_PYTHON", "VIRTUAL_ENV"),
    *("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "PYTHONHOME", "PYTHONPATH"),
}
SYSTEM_FACTS = """
import importlib.util, pathlib, sys, sysconfig
marker = pathlib.Path(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
print("externally-managed" if marker.is_file() else "installable")
print("venv" if sys.prefix != sys.base_prefix else "not-a-venv")
print("uv" if importlib.util.find_spec("uv") else "no-uv")
"""


def externally_managed_python(home: Path) -> Path:
    """A `python3` launcher for this interpreter with `home` as its prefix; returns its bin."""
    real_stdlib = Path(sysconfig.get_paths()["stdlib"])
    stdlib = home / "lib" / real_stdlib.name
    (stdlib / "site-packages").mkdir(parents=True)
    for entry in real_stdlib.iterdir():
        if entry.name != "site-packages":
            (stdlib / entry.name).symlink_to(entry)
    (stdlib / "EXTERNALLY-MANAGED").write_text(PEP_668_MARKER)
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    interpreter = Path(sys.base_prefix) / "bin" / f"python{version}"
    bin_dir = home / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "python3"
    launcher.write_text(f'#!/bin/sh\nPYTHONHOME="{home}" exec "{interpreter}" "$@"\n')
    launcher.chmod(0o755)
    return bin_dir


def environment_without_uv(python_bin: Path) -> dict[str, str]:
    path = [python_bin] + [
        Path(entry)
        for entry in os.environ["PATH"].split(os.pathsep)
        if entry and not (Path(entry) / "uv").exists()
    ]
    env = {key: value for key, value in os.environ.items() if key not in OUTER_RUN}
    return {**env, "PATH": os.pathsep.join(map(str, path))}


def command(name: str, env: dict[str, str]) -> str:
    found = shutil.which(name, path=env["PATH"])
    assert found, f"{name} is not on PATH"
    return found


@pytest.mark.runs_long
def test_make_install_puts_uv_in_a_private_venv_on_an_externally_managed_python(
    tmp_path: Path,
) -> None:
    env = environment_without_uv(externally_managed_python(tmp_path / "system"))
    env["UV_COMPILE_BYTECODE"] = "0"  # the bootstrap is checked here, not the compilation
    git, make, python3 = (command(name, env) for name in ("git", "make", "python3"))
    clone = tmp_path / "clone"
    subprocess.run([git, "clone", "--quiet", PROJECT_ROOT, clone], check=True, env=env)
    for name in BOOTSTRAP_FILES:
        shutil.copy(PROJECT_ROOT / name, clone / name)
    assert shutil.which("uv", path=env["PATH"]) is None

    # The simulation holds: pip refuses to install where it finds the marker in sysconfig's
    # stdlib outside a virtual environment, and there is no uv module.
    facts = subprocess.run(
        [python3, "-c", SYSTEM_FACTS], env=env, capture_output=True, text=True, check=True
    )
    assert facts.stdout.split() == ["externally-managed", "not-a-venv", "no-uv"]

    install = subprocess.run(
        [make, "install"], cwd=clone, env=env, capture_output=True, text=True, check=False
    )
    assert install.returncode == 0, install.stdout + install.stderr
    assert "installing uv" in install.stdout
    assert (clone / ".tools" / "bin" / "uv").is_file()
    assert list(clone.glob(".venv/lib/python*/site-packages/fastapi/__init__.py"))
    runs = subprocess.run(
        [clone / ".venv" / "bin" / "python", "-c", "import app.core.heartbeat, fastapi"],
        cwd=clone,
        env=env,
        check=False,
    )
    assert runs.returncode == 0  # the project's interpreter works without the launcher
    assert not list((tmp_path / "system").glob("lib/*/site-packages/uv*"))
    status = subprocess.run(
        [git, "status", "--porcelain", "--untracked-files=all"],
        cwd=clone,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert ".tools" not in status
    assert ".venv" not in status
