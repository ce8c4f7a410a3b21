"""GET /metrics in Prometheus' text format, and the counters of the runtime layer.

Counters and histograms count in each process (scrape every process); the queue and ticket gauges
are read from the database at each scrape, so every process reports the same, whole picture.
Figures only: no names, no texts, no chat ids.

Without METRICS_TOKEN only clients on the machine itself (127.0.0.1, ::1) may read it; with it,
anyone presenting `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hmac
import logging
from ipaddress import ip_address

from aiohttp import web
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, generate_latest
from sqlalchemy import func
from sqlmodel import col, select

from bot import keys
from storage.db import SessionFactory
from storage.models import OutboxMessage, OutboxStatus, Ticket

log = logging.getLogger(__name__)

OUTBOX_RESULTS = Counter(
    "caunoi_outbox_results",
    "Outbox delivery attempts by channel and result: sent, retry, rate_limited (both tried again later), failed, "
    "unreachable, skipped",
    ["channel", "result"],
)
OUTBOX_QUEUE = Gauge(
    "caunoi_outbox_queue", "Messages waiting (pending) or going out (sending), by channel", ["channel", "status"]
)
TICKETS = Gauge("caunoi_tickets", "Tickets by status", ["status"])
CHANNELS_ON = Gauge(
    "caunoi_channel_on", "1 for each channel the settings switch on, 0 for one that is off", ["channel"]
)
SCHEDULER_RUNS = Counter(
    "caunoi_scheduler_runs", "Scheduled job runs by job and outcome (ok, error, missed)", ["job", "outcome"]
)
SCRAPE_ERRORS = Counter("caunoi_metrics_database_errors", "Scrapes whose database figures could not be read")


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics."""
    if not _allowed(request, request.app[keys.SETTINGS].metrics_token.get_secret_value()):
        raise web.HTTPNotFound()
    on = _channels_on(request.app)
    try:
        await _read_gauges(request.app[keys.SESSIONS], on)
    except Exception:
        # The process's own counters are still worth reading while the database is away.
        SCRAPE_ERRORS.inc()
        log.exception("metrics: cannot read the queue and ticket figures from the database")
    response = web.Response(body=generate_latest(REGISTRY))
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response


def _allowed(request: web.Request, token: str) -> bool:
    if token:
        offered = request.headers.get("Authorization", "")
        return hmac.compare_digest(offered.encode(), f"Bearer {token}".encode())
    try:
        return request.remote is not None and ip_address(request.remote).is_loopback
    except ValueError:
        return False


def _channels_on(app: web.Application) -> list[str]:
    """Every registered channel, 1 when the settings switch it on: the names of those on."""
    settings = app[keys.SETTINGS]
    for kind in app[keys.CHANNEL_KINDS]:
        CHANNELS_ON.labels(kind.name).set(1 if kind.enabled(settings) else 0)
    return [kind.name for kind in app[keys.CHANNEL_KINDS] if kind.enabled(settings)]


async def _read_gauges(sessions: SessionFactory, channels: list[str]) -> None:
    """The outbox queue (a series for every channel that is on, 0 when nothing waits) and the tickets."""
    async with sessions() as session:
        waiting = (
            await session.exec(
                select(OutboxMessage.channel, OutboxMessage.status, func.count())
                .where(col(OutboxMessage.status).in_([OutboxStatus.pending, OutboxStatus.sending]))
                .group_by(OutboxMessage.channel, OutboxMessage.status)
            )
        ).all()
        tickets = (await session.exec(select(Ticket.status, func.count()).group_by(Ticket.status))).all()
    OUTBOX_QUEUE.clear()
    for channel in channels:
        for state in (OutboxStatus.pending, OutboxStatus.sending):
            OUTBOX_QUEUE.labels(channel, str(state)).set(0)
    for channel, status, count in waiting:
        OUTBOX_QUEUE.labels(channel, status).set(count)
    TICKETS.clear()
    for status, count in tickets:
        TICKETS.labels(status).set(count)


def count_job(event: JobExecutionEvent) -> None:
    """APScheduler listener: one run of a job (ids are a fixed set: the jobs and the campaigns)."""
    outcome = "missed" if event.code == EVENT_JOB_MISSED else ("error" if event.exception is not None else "ok")
    SCHEDULER_RUNS.labels(str(event.job_id), outcome).inc()


JOB_EVENTS = EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
