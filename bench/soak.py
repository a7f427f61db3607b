"""Soak: `make soak`, or `uv run python -m bench.soak --minutes 2`.

Runs mixed traffic (registrations, logins, token refreshes, post writes and reads,
password resets, account deletions) from many virtual users against a real `serve`
process and a real `worker` on PostgreSQL (its own database, `soak_test`, emptied first)
and a redis-server of its own, with mail going to an SMTP sink; meanwhile it kills Redis
(restarted on the same port, from its append-only file), SIGKILLs the worker and SIGKILLs
the API (each started again) at random.

At the end it proves that every write the API acknowledged is in the database, that
every mail the API accepted was delivered exactly once (counted per Message-ID), that
every acknowledged registration got exactly one welcome mail, that every acknowledged
account deletion hid that user's posts (the `UserDeleted` listener of another module:
delivered through the event outbox even when the API died right after the commit), and
that no unexpected 5xx was seen: a 503 with `Retry-After` is the documented answer of
the credential endpoints while Redis is down (they fail closed), so it is counted apart.
A request the killed API never answered is not acknowledged: it is counted, not checked.
Exit code 1 when anything was lost, duplicated or answered 5xx otherwise.
"""

# ruff: noqa: S311 - random traffic and faults, not secrets

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import click
import httpx
import psycopg
from aiosmtpd.controller import Controller
from sqlalchemy.engine import make_url

from tests.conftest import recreate_database
from tests.processes import free_port, start_app_process, start_redis_server, wait_until_ready

# Its own database (emptied first); one of its own per concurrent soak, e.g. per checkout.
SOAK_DATABASE = os.environ.get("SOAK_DATABASE", "soak_test")
API = "/api/v1"
PASSWORD = "soak-password-0"  # noqa: S105 - a throwaway account's
RESET_TOKEN = re.compile(r"[?&]token=([A-Za-z0-9_\-.~%]+)")
REDIS_DURABLE = ("--appendonly", "yes", "--appendfsync", "always")
DRAIN_SECONDS = 120.0
# A request the killed API never answered: not acknowledged, so nothing is expected of it
# (it may or may not have been done). One the API could not even receive (it was down) was
# certainly not done.
UNANSWERED = 0
UNREACHABLE = -1


@dataclass
class Ledger:
    """What the API acknowledged, and what it answered."""

    passwords: dict[str, str] = field(default_factory=dict)  # registered username -> password
    emails: dict[str, str] = field(default_factory=dict)  # username -> email
    posts: dict[int, str] = field(default_factory=dict)  # post id -> last acknowledged title
    mails: Counter[tuple[str, str]] = field(default_factory=Counter)  # (to, kind) accepted
    resets: int = 0
    welcomed: set[str] = field(default_factory=set)  # emails of acknowledged registrations
    deleted: dict[int, str] = field(default_factory=dict)  # user id -> username, acknowledged
    unanswered: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    documented_503: int = 0
    unexpected_5xx: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


class MailSink:
    """An aiosmtpd handler counting deliveries per Message-ID and per (recipient, kind)."""

    def __init__(self) -> None:
        self.by_message_id: Counter[str] = Counter()
        self.by_kind: Counter[tuple[str, str]] = Counter()
        self.tokens: dict[str, list[str]] = {}

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        if not isinstance(message, EmailMessage):
            return "554 Unreadable message"
        to = str(message["To"])
        self.by_message_id[str(message["Message-ID"])] += 1
        body = message.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        found = RESET_TOKEN.search(text)
        self.by_kind[to, "reset" if found else "welcome"] += 1
        if found:
            self.tokens.setdefault(to, []).append(found.group(1))
        return "250 Message accepted"


