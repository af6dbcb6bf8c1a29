"""Logging, configured once: structlog for the service, with the stdlib loggers of faust, mode and aiokafka
rendered through the same processors, so every line has one shape (JSON in production)."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import orjson
import structlog

ITEM_CONTEXT: ContextVar[dict[str, Any] | None] = ContextVar("newsfeed_item_context", default=None)
"""What every log line about the item in hand carries (topic, partition, offset, item id): one context variable
set per message, cheaper than binding each key as a structlog context variable of its own."""


def bind_item(**values: Any) -> None:
    """Add to the log context of the item in hand (no-op outside one)."""
    context = ITEM_CONTEXT.get()
    if context is not None:
        context.update(values)


def _merge_item_context(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    context = ITEM_CONTEXT.get()
    if context:
        for key, value in context.items():
            event.setdefault(key, value)
    return event


_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    _merge_item_context,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
]


def _orjson_dumps(value: Any, **_: Any) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Route structlog and stdlib logging to standard error, in one format.

    Args:
        level: The level for the service and the libraries under it.
        fmt: ``json`` for one JSON object a line, ``console`` for a coloured terminal view.
    """
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            *_SHARED,
            structlog.processors.format_exc_info if fmt == "json" else structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_SHARED, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if fmt == "json" else structlog.processors.StackInfoRenderer(),
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The libraries under the worker are chatty at INFO; their warnings and errors still show (all at DEBUG).
    for noisy in ("aiokafka", "kafka", "faust.transport", "faust.tables", "mode.timers"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING)
