"""The task stream's wire format, written without taskiq, is byte for byte what taskiq's
own kicker sends, and what its worker reads back."""

from __future__ import annotations

from typing import Any

import pytest
from taskiq import InMemoryBroker
from taskiq.kicker import AsyncKicker
from taskiq.labels import parse_label
from taskiq.message import BrokerMessage

from app.core.queue.outbox import OutboxMessage
from app.core.queue.stream import wire_message

# Every kind of value an outbox row's labels hold (they are JSON), as the kit writes them.
LABELS: dict[str, Any] = {
    "max_retries": 4,
    "_retries": 2,
    "delay": 0.5,
    "quiet": "true",
    "request_id": "req-1",
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "retry_on_error": True,
    "schedule": [{"cron": "* * * * *"}],
}
KWARGS: dict[str, Any] = {"email": {"to": "zoë@example.com", "lines": ["a", 1, None]}, "n": 3}


class CapturingBroker(InMemoryBroker):
    """taskiq's in-memory broker, keeping what it is asked to send instead of running it."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []

    async def kick(self, message: BrokerMessage) -> None:
        self.sent.append(message.message)


@pytest.mark.parametrize("labels", [LABELS, {}])
async def test_a_row_is_sent_as_taskiqs_kicker_sends_it(labels: dict[str, Any]) -> None:
    broker = CapturingBroker()
    kicker: AsyncKicker[Any, Any] = AsyncKicker("app.mod:fn", broker, dict(labels))
    await kicker.with_task_id("task-1").kiq(**KWARGS)
    row = OutboxMessage(task_name="app.mod:fn", kwargs=KWARGS, labels=labels, task_id="task-1")
    assert broker.sent == [wire_message(row)]


def test_a_worker_reads_the_labels_back_as_they_were_written() -> None:
    row = OutboxMessage(task_name="app.mod:fn", kwargs=KWARGS, labels=LABELS, task_id=None)
    message = InMemoryBroker().formatter.loads(wire_message(row))
    types = message.labels_types or {}
    read = {name: parse_label(value, types.get(name)) for name, value in message.labels.items()}
    assert {name: value for name, value in read.items() if name != "schedule"} == {
        name: value for name, value in LABELS.items() if name != "schedule"
    }
    assert message.kwargs == KWARGS
    assert len(message.task_id) == 32  # a fresh id when the row has none, as taskiq's
