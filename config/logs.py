"""Structured logs: one line per event, JSON in production, readable in development.

`structlog` renders our own events (`log = structlog.get_logger()`) and, via
its `ProcessorFormatter`, every standard-library record too (Django, gunicorn
errors, `logging.getLogger(...)` in the apps), so an operator's log search
sees one format. Values bound with `structlog.contextvars` (the request id)
are added to every line logged while they are bound, whichever API logged it.

Never log tokens, passwords, callback secrets or bodies: events carry ids,
counts, routes and durations only.
"""

import logging
import sys

import structlog

FORMATS = ("json", "console")

_SHARED: list[structlog.typing.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def _renderer(fmt: str):
    if fmt == "json":
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=False)


def configure(*, fmt: str, level: str, library_level: str) -> dict:
    """Sets up structlog and returns the LOGGING dict for Django's settings.
    `level` filters our own events (request lines, worker batches);
    `library_level` the standard-library records of Django and the libraries,
    whose INFO lines (e.g. django-axes at start-up) would otherwise mix with
    what management commands print."""
    if fmt not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")
    renderer = _renderer(fmt)
    structlog.configure(
        processors=[*_SHARED, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # Straight to stdout, not through the logging module: a request line costs less.
        logger_factory=structlog.WriteLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
                "foreign_pre_chain": [*_SHARED, structlog.stdlib.add_logger_name],
            }
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "structured", "stream": "ext://sys.stdout"}
        },
        "root": {"handlers": ["console"], "level": library_level.upper()},
        # The request line (config.observability) replaces Django's own
        # per-request warnings ("Not Found: ...", "Bad Request: ...").
        "loggers": {"django.request": {"level": "ERROR"}, "pgserver": {"level": "WARNING"}},
    }
