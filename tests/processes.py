"""Helpers for tests that run the real `python -m app ...` as subprocesses."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def embedded_env(workdir: Path, database: Path | str = "app.db") -> dict[str, str]:
    """The settings of an app process on the embedded default, its files in `workdir`:
    a SQLite database, no Redis, mail as files."""
    return {
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / database}",
        "REDIS_URL": "",
        "ENVIRONMENT": "local",
        "MAIL_FILE_DIR": str(workdir / "mail"),
    }


def app_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "app", *args]


def start_app_process(
    args: list[str], env: Mapping[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """Start `python -m app ...` with exactly these settings, logging to a file."""
    clean_env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    clean_env.pop("REDIS_URL", None)
    with log.open("wb") as output:
        return subprocess.Popen(
            app_command(*args),
            cwd=PROJECT_ROOT,
            env={**clean_env, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )


async def wait_until_ready(
    url: str, process: subprocess.Popen[bytes], seconds: float = 20.0
) -> httpx.Response:
    """Poll a URL until it answers 200; fail early when the process died."""
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"process exited with {process.returncode} before {url} was ready"
                )
            try:
                response = await client.get(url)
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code == 200:
                return response
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {seconds} s")


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    """SIGTERM, then wait; returns the exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def redis_server_binary(why: str) -> str:
    """The path of `redis-server`; without it, the test skips saying `why` it needs one."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip(
            f"needs the redis-server binary, {why} (Debian and Ubuntu: apt install redis-server)"
        )
    return binary


def start_redis_server(
    workdir: Path, seconds: float = 5.0, port: int | None = None, extra: Sequence[str] = ()
) -> tuple[str, subprocess.Popen[bytes]]:
    """A throwaway `redis-server` on a free port, for tests that stop Redis; its URL and process.

    No persistence; returns once it accepts connections. Stop it with `stop()` (or `kill()`).
    Pass the `port` of a server the test killed to bring Redis back at the same address;
    `extra` options override the defaults (`--appendonly yes` for a Redis that keeps its data).
    """
    binary = redis_server_binary("to stop and restart a Redis of the test's own")
    port = port or free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
        except OSError:
            time.sleep(0.01)
            continue
        return f"redis://127.0.0.1:{port}/0", process
    process.kill()
    raise TimeoutError(f"redis-server not listening on port {port} after {seconds} s")
