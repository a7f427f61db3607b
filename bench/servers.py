"""The servers under load: the kit (`python -m app serve`) and the bare reference.

Both run one uvicorn worker with uvloop and httptools on a free loopback port, from a
scratch directory (so no developer `.env` leaks in), with their output in a log file.
`start` times the cold start: from the process launch to the first 200 of `/health/live`.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from app.core.config import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The interpreter both servers run on: `make bench` points it at a default install
# (`uv sync --no-dev`, what the image holds), because libraries import what they find
# installed (structlog imports rich, redis-py the OpenTelemetry SDK) and the development
# environment's extra packages would count in the memory; otherwise, this interpreter.
SERVER_PYTHON = os.environ.get("BENCH_PYTHON") or sys.executable
START_TIMEOUT_SECONDS = 60.0  # imports and migrations, on a busy machine
STOP_TIMEOUT_SECONDS = 35.0
LIVE_PATH = "/health/live"
ACCESS = "app.access"  # the kit's access-log logger
SUCCESS = re.compile(r'"status":\s*[23]\d\d')


def free_port() -> int:
    """A TCP port nobody listens on right now, on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def scratch_directory() -> Iterator[Path]:
    """A temporary directory for the servers to run from and log into."""
    with tempfile.TemporaryDirectory(prefix="modulith-bench-") as scratch:
        yield Path(scratch)


def memory_kib(pid: int, field: str) -> int:
    """A `/proc/<pid>/status` memory field (VmHWM: peak resident set, VmRSS: current)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(f"{field} not in /proc/{pid}/status")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used (`/proc/<pid>/stat`)."""
    # The command name (field 2) may hold spaces: the fields after it follow its ")".
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    user, system = int(fields[11]), int(fields[12])
    return (user + system) / os.sysconf("SC_CLK_TCK")


# Limits on the credential routes that the bench's logins never reach: the limiter runs (a
# Redis round trip per login, as in production) but never answers 429.
UNREACHABLE_LIMIT = "1000000/minute"


def clean_environment() -> dict[str, str]:
    """This process's environment without any setting of the kit (a developer's or the test
    suite's `DATABASE_URL`, `ARGON2_*`, ... never reach the servers), with compiled imports
    allowed (a realistic start)."""
    return {
        name: value
        for name, value in os.environ.items()
        if name.lower() not in Settings.model_fields and name != "PYTHONDONTWRITEBYTECODE"
    }


def unreachable_limits() -> dict[str, str]:
    """Every limit the kit sets by default (login, credentials, ...), out of reach; the
    default per-route limit stays as in production (`RATE_LIMIT_DEFAULT`, none)."""
    return {
        name.upper(): UNREACHABLE_LIMIT
        for name, setting in Settings.model_fields.items()
        if name.startswith("rate_limit_") and isinstance(setting.default, str) and setting.default
    }


def kit_environment(
    database_url: str, redis_url: str, secret_key: str, workdir: Path, **overrides: str
) -> dict[str, str]:
    """Production settings for the kit: JSON access log at INFO, production argon2."""
    return {
        **clean_environment(),
        "ENVIRONMENT": "production",
        "SECRET_KEY": secret_key,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "RATE_LIMIT_ENABLED": "true",
        **unreachable_limits(),
        "ACCESS_TOKEN_EXPIRE_MINUTES": "120",  # outlives any run
        "MAIL_BACKEND": "file",
        "MAIL_FILE_DIR": str(workdir / "mail"),
        **overrides,
    }


def reference_environment(database_url: str, secret_key: str) -> dict[str, str]:
    """What `bench/reference.py` reads; the JWT issuer and audience are the kit's defaults."""
    return {**clean_environment(), "DATABASE_URL": database_url, "SECRET_KEY": secret_key}


@dataclass
class Server:
    """One server process: started by `start`, stopped by `stop`."""

    name: str
    command: list[str]
    env: Mapping[str, str]
    workdir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    cold_start_seconds: float = 0.0
    early_exit: int | None = None  # the exit code when it was gone before `stop`
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.workdir / f"{self.name}.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} is not running")
        return self.process.pid

    def rss_mib(self) -> float:
        return memory_kib(self.pid, "VmRSS") / 1024

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def peak_rss_mib(self) -> float:
        return memory_kib(self.pid, "VmHWM") / 1024

    def start(self) -> None:
        """Launch the process and wait for its first 200, timing the cold start."""
        env = {**self.env, "PYTHONPATH": str(PROJECT_ROOT)}
        with self.log.open("wb") as output:
            started = time.perf_counter()
            self.process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
                self.command, cwd=self.workdir, env=env, stdout=output, stderr=subprocess.STDOUT
            )
        self._wait_until_live()
        self.cold_start_seconds = time.perf_counter() - started

    def _wait_until_live(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        with httpx.Client(base_url=self.base_url, trust_env=False, timeout=1.0) as client:
            while time.monotonic() < deadline and self.process and self.process.poll() is None:
                try:
                    if client.get(LIVE_PATH).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.005)
        self.stop()
        tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-20:]) or "(empty)"
        raise RuntimeError(f"{self.name} did not start; the end of its log:\n{tail}")

    def keep_log(self, directory: Path) -> Path:
        """Copy the server's log to `directory`, without the access lines of successful
        requests (a full run writes a hundred thousand of them): what is left is what
        went wrong, and the start-up."""
        kept = directory / self.log.name
        lines = self.log.read_text(errors="replace").splitlines(keepends=True)
        kept.write_text(
            "".join(line for line in lines if not (ACCESS in line and SUCCESS.search(line)))
        )
        return kept

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is not None:
            self.early_exit = self.process.returncode
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def kit_server(env: Mapping[str, str], workdir: Path, name: str = "kit") -> Server:
    """The kit as it is deployed: `python -m app serve`, on a free port."""
    port = free_port()
    command = [SERVER_PYTHON, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return Server(name, command, env, workdir, port)


def reference_server(env: Mapping[str, str], workdir: Path) -> Server:
    """`bench/reference.py` on a free port, served by uvicorn as the kit runs it: one
    worker, uvloop, httptools, no access log."""
    port = free_port()
    command = [
        SERVER_PYTHON,
        "-m",
        "uvicorn",
        "bench.reference:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "info",  # start and stop lines only: no access log
    ]
    return Server("reference", command, env, workdir, port)
