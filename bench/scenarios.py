"""The rows of the table, scenario by scenario, and `measure`: a whole run in order.

The route table drives each route on the kit and on the reference in interleaved rounds;
the scenarios of the performance targets follow, each on a settled kit: `/profile` while
clients log in, a keyset page deep in the posts against page 1, the server CPU of refusing
a megabyte of unknown keys against one bad field, and, last (a kit that chokes on them
cannot spoil the other rows), the warm cached movie read against the kit's cold read and
the uncached reference.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from urllib.parse import urlencode

import httpx

from bench.data import PASSWORD, USERNAME
from bench.harness import LOGIN_PATH, Bench
from bench.load import Job
from bench.measure import refusal, warm_up
from bench.plans import Plan
from bench.servers import Server

PER_PAGE = 20
POSTS_PATH = "/api/v1/posts"
# The first page of one author's posts: the filtered list whose cost must not grow with
# the table either (an index serves it; its total is counted up to 10,000 rows).
BY_AUTHOR = "filters=user_id:eq:1"
PROFILE_PATH = "/api/v1/profile"
REFRESH_PATH = "/api/v1/auth/refresh-token"  # no login, no rate limit: anyone may send
BAD_FIELDS = 100_000
JSON_HEADERS = {"Content-Type": "application/json"}
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


def posting(plan: Plan, server: Server, path: str, headers: dict[str, str], body: str) -> Job:
    """`login_connections` clients posting `body` to `path` for one measured run."""
    return Job(
        server.base_url,
        [path],
        plan.login_connections,
        plan.seconds,
        method="POST",
        headers=headers,
        body=body,
    )


def route_table(bench: Bench, kit: Server, reference: Server) -> None:
    plan = bench.plan
    routes = [
        ("health", "/health/live (ref: a bare hello)", "/health/live", {}),
        ("profile", PROFILE_PATH, PROFILE_PATH, bench.auth),
        ("post", "/api/v1/posts/{id}", f"{POSTS_PATH}/1", {}),
        (
            "posts_page",
            f"/api/v1/posts?per_page={PER_PAGE} ({plan.posts:,} posts)",
            f"{POSTS_PATH}?per_page={PER_PAGE}",
            {},
        ),
    ]
    for key, label, path, headers in routes:
        row = bench.add(key, label)
        sides = ((row.kit, kit), (row.reference, reference))
        row.note = refusal([kit, reference], [path], headers)
        if row.note:
            continue
        for _, server in sides:
            warm_up(
                Job(server.base_url, [path], plan.connections, plan.warmup_seconds, headers=headers)
            )
        for _ in range(plan.rounds):  # interleaved: kit, reference, kit, reference, ...
            for results, server in sides:
                job = Job(server.base_url, [path], plan.connections, plan.seconds, headers=headers)
                results.append(bench.run_on(server, job))


def cached_movies(bench: Bench, kit: Server, cold_kit: Server, reference: Server) -> None:
    """Warm cache vs the kit's own cold read (entries expire after 1 ms, so every read
    misses, loads and stores) vs the uncached reference, at 64 clients."""
    plan = bench.plan
    paths = [f"/api/v1/movies/{movie_id}" for movie_id in range(1, plan.movies + 1)]
    clients = plan.cached_connections
    warm = bench.add("movie_warm", f"/api/v1/movies/{{id}} warm cache, c={clients}")
    cold = bench.add(
        "movie_cold",
        f"/api/v1/movies/{{id}} kit cold (CACHE_TTL=1 ms), c={clients}",
    )
    if not plan.cold_kit:
        cold.note = f"not run in a {plan.name} run"
    # Every entry cached before the first measured request.
    servers = (kit, cold_kit, reference) if plan.cold_kit else (kit, reference)
    warm.note = refusal(servers, paths, bench.auth)
    if warm.note:
        return

    def job(server: Server, seconds: float) -> Job:
        return Job(server.base_url, paths, clients, seconds, headers=bench.auth)

    for _ in range(plan.rounds):
        warm.kit.append(bench.run_on(kit, job(kit, plan.cached_seconds)))
        if plan.cold_kit:
            cold.kit.append(bench.run_on(cold_kit, job(cold_kit, plan.seconds)))
        warm.reference.append(bench.run_on(reference, job(reference, plan.seconds)))
    cold.reference = warm.reference


def profile_under_logins(bench: Bench, kit: Server) -> None:
    plan = bench.plan
    clients = plan.profile_connections
    idle = bench.add("profile_idle", f"/api/v1/profile c={clients}, idle")
    busy = bench.add(
        "profile_logins",
        f"/api/v1/profile c={clients}, {plan.login_connections} clients logging in",
    )
    logins = bench.add(
        "logins", f"POST {LOGIN_PATH} c={plan.login_connections} (production argon2)"
    )
    login_form = urlencode({"username": USERNAME, "password": PASSWORD})
    for _ in range(plan.rounds):
        profile = Job(kit.base_url, [PROFILE_PATH], clients, plan.seconds, headers=bench.auth)
        idle.kit += bench.run(profile)
        login = posting(plan, kit, LOGIN_PATH, FORM_HEADERS, login_form)
        during, login_result = bench.run(profile, login)
        busy.kit.append(during)
        logins.kit.append(login_result)


def deep_pages(bench: Bench, kit: Server) -> None:
    """Page 1 of the posts (unfiltered, and one author's) with `plan.posts` and then with
    `plan.deep_posts` of them, and a keyset page deep in the big list."""
    plan = bench.plan
    first = f"{POSTS_PATH}?per_page={PER_PAGE}"
    by_author = f"{POSTS_PATH}?{BY_AUTHOR}&per_page={PER_PAGE}"  # told apart in the table
    filtered = bench.add("posts_author_page1", f"{by_author} page 1 ({plan.posts:,} posts)")
    warm_up(Job(kit.base_url, [by_author], plan.connections, plan.warmup_seconds))
    for _ in range(plan.rounds):
        filtered.kit += bench.run(Job(kit.base_url, [by_author], plan.connections, plan.seconds))
    page1 = bench.add(
        "posts_page1_deep",
        f"/api/v1/posts?per_page={PER_PAGE} page 1 ({plan.deep_posts:,} posts)",
    )
    filtered_deep = bench.add(
        "posts_author_page1_deep", f"{by_author} page 1 ({plan.deep_posts:,} posts)"
    )
    deep = bench.add("posts_cursor_deep", f"... cursor page {plan.deep_page:,}")
    bench.database.grow_posts(plan.deep_posts, plan.users)
    warm_up(Job(kit.base_url, [by_author], plan.connections, plan.warmup_seconds))
    cursor, reached, note = walk_to_page(kit.base_url, plan.deep_page, plan.walk_seconds)
    deep.note = note
    pages = [(page1, first), (filtered_deep, by_author)]  # interleaved, round by round
    if cursor is not None:
        deep.label = f"/api/v1/posts?per_page={PER_PAGE}&cursor=... page {reached:,}"
        pages.append((deep, f"{first}&{urlencode({'cursor': cursor})}"))
    for _ in range(plan.rounds):
        for row, path in pages:
            row.kit += bench.run(Job(kit.base_url, [path], plan.connections, plan.seconds))


def bad_fields(bench: Bench, kit: Server) -> None:
    """The server CPU per request of refusing (422) a body of `BAD_FIELDS` unknown keys,
    about a megabyte, and of refusing a small one with one unknown field."""
    plan = bench.plan
    bodies = bad_field_bodies()
    one = bench.add("one_bad_field", f"POST {REFRESH_PATH} 1 unknown field (a 422)")
    many = bench.add(
        "bad_fields",
        f"... {BAD_FIELDS:,} unknown keys, {len(bodies[1]) / 1e6:.1f} MB (a 422)",
    )
    for _ in range(plan.rounds):
        for row, body in zip((one, many), bodies, strict=True):
            job = posting(plan, kit, REFRESH_PATH, JSON_HEADERS, body)
            row.kit.append(bench.run_on(kit, job))


def bad_field_bodies() -> tuple[str, str]:
    """A refresh request with one unknown field, and an object of `BAD_FIELDS` unknown keys
    written compactly (within the kit's default 1 MiB body limit)."""
    one = json.dumps({"refresh_token": "x" * 43, "unknown": 1})
    many = json.dumps({f"{key:x}": 0 for key in range(BAD_FIELDS)}, separators=(",", ":"))
    return one, many


def walk_to_page(base_url: str, page: int, seconds: float) -> tuple[str | None, int, str]:
    """The cursor that opens `page` of the posts (walked from page 1 through the API), the
    page it opens, and a note; no cursor when the kit has no keyset pagination."""
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=base_url, trust_env=False, timeout=30) as client:
        body = client.get(POSTS_PATH, params={"per_page": PER_PAGE}).json()
        if "next_cursor" not in body:
            return None, 1, "skipped: the kit's list envelope has no next_cursor yet"
        cursor, reached = body["next_cursor"], 2
        while cursor is not None and reached < page and time.monotonic() < deadline:
            response = client.get(POSTS_PATH, params={"per_page": PER_PAGE, "cursor": cursor})
            if response.status_code == 422:
                return None, reached, "skipped: the kit answers 422 for `cursor`"
            response.raise_for_status()
            cursor, reached = response.json()["next_cursor"], reached + 1
    if cursor is None:
        return None, reached, f"skipped: the posts end at page {reached - 1}"
    note = "" if reached >= page else f"walk stopped at page {reached:,} (time limit)"
    return cursor, reached, note


def measure(bench: Bench) -> None:
    """The whole run: the stores emptied, the servers started (their cold starts timed),
    the data seeded, then every row; the servers are stopped even when a row fails."""
    plan = bench.plan
    started, load_before = time.monotonic(), os.getloadavg()[0]
    reference, kit = bench.reference(), bench.kit()
    # Every read a cache miss: entries expire after 1 ms, in a namespace of their own.
    cold_kit = bench.kit("kit-cold", CACHE_TTL="0.001", CACHE_VERSION="bench-cold")
    servers = (reference, kit, cold_kit) if plan.cold_kit else (reference, kit)
    bench.servers = list(servers)
    with ExitStack() as stack:
        for server in servers:
            stack.callback(server.stop)
        bench.empty_stores()
        if plan.start_together:  # the kit migrates as it starts
            with ThreadPoolExecutor() as starting:
                list(starting.map(Server.start, servers))
        else:  # one at a time, on a migrated database: each cold start on a quiet machine
            bench.migrate()
            for server in servers:
                server.start()
        bench.seed(kit)
        bench.log_in(kit)
        route_table(bench, kit, reference)
        bench.resources["rss_mib"] = {"kit": kit.rss_mib(), "reference": reference.rss_mib()}
        bench.resources["cold_start_s"] = {
            "kit": kit.cold_start_seconds,
            "reference": reference.cold_start_seconds,
        }
        # The cached reads last: a kit that chokes on them cannot spoil the other rows.
        bench.settle(kit)
        profile_under_logins(bench, kit)
        bench.settle(kit)
        deep_pages(bench, kit)
        bench.settle(kit)
        bad_fields(bench, kit)
        bench.settle(kit)
        cached_movies(bench, kit, cold_kit, reference)
        bench.notes.append(
            f"kit RSS at the end {kit.rss_mib():.0f} MiB, peak {kit.peak_rss_mib():.0f} MiB "
            "(argon2 takes 64 MiB a login)"
        )
    bench.notes.append(
        f"{plan.name} run, {time.monotonic() - started:.0f} s in all; load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} "
        "cores shared by the client, the servers, PostgreSQL, Redis and anything else"
    )
