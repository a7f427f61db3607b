"""structlog wired through the stdlib, so every library logs in one format.

uvicorn, SQLAlchemy, taskiq and the app share the same renderer (console or
JSON) and carry the request id bound in structlog's context variables.
"""

from __future__ import annotations

import email.utils
import functools
import logging
import logging.config
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

from app.core.config import Settings

REDACTED = "[REDACTED]"
_SENSITIVE_KEY = re.compile(
    r"pass(word)?|secret|token|authorization|cookie|api[_-]?key|credential", re.IGNORECASE
)
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+")
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@")
# What a string must contain for either pattern above to match: most log values do not,
# and one scan is cheaper than two substitutions (every request logs a line).
_MAYBE_SECRET = re.compile(r"(?i)bearer|://")


@functools.lru_cache(maxsize=4096)
def _is_sensitive_key(key: str) -> bool:
    return _SENSITIVE_KEY.search(key) is not None


def _redact_text(value: str) -> str:
    if _MAYBE_SECRET.search(value) is None:
        return value
    return _URL_PASSWORD.sub(rf"\g<scheme>{REDACTED}@", _BEARER.sub(f"Bearer {REDACTED}", value))


def redact(value: Any) -> Any:
    """Hide secrets in a logged value: sensitive keys, bearer tokens, URL passwords."""
    if isinstance(value, str):
        return _redact_text(value)
    if isinstance(value, Mapping):
        return {
            key: REDACTED if _is_sensitive_key(str(key)) else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(redact(item) for item in value)
    return value


def mask_email(address: str) -> str:
    """An address fit for a log line: `Ann <ann@example.com>` gives `a***@example.com`."""
    _, addr = email.utils.parseaddr(address)
    local, at, domain = addr.rpartition("@")
    return f"{local[:1]}***@{domain}" if at and local else "***"


def redact_processor(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor applying `redact` to every field of a log line."""
    return {
        key: REDACTED if _is_sensitive_key(key) else redact(value)
        for key, value in event_dict.items()
    }


def drop_color_message(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """uvicorn adds an ANSI-coloured copy of its message; one copy is enough."""
    event_dict.pop("color_message", None)
    return event_dict


# Set while tracing is on: the id of the current trace, if any (see app/core/telemetry.py).
trace_ids: Callable[[], str | None] | None = None


def add_trace_id(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """With tracing on, the current trace's id on every line logged inside one."""
    if trace_ids is not None and (trace_id := trace_ids()) is not None:
        event_dict["trace_id"] = trace_id
    return event_dict


def current_request_id() -> str | None:
    """The id of the request (or of the task's originating request) being handled."""
    value = structlog.contextvars.get_contextvars().get("request_id")
    return value if isinstance(value, str) else None


def _pipeline(settings: Settings) -> tuple[list[Processor], Processor]:
    """The processors every line goes through, and the renderer that ends them."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        add_trace_id,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        drop_color_message,
        redact_processor,
    ]
    if settings.log_format == "json":
        return [*shared, structlog.processors.format_exc_info], structlog.processors.JSONRenderer()
    renderer = structlog.dev.ConsoleRenderer(
        colors=False, exception_formatter=structlog.dev.plain_traceback
    )
    return shared, renderer


class _NamedWriter(structlog.WriteLogger):
    """structlog's plain writer, with the `name` that `add_logger_name` reads."""

    def __init__(self, name: str, file: TextIO) -> None:
        super().__init__(file)
        self.name = name


def direct_logger(name: str, settings: Settings) -> FilteringBoundLogger:
    """A logger that renders its lines itself and writes them straight to stderr.

    Same processors, format and stream as every other line, without stdlib logging's
    record, handler and formatter in between: for the one line per request, where that
    machinery costs two thirds of the line (a fifth of a bare request). Reads stderr
    once, so capture it (pytest does) before building the logger.
    """
    shared, renderer = _pipeline(settings)
    level = logging.getLevelNamesMapping()[settings.log_level]
    return structlog.wrap_logger(  # type: ignore[no-any-return]
        _NamedWriter(name, sys.stderr),
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
    )


def configure_logging(settings: Settings) -> None:
    """Route structlog and stdlib logging through one formatter."""
    shared, renderer = _pipeline(settings)
    structlog.configure(
        # Below the level, a line is dropped before any processor runs.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "structlog": {
                    "()": structlog.stdlib.ProcessorFormatter,
                    "processors": [
                        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        renderer,
                    ],
                    "foreign_pre_chain": shared,
                }
            },
            "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "structlog"}},
            "root": {"handlers": ["default"], "level": settings.log_level},
            "loggers": {
                # Our middleware writes one access line per request.
                "uvicorn.access": {"level": "WARNING", "propagate": True},
                "uvicorn.error": {"handlers": [], "propagate": True},
                "uvicorn": {"handlers": [], "propagate": True},
                "sqlalchemy.engine": {"level": "INFO" if settings.database_echo else "WARNING"},
                # Its "sending" and "executing" lines repeat our own task lines.
                "taskiq": {"level": "WARNING"},
            },
        }
    )
