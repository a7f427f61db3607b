"""Waiting for the relay instead of sleeping: its passes, counted on `/metrics`.

What a relay pass would do (send a row again, attempt a dead letter again) is done by the
end of that pass; so a test that must show that something did *not* happen waits for a
whole pass that began after the point where it could have happened.
"""

from __future__ import annotations

import httpx

from tests.integration.queue.conftest import wait_for
from tests.integration.test_metrics import scrape, value


async def relay_passes(client: httpx.AsyncClient) -> float:
    """The passes the app's relay has finished so far, failed ones included."""
    samples = await scrape(client)
    return sum(value(samples, "queue_relay_passes_total", result=r) for r in ("ok", "failed"))


async def a_whole_relay_pass(client: httpx.AsyncClient, seconds: float = 10.0) -> None:
    """Return once the relay has begun and finished a pass after this call (the pass under
    way when it is made, if any, began before: the next one is waited for too)."""
    before = await relay_passes(client)

    async def passed() -> bool:
        return await relay_passes(client) >= before + 2

    await wait_for(passed, seconds=seconds, what="a whole relay pass")
