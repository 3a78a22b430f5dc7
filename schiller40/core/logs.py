"""Log lines: JSON in production (one object per line), text elsewhere.

Every record carries where it came from: inside a request the request id (the one the
``X-Request-ID`` response header and the error page show), the method and the path with
secrets taken out; in the worker the worker's name. Both are added when the record is made
(a log record factory), so every handler sees them, pytest's ``caplog`` included, and the
handler set-up of the host (gunicorn, pytest) is left alone.

Paths are redacted before they are logged: a calendar feed's or a password reset's token in a
log file would let whoever reads the log subscribe to a member's calendar or take over the
account. Query strings are never logged.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, has_request_context, request

REDACTED = "[redacted]"
# Known routes with a secret in the path (also when they answer 404: a mistyped token is
# still nearly the real one).
_SECRET_PATHS = (
    re.compile(r"^(/feeds/)[^/]+(\.ics)$"),
    re.compile(r"^(/account/(?:reset|verify)/)[^/]+()$"),
)
# Any other segment that looks like a generated token (long, no spaces, letters and digits).
_TOKENISH = re.compile(r"(?=[^/]*\d)(?=[^/]*[A-Za-z])[A-Za-z0-9_\-.~%]{24,}")

# The worker's name while a worker pass runs in this thread (set by the worker runner).
current_worker: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "schiller40_worker", default=None
)

# Attributes of every LogRecord; anything else on a record was passed with ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_CONTEXT = ("request_id", "method", "path", "worker")


def redact_path(path: str) -> str:
    """``path`` with tokens replaced by ``[redacted]`` (no query string: pass the path only)."""
    path = path.split("?", 1)[0]
    for pattern in _SECRET_PATHS:
        match = pattern.match(path)
        if match:
            return f"{match.group(1)}{REDACTED}{match.group(2)}"
    return "/".join(
        REDACTED if _TOKENISH.fullmatch(part) else part for part in path.split("/")
    )


def _context() -> dict[str, Any]:
    if has_request_context():
        return {
            "request_id": g.get("request_id"),
            "method": request.method,
            "path": redact_path(request.path),
        }
    worker = current_worker.get()
    return {"worker": worker} if worker else {}


_factory_installed = False


def _install_record_factory() -> None:
    """Stamp the context on each record where it is made (once per process)."""
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            context = _context()
        except Exception:  # never let logging fail because the context is half torn down
            context = {}
        for key, value in context.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp (UTC, ISO 8601), level, logger, message, the
    context (request_id, method, path or worker), fields passed with ``extra=`` and, for an
    error, the traceback as ``exc_info``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ).replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _CONTEXT:
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The development format, with the request id or worker in brackets when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(where)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None)
        worker = getattr(record, "worker", None)
        record.where = f" [{rid}]" if rid else f" [worker {worker}]" if worker else ""
        return super().format(record)


def formatter(kind: str) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else TextFormatter()


class _OurHandler(logging.StreamHandler):
    """The handler ``configure`` adds to the root logger (recognised when called again)."""


def configure(app: Flask) -> None:
    """Set up the record context, the root handler (unless the host has one, as pytest
    does) and the access log of ``app``."""
    _install_record_factory()
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, _OurHandler)]
    if ours:
        for handler in ours:
            handler.setFormatter(formatter(app.config["LOG_FORMAT"]))
    elif not root.handlers:
        handler = _OurHandler()
        handler.setFormatter(formatter(app.config["LOG_FORMAT"]))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    _redact_werkzeug()
    _init_access_log(app)


class _RedactRequestLine(logging.Filter):
    """The development server's (werkzeug's) own request lines, with the path redacted and
    the query string dropped like in ours."""

    _LINE = re.compile(r"([A-Z]+ )(/\S*)( HTTP/[\d.]+)")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args and isinstance(record.args[0], str):
            line = self._LINE.sub(
                lambda m: f"{m.group(1)}{redact_path(m.group(2))}{m.group(3)}", record.args[0]
            )
            record.args = (line, *record.args[1:])
        return True


def _redact_werkzeug() -> None:
    werkzeug = logging.getLogger("werkzeug")
    if not any(isinstance(f, _RedactRequestLine) for f in werkzeug.filters):
        werkzeug.addFilter(_RedactRequestLine())


access_log = logging.getLogger("schiller40.access")


def _init_access_log(app: Flask) -> None:
    @app.before_request
    def start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def log_request(response: Response) -> Response:
        started = g.get("request_started")
        duration = round((time.perf_counter() - started) * 1000, 1) if started else None
        access_log.info(
            "%s %s %s", request.method, redact_path(request.path), response.status_code,
            extra={"status": response.status_code, "duration_ms": duration},
        )
        return response
