"""Logging set-up: one line per event, and no secrets (HTTP client logs carry the bot token in URLs)."""

from __future__ import annotations

import logging

QUIET = ("httpx", "httpcore", "apscheduler.executors.default", "aiohttp.access", "alembic.runtime.plugins")


def setup_logging(level: str = "INFO") -> None:
    """Log to stderr at `level`; keep chatty libraries at WARNING."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
