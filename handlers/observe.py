"""What the conversation layer counts for /metrics (Prometheus): turns per channel, their latency and
outcome, and what became of FAQ questions. The web layer exposes them (bot/metrics.py).

The objects live in prometheus-client's default registry: one set per process, which is what a
Prometheus server scraping each process expects.
"""

from __future__ import annotations

import itertools
import secrets
from contextvars import ContextVar

from prometheus_client import Counter, Histogram

# The id of the web request or update being handled in this task, for the logs (asyncio copies it
# into the tasks a handler starts). Web requests get one in a middleware; the engine gives each
# update handled outside a web request its own.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)


_ID_PREFIX = secrets.token_hex(3)  # tells processes apart
_ID_COUNTER = itertools.count(1)


def new_id() -> str:
    """A short id for a request or an update, unique in this process (a counter) and, by its random
    prefix, almost surely across processes: an id for the logs, not a secret."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):06x}"


UPDATES_RECEIVED = Counter("caunoi_updates_received", "Messages and button presses that reached the bot", ["channel"])
UPDATES_HANDLED = Counter(
    "caunoi_updates_handled", "Messages and button presses handled, by outcome (ok, error)", ["channel", "outcome"]
)
TURN_SECONDS = Histogram(
    "caunoi_handler_seconds",
    "Time to handle one message, database included",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
FAQ_OUTCOMES = Counter(
    "caunoi_faq_outcomes",
    "FAQ questions by outcome: answer, suggest (a list of near questions), none (no answer), helpful, unhelpful",
    ["outcome"],
)
