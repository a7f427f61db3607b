"""Where a kit route spends its time under load: `uv run python -m bench.profile`.

Starts the kit alone with the production settings of `make bench`, on the data of
`make bench QUICK=1`, drives one route with wrk (or the Python client) and records
the server with `py-spy record -f raw` meanwhile. Prints the share of samples per package
and the top functions by own time (the sampled frame itself) and inclusive time (the
frame anywhere on the stack), and keeps the raw stacks for flame graphs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from bench.data import BenchDatabase
from bench.load import run_together, wrk_available
from bench.run import (
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    QUICK,
    Bench,
    DatabaseUrlOption,
    RedisUrlOption,
    scratch_directory,
)

# A frame of `py-spy record -f raw --nolineno`: "function (path)".
FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^()]*)\)$")
# uvicorn's task for one request: the frames below it are the request's.
REQUEST_ENTRY = "run_asgi"
# A thread-pool thread waiting for work (argon2 of the bench's login left one): py-spy
# samples it as busy, though it uses no CPU.
IDLE_POOL_THREAD = "_worker (concurrent/futures/thread.py)"


@dataclass(frozen=True)
class Frame:
    function: str
    path: str

    @property
    def package(self) -> str:
        """The frame's top-level package (py-spy names files relative to `sys.path`):
        `app` is the kit, the others are libraries and stdlib modules."""
        if self.path.startswith("<"):
            return "other"
        top = Path(self.path).parts[0].removesuffix(".py")
        return "app (the kit)" if top == "app" else top

    def __str__(self) -> str:
        short = "/".join(Path(self.path).parts[-2:])
        return f"{self.function} ({short})"


def parse_raw(raw: str) -> list[tuple[list[Frame], int]]:
    """The stacks of a raw (collapsed) py-spy profile, root first, with their sample counts."""
    stacks = []
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit() or stack.endswith(IDLE_POOL_THREAD):
            continue
        frames = []
        for text in stack.split(";"):
            match = FRAME.match(text)
            if match:
                frames.append(Frame(match["function"], match["path"]))
        stacks.append((frames, int(count)))
    return stacks


def in_request(frames: list[Frame]) -> list[Frame]:
    """The frames from uvicorn's per-request task down (none for the event loop itself,
    threads and start-up): inclusive shares are counted over these only, so that the
    process's outer frames (runpy, typer, the loop) do not cover every sample."""
    for index, frame in enumerate(frames):
        if frame.function.endswith(REQUEST_ENTRY):
            return frames[index:]
    return []


def summary(raw: str, top: int) -> str:
    stacks = parse_raw(raw)
    total = sum(count for _, count in stacks) or 1
    own: Counter[Frame] = Counter()
    inclusive: Counter[Frame] = Counter()
    package_own: Counter[str] = Counter()
    package_inclusive: Counter[str] = Counter()
    requests = 0
    for frames, count in stacks:
        if frames:
            own[frames[-1]] += count
            package_own[frames[-1].package] += count
        handling = in_request(frames)
        requests += count if handling else 0
        for frame in set(handling):
            inclusive[frame] += count
        for package in {frame.package for frame in handling}:
            package_inclusive[package] += count

    def percent(count: int) -> str:
        return f"{100 * count / total:5.1f}%"

    lines = [
        f"{total} samples, {percent(requests)} inside a request's task "
        f"(the rest: the event loop, threads)",
        "",
        "package               own  inclusive (in a request)",
    ]
    for package, count in package_inclusive.most_common():
        lines.append(f"{package:<20} {percent(package_own[package])} {percent(count)}")
    lines += ["", f"top {top} by own time"]
    lines += [f"{percent(count)}  {frame}" for frame, count in own.most_common(top)]
    lines += ["", f"top {top} by inclusive time (in a request)"]
    lines += [f"{percent(count)}  {frame}" for frame, count in inclusive.most_common(top)]
    return "\n".join(lines)


def record(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen(  # noqa: S603 - the dev dependency's binary, fixed arguments
        [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, round(seconds))),
            "--rate",
            "250",
            "--nolineno",
            "--format",
            "raw",
            "--output",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


def main(  # noqa: PLR0917 - the command line's options
    route: Annotated[str, typer.Argument(help="A GET path of the kit")] = "/api/v1/profile",
    seconds: Annotated[float, typer.Option(help="Seconds of load and of sampling")] = 15,
    connections: Annotated[int, typer.Option(help="Connections kept busy")] = 32,
    top: Annotated[int, typer.Option(help="Functions listed")] = 25,
    raw_output: Annotated[Path, typer.Option(help="The raw stacks")] = Path(
        "bench/results/profile.raw"
    ),
    reference: Annotated[
        bool, typer.Option(help="Profile the bare reference instead (the same route)")
    ] = False,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
    redis_url: RedisUrlOption = DEFAULT_REDIS_URL,
) -> None:
    """Profile one route of the kit (or of the reference) under load with py-spy and print
    where the time goes."""
    use_wrk = wrk_available(install=True)
    with scratch_directory() as workdir:
        bench = Bench(QUICK, use_wrk, BenchDatabase(database_url), redis_url, workdir)
        bench.empty_stores()
        bench.migrate()
        kit = bench.kit()
        kit.start()
        profiled = bench.reference() if reference else kit
        try:
            bench.seed(kit)
            bench.log_in(kit)
            if reference:
                profiled.start()
            job = bench.job(profiled, [route], connections, seconds + 2, headers=bench.auth)
            bench.warm_up(bench.job(profiled, [route], connections, 1, headers=bench.auth))
            raw_output.parent.mkdir(parents=True, exist_ok=True)
            results: list[object] = []
            load = threading.Thread(
                target=lambda: results.extend(run_together([job], use_wrk=use_wrk))
            )
            load.start()
            recorder = record(profiled.pid, seconds, raw_output)
            recorder.wait(seconds + 60)
            load.join()
        finally:
            profiled.stop()
            kit.stop()
    typer.echo(f"{route}, {connections} connections: {results[0]}")
    typer.echo(summary(raw_output.read_text(), top))
    typer.echo(f"raw stacks: {raw_output}")


if __name__ == "__main__":
    typer.run(main)
