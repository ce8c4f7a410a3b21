"""Logging set-up: one line per event, and no secrets (HTTP client logs carry the bot token in URLs).

`LOG_FORMAT=json` writes one JSON object per line (time, level, logger, message, exception, and the
id of the update or web request being handled, when there is one) for log collectors.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from handlers.observe import REQUEST_ID

QUIET = ("httpx", "httpcore", "apscheduler.executors.default", "aiohttp.access", "alembic.runtime.plugins")


def install_request_ids() -> None:
    """Stamp every log record with the id of the request or update being handled (`request_id`)."""
    make = logging.getLogRecordFactory()
    if getattr(make, "stamps_request_ids", False):
        return

    def stamped(*args: object, **kwargs: object) -> logging.LogRecord:
        record = make(*args, **kwargs)
        record.request_id = REQUEST_ID.get()
        return record

    stamped.stamps_request_ids = True  # type: ignore[attr-defined]
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
