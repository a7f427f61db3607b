"""`.ci/services`, which `make test` runs first: it starts the local servers that
`TEST_DATABASE_URL` and `TEST_REDIS_URL` name when they do not answer yet."""

from __future__ import annotations

import os
import subprocess
from contextlib import suppress

from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

from tests.processes import PROJECT_ROOT, free_port, redis_server_binary


def test_the_local_redis_that_test_redis_url_names_is_started_if_it_does_not_answer() -> None:
    redis_server_binary("which the script starts")
    port = free_port()
    environment = {**os.environ, "TEST_REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    done = subprocess.run(
        ["/bin/bash", ".ci/services"],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    started = Redis(port=port, retry=Retry(NoBackoff(), 0))  # its shutdown is not retried
    try:
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == ["starting Redis"]
        assert started.ping()
    finally:
        with suppress(RedisConnectionError):  # none was started
            started.shutdown(nosave=True)