class Processes:
    """The soak's own redis-server, API and worker; each dies at random."""

    def __init__(self, workdir: Path, env: dict[str, str], port: int) -> None:
        self.workdir, self.env, self.port = workdir, env, port
        self.redis_port = int(env["REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
        self.redis: subprocess.Popen[bytes] | None = None
        self.api: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.redis_restarts = self.worker_kills = self.api_kills = 0

    def start_redis(self) -> None:
        _, self.redis = start_redis_server(self.workdir, port=self.redis_port, extra=REDIS_DURABLE)

    def start_worker(self) -> None:
        log = self.workdir / f"worker-{self.worker_kills}.log"
        self.worker = start_app_process(["worker"], self.env, log)

    def start_api(self) -> subprocess.Popen[bytes]:
        log = self.workdir / f"api-{self.api_kills}.log"
        self.api = start_app_process(["serve", "--port", str(self.port)], self.env, log)
        return self.api

    async def start(self) -> None:
        self.start_redis()
        api = self.start_api()
        self.start_worker()
        await wait_until_ready(f"http://127.0.0.1:{self.port}/health/ready", api, 120)

    async def restart_redis(self) -> None:
        if self.redis is not None:
            self.redis.kill()
            self.redis.wait()
        await asyncio.sleep(random.uniform(0.5, 3.0))
        self.start_redis()
        self.redis_restarts += 1

    async def kill_worker(self) -> None:
        if self.worker is not None:
            self.worker.send_signal(signal.SIGKILL)
            self.worker.wait()
        self.worker_kills += 1
        await asyncio.sleep(random.uniform(0.2, 2.0))
        self.start_worker()

    async def kill_api(self) -> None:
        """SIGKILL mid-traffic: requests in flight die with it, some after their commit."""
        if self.api is not None:
            self.api.send_signal(signal.SIGKILL)
            self.api.wait()
        self.api_kills += 1
        await asyncio.sleep(random.uniform(0.2, 2.0))
        api = self.start_api()
        # Live, not ready: readiness may be 503 while the chaos has Redis down.
        await wait_until_ready(f"http://127.0.0.1:{self.port}/health/live", api, 120)

    async def chaos(self, stop: asyncio.Event, mean_seconds: float) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), random.expovariate(1 / mean_seconds))
            except TimeoutError:
                await random.choice((self.restart_redis, self.kill_worker, self.kill_api))()

    def stop(self) -> None:
        for process in (self.api, self.worker, self.redis):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(35)
                except subprocess.TimeoutExpired:
                    process.kill()


