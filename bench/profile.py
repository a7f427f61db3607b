"""Where a kit route spends its time under load: `uv run python -m bench.profile`.

Starts the kit alone with the production settings of `make bench`, on the data of
`make bench QUICK=1`, drives one route with wrk (or the Python client) and records
the server with `py-spy record -f raw` meanwhile. Prints the share of samples per package
and the top functions by own time (the sampled frame itself) and inclusive time (the
frame anywhere on the stack), and keeps the raw stacks for flame graphs.

`--compare` profiles the kit, then the bare reference, on the same route and prints the
server CPU time per request of both split by where the samples fall (routing, dependency
injection, the ORM session, SQL, the access log, ...): what the kit adds, part by part.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click

from bench.data import BenchDatabase
from bench.harness import Bench
from bench.load import Job, LoadResult, wrk_available
from bench.measure import warm_up
from bench.options import database_url_option, redis_url_option
from bench.plans import QUICK
from bench.servers import Server, scratch_directory

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
    process's outer frames (runpy, click, the loop) do not cover every sample."""
    for index, frame in enumerate(frames):
        if frame.function.endswith(REQUEST_ENTRY):
            return frames[index:]
    return []


# Where a sample is spent, tested in this order on the frames of its stack (root first).
# SQLAlchemy's async layer runs queries on greenlets, whose stacks do not reach uvicorn's
# request task: those are recognised by their frames alone.
def _anywhere(*markers: str) -> Callable[[list[Frame]], bool]:
    return lambda frames: any(marker in str(frame) for frame in frames for marker in markers)


def _leaf_in(*markers: str) -> Callable[[list[Frame]], bool]:
    return lambda frames: bool(frames) and any(marker in str(frames[-1]) for marker in markers)


CATEGORIES: tuple[tuple[str, Callable[[list[Frame]], bool]], ...] = (
    ("access log and metrics", _anywhere("RequestMiddleware._record")),
    ("JWT check", _anywhere("(jwt/")),
    ("ORM session, unit of work", _anywhere("(orm/", "asyncio/session.py", "unit_of_work")),
    ("SQL: SQLAlchemy Core, psycopg, pool", _anywhere("(engine/", "(sql/", "(pool/", "psycopg")),
    ("routing", _leaf_in("fastapi/routing.py", "starlette/routing.py")),
    ("dependencies (FastAPI, and their own code)", _anywhere("solve_dependencies")),
    ("kit code", _leaf_in("(app/", "(core/", "(auth/", "(posts/", "(movies/")),
    ("rest of the request (middleware, response)", lambda frames: bool(in_request(frames))),
)
OUTSIDE = "server and event loop"


def category(frames: list[Frame]) -> str:
    for name, applies in CATEGORIES:
        if applies(frames):
            return name
    return OUTSIDE


def breakdown(raw: str, cpu_us_per_request: float) -> Counter[str]:
    """The server CPU microseconds of one request, split by `category` in proportion to
    the samples."""
    samples: Counter[str] = Counter()
    for frames, count in parse_raw(raw):
        samples[category(frames)] += count
    total = sum(samples.values()) or 1
    return Counter({name: cpu_us_per_request * count / total for name, count in samples.items()})


def comparison(kit: Counter[str], reference: Counter[str]) -> str:
    names = [name for name, _ in CATEGORIES] + [OUTSIDE]
    lines = [f"{'server CPU per request (µs)':<45} {'kit':>7} {'ref':>7} {'kit-ref':>8}"]
    for name in [*names, "total"]:
        kit_us = sum(kit.values()) if name == "total" else kit[name]
        ref_us = sum(reference.values()) if name == "total" else reference[name]
        lines.append(f"{name:<45} {kit_us:7.0f} {ref_us:7.0f} {kit_us - ref_us:8.0f}")
    return "\n".join(lines)


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


@dataclass(frozen=True)
class Profile:
    raw: str
    result: LoadResult  # with the server's CPU time per request


def profile_server(  # noqa: PLR0917 - the bench, the server and the load's shape
    bench: Bench, server: Server, route: str, connections: int, seconds: float, raw_output: Path
) -> Profile:
    """Drive `route` on `server` and record it with py-spy meanwhile."""
    job = Job(server.base_url, [route], connections, seconds + 2, headers=bench.auth)
    warm_up(Job(server.base_url, [route], connections, 1, headers=bench.auth))
    raw_output.parent.mkdir(parents=True, exist_ok=True)
    results: list[LoadResult] = []
    load = threading.Thread(target=lambda: results.append(bench.run_on(server, job)))
    load.start()
    recorder = record(server.pid, seconds, raw_output)
    recorder.wait(seconds + 60)
    load.join()
    return Profile(raw_output.read_text(), results[0])


@click.command()
@click.argument("route", default="/api/v1/profile")
@click.option("--seconds", default=15.0, show_default=True, help="Seconds of load and of sampling")
@click.option("--connections", default=32, show_default=True, help="Connections kept busy")
@click.option("--top", default=25, show_default=True, help="Functions listed")
@click.option(
    "--raw-output",
    default=Path("bench/results/profile.raw"),
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The raw stacks",
)
@click.option(
    "--reference", is_flag=True, help="Profile the bare reference instead (the same route)"
)
@click.option(
    "--compare", is_flag=True, help="Profile both and split their CPU per request by category"
)
@database_url_option
@redis_url_option
def main(  # noqa: PLR0917 - the command line's options
    route: str,
    seconds: float,
    connections: int,
    top: int,
    raw_output: Path,
    reference: bool,
    compare: bool,
    database_url: str,
    redis_url: str,
) -> None:
    """Profile one route of the kit (or of the reference) under load with py-spy and print
    where the time goes: ROUTE is a GET path of the kit."""
    use_wrk = wrk_available(install=True)
    profiles: dict[str, Profile] = {}
    with scratch_directory() as workdir:
        bench = Bench(QUICK, use_wrk, BenchDatabase(database_url), redis_url, workdir)
        bench.empty_stores()
        bench.migrate()
        kit, bare = bench.kit(), bench.reference()
        kit.start()
        try:
            bench.seed(kit)
            bench.log_in(kit)
            if compare or not reference:
                kit_raw = raw_output.with_suffix(".kit.raw") if compare else raw_output
                profiles["kit"] = profile_server(bench, kit, route, connections, seconds, kit_raw)
            if compare or reference:
                bare.start()
                ref_raw = raw_output.with_suffix(".ref.raw") if compare else raw_output
                profiles["reference"] = profile_server(
                    bench, bare, route, connections, seconds, ref_raw
                )
        finally:
            bare.stop()
            kit.stop()
    for name, profile in profiles.items():
        click.echo(f"{name}: {route}, {connections} connections: {profile.result}")
    if compare:
        kit_profile, ref_profile = profiles["kit"], profiles["reference"]
        click.echo(
            comparison(
                breakdown(kit_profile.raw, kit_profile.result.server_cpu_us or 0),
                breakdown(ref_profile.raw, ref_profile.result.server_cpu_us or 0),
            )
        )
        click.echo(f"raw stacks: {raw_output.with_suffix('.kit.raw')}, .ref.raw")
        return
    click.echo(summary(next(iter(profiles.values())).raw, top))
    click.echo(f"raw stacks: {raw_output}")


if __name__ == "__main__":
    main()
