"""Logging set-up: one line per event, and no secrets: the libraries that log them at DEBUG stay at
INFO, and every configured token, password and key is written as *** wherever it would appear.

`LOG_FORMAT=json` writes one JSON object per line (time, level, logger, message, exception, and the
id of the update or web request being handled, when there is one) for log collectors.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from handlers.observe import REQUEST_ID

if TYPE_CHECKING:
    from bot.config import Settings

# sqlalchemy.engine logs every statement with its parameters (session and CSRF tokens among them) at INFO.
QUIET = (
    "httpx",
    "httpcore",
    "apscheduler.executors.default",
    "aiohttp.access",
    "alembic.runtime.plugins",
    "sqlalchemy.engine",
)
# Libraries that write secrets at DEBUG: python-telegram-bot (the token in its API URL, the webhook
# secret), the database drivers (SQL parameters). Never below INFO.
NEVER_DEBUG = ("telegram", "aiosqlite", "asyncpg")
MASK = "***"
_secrets: set[str] = set()


def hide_secrets(*values: str | None) -> None:
    """Write these values (tokens, passwords, keys from the settings) as *** in every log line."""
    _secrets.update(value for value in values if value and len(value) >= 6)


def hide_settings_secrets(settings: Settings, channel_secrets: Iterable[str] = ()) -> None:
    """Every secret the settings hold (each `SecretStr` setting), the database password, and what
    the channels derive from them (`bot.channels.registry.secrets`)."""
    hide_secrets(*channel_secrets, *settings.secrets(), make_url(settings.database_url).password)


def _redacted(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def _redact(record: logging.LogRecord) -> None:
    """Mask the known secrets in a record's message and traceback before any handler sees it."""
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it when the record is emitted
        return
    clean = _redacted(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[0] is not None:
        trace = logging.Formatter().formatException(record.exc_info)
        clean = _redacted(trace)
        if clean != trace:
            record.exc_text = clean


def install_request_ids() -> None:
    """Stamp every log record with the id of the request or update being handled (`request_id`),
    and mask the secrets given to `hide_secrets` in it."""
    make = logging.getLogRecordFactory()
    if getattr(make, "stamps_request_ids", False):
        return

    def stamped(*args: object, **kwargs: object) -> logging.LogRecord:
        record = make(*args, **kwargs)
        record.request_id = REQUEST_ID.get()
        if _secrets:
            _redact(record)
        return record

    stamped.stamps_request_ids = True  # type: ignore[attr-defined]  # a mark on the function, read back by getattr above
    logging.setLogRecordFactory(stamped)


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str = "INFO", log_format: str = "text") -> None:
    """Log to stderr at `level`, as text or JSON lines; keep chatty libraries at WARNING."""
    install_request_ids()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    if log_format == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in NEVER_DEBUG:
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger().level))