class VirtualUser:
    """One account, from one client address, doing what users do."""

    def __init__(self, number: int, run: str, client: httpx.AsyncClient, ledger: Ledger) -> None:
        self.client, self.ledger = client, ledger
        self.name = f"soak{run}u{number}"
        self.headers = {
            "X-Forwarded-For": f"10.{number // 65536}.{number // 256 % 256}.{number % 256}"
        }
        self.become(0)

    def become(self, generation: int) -> None:
        """Account number `generation` of this user, to register (at start, and after
        deleting the last one)."""
        self.generation = generation
        self.username = f"{self.name}g{generation}" if generation else self.name
        self.email = f"{self.username}@example.com"
        self.password = PASSWORD
        self.user_id: int | None = None
        self.tokens: dict[str, Any] = {}
        self.my_posts: list[int] = []

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer; one of status `UNANSWERED` when the API died with the request, of
        status `UNREACHABLE` when it was down."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        try:
            response = await self.client.request(method, f"{API}{path}", headers=headers, **kwargs)
        except httpx.TransportError as error:
            self.ledger.unanswered += 1
            await asyncio.sleep(0.2)  # the API is restarting
            lost = UNREACHABLE if isinstance(error, httpx.ConnectError) else UNANSWERED
            return httpx.Response(lost)
        self.ledger.statuses[response.status_code] += 1
        if response.status_code == 503 and "retry-after" in response.headers:
            self.ledger.documented_503 += 1
        elif response.status_code >= 500:
            self.ledger.unexpected_5xx.append(
                f"{method} {path}: {response.status_code} {response.text[:200]}"
            )
        return response

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}

    async def register(self) -> bool:
        body = {"username": self.username, "email": self.email, "password": self.password}
        response = await self.call("POST", "/auth/register", json=body)
        if response.status_code == 201:
            self.user_id = int(response.json()["id"])
            self.ledger.passwords[self.username] = self.password
            self.ledger.emails[self.username] = self.email
            self.ledger.mails[self.email, "welcome"] += 1
            self.ledger.welcomed.add(self.email)
        return response.status_code in (201, 409)

    async def login(self) -> bool:
        form = {"username": self.username, "password": self.password}
        response = await self.call("POST", "/auth/login", data=form)
        if response.status_code == 200:
            self.tokens = response.json()
        return response.status_code == 200

    async def refresh(self) -> None:
        body = {"refresh_token": self.tokens["refresh_token"]}
        response = await self.call("POST", "/auth/refresh-token", json=body)
        if response.status_code == 200:
            self.tokens = response.json()
        elif response.status_code == 401:
            self.tokens = {}

    async def write_post(self) -> None:
        title = f"{self.username} post {random.randrange(10**9)}"
        if self.my_posts and random.random() < 0.4:
            post_id = random.choice(self.my_posts)
            response = await self.call(
                "PATCH", f"/posts/{post_id}", json={"title": title}, headers=self.bearer()
            )
            if response.status_code == 200:
                self.ledger.posts[post_id] = title
            elif response.status_code == UNANSWERED:  # either title may be the last one
                self.ledger.posts.pop(post_id, None)
        else:
            body = {"title": title, "content": "soak " * random.randint(1, 50)}
            response = await self.call("POST", "/posts", json=body, headers=self.bearer())
            if response.status_code == 201:
                post_id = int(response.json()["id"])
                self.ledger.posts[post_id] = title
                self.my_posts.append(post_id)
                self.user_id = int(response.json()["user_id"])
        if response.status_code == 401:
            self.tokens = {}

    async def read(self) -> None:
        if self.ledger.posts and random.random() < 0.5:
            await self.call("GET", f"/posts/{random.choice(list(self.ledger.posts))}")
        else:
            await self.call("GET", "/posts", params={"per_page": random.randint(1, 50)})

    async def reset_password(self, sink: MailSink) -> None:
        seen = len(sink.tokens.get(self.email, []))
        response = await self.call("POST", "/auth/restore-password", json={"email": self.email})
        if response.status_code != 202:
            return
        self.ledger.mails[self.email, "reset"] += 1
        deadline = time.monotonic() + 30
        while len(sink.tokens.get(self.email, [])) <= seen:
            if time.monotonic() > deadline:
                return  # delayed by an outage; the final check still expects the mail
            await asyncio.sleep(0.2)
        token = sink.tokens[self.email][seen]
        new_password = f"soak-password-{random.randrange(10**9)}"
        body = {"token": token, "password": new_password}
        response = await self.call("POST", "/auth/reset-password", json=body)
        if response.status_code == 204:
            self.password = self.ledger.passwords[self.username] = new_password
            self.ledger.resets += 1
            self.tokens = {}
        elif response.status_code == UNANSWERED:  # the password may or may not have changed
            self.ledger.passwords.pop(self.username, None)

    async def delete_account(self) -> None:
        """Delete the account; its posts must vanish. Then live on as a new account."""
        body = {"current_password": self.password}
        response = await self.call("DELETE", "/profile", json=body, headers=self.bearer())
        if response.status_code == 401:
            self.tokens = {}
            return
        if response.status_code not in (204, UNANSWERED):
            return
        for post_id in self.my_posts:  # hidden now if acknowledged; unknown if not
            self.ledger.posts.pop(post_id, None)
        self.ledger.passwords.pop(self.username, None)
        if response.status_code == 204 and self.user_id is not None:
            self.ledger.deleted[self.user_id] = self.username
        self.become(self.generation + 1)

    async def live(self, sink: MailSink, stop: asyncio.Event) -> None:
        actions: list[tuple[float, Callable[[], Any]]] = [
            (0.35, self.read),
            (0.35, self.write_post),
            (0.15, self.refresh),
            (0.03, lambda: self.reset_password(sink)),
            (0.005, self.delete_account),
            (0.115, self.read),
        ]
        weights = [weight for weight, _ in actions]
        registered = ""
        while not stop.is_set():
            if registered != self.username:
                if not await self.register():
                    await asyncio.sleep(1)
                    continue
                registered = self.username
            if not self.tokens and not await self.login():
                await asyncio.sleep(1)
                continue
            _, action = random.choices(actions, weights)[0]
            await action()
            await asyncio.sleep(random.uniform(0, 0.05))


