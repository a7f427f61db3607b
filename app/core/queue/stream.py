"""The Redis stream the workers read: sending a task to it, and its backlog.

Sending needs no taskiq: a task is one stream entry whose `data` field is the JSON of a
taskiq message, which is what taskiq-redis's `RedisStreamBroker.kick` writes. So a
process that only enqueues (the API with Redis) sends its outbox rows itself and never
imports taskiq, nor the HTTP client taskiq's package imports. This is the one place that
knows the wire format; `tests/unit/queue/test_stream_format.py` pins it against taskiq's
own kicker, and every worker test runs tasks sent through it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from app.core.config import Settings
from app.core.queue.outbox import OutboxMessage

CONSUMER_GROUP = "workers"

# taskiq's `LabelType`: how a worker reads each label's text back.
_LABEL_TYPES: dict[type[Any], int] = {int: 2, str: 3, float: 4, bool: 5}
_ANY_LABEL = 1


def _label(value: Any) -> tuple[str, int]:
    """A label as text and its type, as taskiq's `prepare_label` writes it (outbox labels
    are JSON: never bytes)."""
    return str(value), _LABEL_TYPES.get(type(value), _ANY_LABEL)


def wire_message(row: OutboxMessage) -> bytes:
    """The stream entry's `data` for an outbox row: taskiq's message, as its JSON
    serializer writes it."""
    labels = {name: _label(value) for name, value in row.labels.items()}
    message = {
        "task_id": row.task_id if row.task_id is not None else uuid.uuid4().hex,
        "task_name": row.task_name,
        "labels": {name: text for name, (text, _) in labels.items()},
        "labels_types": {name: kind for name, (_, kind) in labels.items()},
        "args": [],
        "kwargs": row.kwargs,
    }
    return json.dumps(message).encode()


class StreamSender:
    """Sends outbox rows to the task stream (`QUEUE_STREAM`), trimmed near `QUEUE_MAXLEN`."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._redis = redis
        self._stream = settings.queue_stream
        self._maxlen = settings.queue_maxlen

    async def send(self, row: OutboxMessage) -> None:
        await self._redis.xadd(
            self._stream, {b"data": wire_message(row)}, maxlen=self._maxlen, approximate=True
        )


async def stream_backlog_metrics(redis: Redis, stream: str) -> list[Metric]:
    """The workers' backlog in the task stream (at scrape time, one XINFO GROUPS)."""
    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError:  # no stream yet: nothing was ever sent
        groups = []
    group = next((g for g in groups if _text(g["name"]) == CONSUMER_GROUP), {})
    families: list[Metric] = [
        GaugeMetricFamily(
            "queue_stream_unacknowledged",
            "Tasks a worker has taken and not finished (or that a dead worker left)",
            int(group.get("pending", 0)),
        )
    ]
    lag = group.get("lag", 0)  # None when Redis cannot tell (entries deleted meanwhile)
    if lag is not None:
        families.append(
            GaugeMetricFamily(
                "queue_stream_waiting", "Tasks in the stream no worker has taken yet", int(lag)
            )
        )
    return families


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
