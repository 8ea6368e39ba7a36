"""Logs on stderr: one JSON object per line, or readable text on a terminal.

``SHOPWINDOW_LOG_FORMAT`` chooses; ``auto`` (the default) writes text when stderr is a
terminal (``make run`` in a shell) and JSON lines otherwise (containers, log shippers).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

# Attributes every LogRecord has; anything else came in through ``extra=``.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """Formats a record as JSON with its ``extra`` fields at the top level."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


_COLORS = {
    "DEBUG": "\x1b[2m",
    "INFO": "\x1b[36m",
    "WARNING": "\x1b[33m",
    "ERROR": "\x1b[31;1m",
    "CRITICAL": "\x1b[31;1m",
}
_RESET = "\x1b[0m"


class TextFormatter(logging.Formatter):
    """Formats a record as one readable line: time, level, logger, message, then its
    ``extra`` fields as ``key=value``.

    Args:
        color: Color the level (for a terminal).
    """

    def __init__(self, color: bool) -> None:
        super().__init__()
        self._color = color

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        level = f"{record.levelname:<7}"
        if self._color:
            level = f"{_COLORS.get(record.levelname, '')}{level}{_RESET}"
        extras = " ".join(
            f"{key}={value}"
            for key, value in vars(record).items()
            if key not in _STANDARD and key != "color_message"
        )
        line = f"{when} {level} {record.name}: {record.getMessage()}"
        if extras:
            line += f"  {extras}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup_logging(level: str, log_format: str = "auto") -> None:
    """Send every logger's records to stderr.

    Args:
        level: ``DEBUG``, ``INFO``, ``WARNING`` or ``ERROR``.
        log_format: ``json``, ``text``, or ``auto`` (text on a terminal).
    """
    terminal = sys.stderr.isatty()
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "text" or (log_format == "auto" and terminal):
        handler.setFormatter(TextFormatter(color=terminal))
    else:
        handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