def soak_env(workdir: Path, redis_port: int, smtp_port: int) -> dict[str, str]:
    server = make_url(
        os.environ.get("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/x")
    )
    return {
        "ENVIRONMENT": "testing",
        "SECRET_KEY": os.urandom(32).hex(),
        "DATABASE_URL": server.set(database=SOAK_DATABASE).render_as_string(hide_password=False),
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
        "MAIL_BACKEND": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_TLS": "none",
        "SMTP_TIMEOUT": "2",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "WARNING",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST_KIB": "1024",
        "ARGON2_PARALLELISM": "1",
        "QUEUE_IDLE_TIMEOUT": "5",
        "QUEUE_UNACKNOWLEDGED_LOCK_TIMEOUT": "5",
        "QUEUE_TASK_RETRIES": "10",
        "QUEUE_RETRY_DELAY": "0.5",
        "QUEUE_RETRY_MAX_DELAY": "5",
        "QUEUE_RECONNECT_MAX_DELAY": "2",
        "QUEUE_SHUTDOWN_TIMEOUT": "5",
        "MAIL_FILE_DIR": str(workdir / "mail"),
    }


def psycopg_url(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def database_rows(database_url: str) -> tuple[set[str], dict[int, str]]:
    with psycopg.connect(psycopg_url(database_url)) as connection:
        users = {row[0] for row in connection.execute("SELECT username FROM users")}
        rows = connection.execute("SELECT id, title FROM posts WHERE deleted_at IS NULL")
        posts: dict[int, str] = {int(post_id): str(title) for post_id, title in rows}
    return users, posts


def relayed_deliveries(database_url: str) -> int:
    """Event deliveries that took more than their publisher's attempt (a dead API's)."""
    with psycopg.connect(psycopg_url(database_url)) as connection:
        query = "SELECT count(*) FROM event_deliveries WHERE attempts > 1"
        row = connection.execute(query).fetchone()
    return int(row[0]) if row else 0


def deleted_users_with_visible_posts(database_url: str, deleted: Collection[int]) -> set[int]:
    """Of the `deleted` users, those with a post still visible."""
    with psycopg.connect(psycopg_url(database_url)) as connection:
        rows = connection.execute(
            "SELECT DISTINCT user_id FROM posts WHERE deleted_at IS NULL AND user_id = ANY(%s)",
            (list(deleted),),
        )
        return {int(user_id) for (user_id,) in rows}


async def drain(
    sink: MailSink, ledger: Ledger, newcomer: Callable[[int], VirtualUser], database_url: str
) -> None:
    """Wait until every accepted mail arrived and every deleted user's posts are hidden. A
    registration now and then makes a worker read the stream, which is when it reclaims
    tasks a killed worker left behind."""
    deadline = time.monotonic() + DRAIN_SECONDS
    nudges = 0
    while time.monotonic() < deadline:
        if all(
            sink.by_kind[key] >= count for key, count in ledger.mails.items()
        ) and not await asyncio.to_thread(
            deleted_users_with_visible_posts, database_url, ledger.deleted
        ):
            await asyncio.sleep(1.0)  # room for a duplicate to show up
            return
        nudges += 1
        await newcomer(nudges).register()
        await asyncio.sleep(2.0)


async def soak(minutes: float, users: int, chaos_seconds: float) -> int:
    run = f"{random.randrange(36**4):04x}"
    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    sink, smtp_port, redis_port, api_port = MailSink(), free_port(), free_port(), free_port()
    env = soak_env(workdir, redis_port, smtp_port)
    recreate_database(env["DATABASE_URL"])
    smtp = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    processes = Processes(workdir, env, api_port)
    ledger, stop = Ledger(), asyncio.Event()
    started = time.monotonic()
    try:
        await processes.start()
        limits = httpx.Limits(max_connections=users)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{api_port}", timeout=60, limits=limits
        ) as client:
            people = [VirtualUser(n, run, client, ledger) for n in range(users)]
            chaos = asyncio.create_task(processes.chaos(stop, chaos_seconds))
            lives = [asyncio.create_task(person.live(sink, stop)) for person in people]
            await asyncio.sleep(minutes * 60)
            stop.set()
            await asyncio.gather(chaos, *lives)

            def newcomer(number: int) -> VirtualUser:
                people.append(VirtualUser(users + number, run, client, ledger))
                return people[-1]

            await drain(sink, ledger, newcomer, env["DATABASE_URL"])
            logins = [person.login() for person in people if person.username in ledger.passwords]
            signed_in = sum(await asyncio.gather(*logins))
        db_users, db_posts = database_rows(env["DATABASE_URL"])
        still_public = deleted_users_with_visible_posts(env["DATABASE_URL"], ledger.deleted)
        relayed = relayed_deliveries(env["DATABASE_URL"])
    finally:
        processes.stop()
        smtp.stop()

    lost_users = set(ledger.passwords) - db_users
    lost_posts = [pid for pid, title in ledger.posts.items() if db_posts.get(pid) != title]
    lost_mails = sum(max(0, n - sink.by_kind[key]) for key, n in ledger.mails.items())
    duplicated = sum(n - 1 for n in sink.by_message_id.values() if n > 1)
    not_one_welcome = [to for to in ledger.welcomed if sink.by_kind[to, "welcome"] != 1]
    failed_logins = len(ledger.passwords) - signed_in
    lost = (
        len(lost_users)
        + len(lost_posts)
        + lost_mails
        + failed_logins
        + len(not_one_welcome)
        + len(still_public)
    )
    click.echo(
        f"soak: {(time.monotonic() - started) / 60:.1f} min, {users} users, "
        f"{ledger.requests} requests, statuses {dict(sorted(ledger.statuses.items()))}\n"
        f"chaos: {processes.redis_restarts} Redis restarts, "
        f"{processes.worker_kills} worker SIGKILLs, {processes.api_kills} API SIGKILLs "
        f"({ledger.unanswered} requests unanswered)\n"
        f"writes checked: {len(ledger.passwords)} registrations, {len(ledger.posts)} posts "
        f"(last acknowledged title), {ledger.resets} password resets (signed in with each "
        f"final password: {signed_in}/{len(ledger.passwords)})\n"
        f"mails checked: {sum(ledger.mails.values())} accepted, "
        f"{sum(sink.by_message_id.values())} delivered, {duplicated} duplicated; "
        f"{len(ledger.welcomed)} registrations, {len(not_one_welcome)} without exactly one "
        f"welcome mail\n"
        f"deletions checked: {len(ledger.deleted)} acknowledged, {len(still_public)} with "
        f"posts still public ({relayed} event deliveries finished by the worker's relay)\n"
        f"lost: {lost} (users {len(lost_users)}, posts {len(lost_posts)}, mails {lost_mails}, "
        f"logins {failed_logins}, welcomes {len(not_one_welcome)}, "
        f"deletions {len(still_public)})\n"
        f"5xx: {len(ledger.unexpected_5xx)} unexpected, {ledger.documented_503} documented 503 "
        f"(credential endpoints fail closed while Redis is down)\n"
        f"logs: {workdir}"
    )
    for line in ledger.unexpected_5xx[:10]:
        click.echo(f"  {line}")
    return 1 if lost or duplicated or ledger.unexpected_5xx else 0


@click.command()
@click.option(
    "--minutes",
    default=5.0,
    show_default=True,
    envvar="SOAK_MINUTES",
    help="How long the traffic runs",
)
@click.option(
    "--users",
    default=20,
    show_default=True,
    type=click.IntRange(min=1),
    help="Virtual users at once",
)
@click.option(
    "--chaos-seconds",
    default=15.0,
    show_default=True,
    help="Mean seconds between two faults (Redis, worker or API)",
)
def main(minutes: float, users: int, chaos_seconds: float) -> None:
    """Soak the API and a worker under faults; exit 1 if anything was lost."""
    sys.exit(asyncio.run(soak(minutes, users, chaos_seconds)))


if __name__ == "__main__":
    main()
