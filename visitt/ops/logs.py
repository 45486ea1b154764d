"""Log lines on stderr: JSON objects (``json``) for collectors, or one readable line each (``text``).

The privacy rule holds in both formats, for our loggers and everyone else's (uvicorn, SQLAlchemy):

- an exception is logged as its type and where it was raised, never its message or locals (a
  database error's message carries the statement's parameters: names, phone numbers);
- invitation tokens in paths (``/v/<token>``, ``/ws/v/<token>``) are masked wherever they appear;
- uvicorn's line for each WebSocket handshake is dropped: it is an access log line (client address
  and path), and access logs stay off.

Everything else is up to the call site: log ids, counts and codes, never names, numbers,
e-mail addresses, tokens or message bodies.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from typing import Any

from visitt.errors import describe

FORMATS = ("json", "text")
TOKEN_IN_PATH = re.compile(r"(/(?:ws/)?v/)[A-Za-z0-9_\-]{8,}")
# Attributes every LogRecord has; anything else on a record came in through ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "color_message"}


def redact(text: str) -> str:
    """``text`` with invitation tokens in paths masked."""
    return TOKEN_IN_PATH.sub(r"\1…", text)


def _exception(record: logging.LogRecord) -> str | None:
    if record.exc_info and record.exc_info[1] is not None:
        return describe(record.exc_info[1])
    return None


class DropAccessLines(logging.Filter):
    """Drops uvicorn's per-WebSocket handshake lines (``<client> - "WebSocket <path>" ...``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith("uvicorn") and str(record.msg).startswith('%s - "WebSocket'))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg``, ``exc`` if any, and extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        if (exc := _exception(record)) is not None:
            line["exc"] = exc
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line:
                line[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``2026-12-01 08:00:01,123 INFO visitt.messaging.outbox message`` with the same privacy rule as JSON."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text
        exc = _exception(record)
        record.exc_info, record.exc_text = None, None  # never the traceback text: it ends with the message
        try:
            text = redact(super().format(record))
        finally:
            record.exc_info, record.exc_text = saved
        return f"{text} [{exc}]" if exc else text


def configure(format: str, level: int = logging.INFO) -> None:
    """Send every logger's records to stderr in ``format`` (``json`` or ``text``), replacing any handlers."""
    if format not in FORMATS:
        raise ValueError(f"VISITT_LOG_FORMAT must be 'json' or 'text', not {format!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if format == "json" else TextFormatter())
    handler.addFilter(DropAccessLines())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
