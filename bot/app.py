"""The application factory: one aiohttp app holding the database, content, engine and channels.

Each resource opens and closes in its own `cleanup_ctx` generator, in the order listed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp.typedefs import Middleware
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot import dashboard, keys, metrics
from bot.campaigns import catch_up
from bot.campaigns import schedule as schedule_campaigns
from bot.channels import registry
from bot.channels.base import Kind
from bot.config import Settings, ensure_secret_key
from bot.features import build_router
from bot.flood import flood_gate
from bot.logs import hide_settings_secrets
from bot.media_links import MediaLinks
from bot.ordering import KeyedLocks
from bot.proxies import forwarded
from bot.report_jobs import ReportJobs
from bot.report_jobs import sweep as sweep_report_jobs
from bot.roles import Role
from bot.routes import compression, request_ids, security_headers, setup_routes, weak_etag_when_gzipped
from content import refresh
from content.areas import AreaDirectory
from content.i18n import Catalogs
from content.importer import load_or_import, stored_campaigns
from content.library import Library
from handlers import polls
from handlers.engine import Engine, utc_now
from handlers.notices import queue_due
from handlers.officer import daily_reminders
from handlers.quiz_contest import announce_finished
from handlers.turn import Services, TicketPolicy
from storage import address_limits, faq_summary, prune, tally
from storage.db import create_engine, create_staff_engine, session_factory, staff_session_factory
from storage.files import private_dir
from storage.holders import Holder
from storage.migrate import check_current

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).parent / "templates"
BROADCAST_CHECK_SECONDS = 10
FAQ_SUMMARY_DAYS = 4  # FAQ usage: days summed per transaction
TALLY_FOLD_SECONDS = 15  # notice counters: how often the change journal is folded in


def create_app(
    settings: Settings, *, clock=utc_now, role: Role = Role.all, channels: Sequence[Kind] = registry.KINDS
) -> web.Application:
    """Assemble the web app; resources start when the app starts. `role` picks what this process
    does when the bot runs as several (see Role); `channels`, the kinds of channel it has."""
    # First: every other middleware and handler sees the visitor, not the proxy.
    middlewares: list[Middleware] = [forwarded(settings.trusted_networks), request_ids, security_headers, compression]
    app = web.Application(client_max_size=1024 * 1024, middlewares=middlewares)
    app.on_response_prepare.append(weak_etag_when_gzipped)
    app[keys.SETTINGS] = settings
    app[keys.ROLE] = role
    hide_settings_secrets(settings, registry.secrets(channels, settings))
    app[keys.LOCKS] = KeyedLocks()
    app[keys.CLOCK] = clock
    app[keys.CHANNEL_KINDS] = tuple(channels)
    app[keys.CHANNELS] = {}
    catalogs = Catalogs(settings.tz, settings.default_locale)
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    app.cleanup_ctx.append(_database(settings))
    app.cleanup_ctx.append(_conversations(settings, catalogs, clock))
    app.cleanup_ctx.append(_report_jobs(settings, catalogs, clock))
    for kind in channels:
        app.cleanup_ctx.append(registry.lifecycle(kind, settings, clock))
    app.cleanup_ctx.append(_scheduler(settings, clock))
    setup_routes(app, role)
    if role.serves:
        dashboard.setup(app)
        app.on_startup.append(dashboard.ensure_admin)
    return app


def _database(settings: Settings):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        private_dir(settings.data_dir, tighten=True)  # 0700: the database, media and keys are the bot's alone
        engine = create_engine(settings.database_url)
        try:
            await check_current(engine)
        except BaseException:
            await engine.dispose()
            raise
        holder = Holder(engine)
        await holder.start()
        app[keys.SESSIONS] = session_factory(engine, holder.info)
        # Opens its connections when first used: a process that serves no staff opens none.
        staff = create_staff_engine(settings.database_url, query_seconds=settings.staff_query_seconds)
        app[keys.STAFF_SESSIONS] = staff_session_factory(staff)
        app[keys.REPORT_SESSIONS] = staff_session_factory(staff, settings.report_query_seconds)
        yield
        await staff.dispose()
        await holder.stop()
        await engine.dispose()

    return ctx


def _conversations(settings: Settings, catalogs: Catalogs, clock):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        sessions = app[keys.SESSIONS]
        async with sessions() as session:
            areas, bundle = await load_or_import(session, now=clock())
            version = await refresh.content_version(session)
        policy = TicketPolicy(
            due_days=dict(settings.due_days), holidays=settings.holiday_dates, daily_limit=settings.ticket_daily_limit
        )
        services = Services(
            areas=AreaDirectory(areas),
            catalogs=catalogs,
            library=Library(bundle, version),
            tz=settings.tz,
            tickets=policy,
            address_limits=settings.address_limits,
            web_link=timedelta(hours=settings.staff_session_hours),
        )
        app[keys.SERVICES] = services
        engine = Engine(
            sessions,
            build_router(),
            services,
            clock=clock,
            conversation_ttl=timedelta(hours=settings.conversation_ttl_hours),
            flood=flood_gate(settings.flood_burst, settings.flood_window_seconds),
        )
        app[keys.ENGINE] = engine
        app[keys.MEDIA_LINKS] = MediaLinks(ensure_secret_key(settings), settings.data_dir, settings.public_base_url)
        watcher = asyncio.create_task(refresh.watch(sessions, services.library), name="content-refresh")
        yield
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher

    return ctx


def _report_jobs(settings: Settings, catalogs: Catalogs, clock):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        if not app[keys.ROLE].serves:  # reports are asked for in the dashboard, and made where they were asked
            yield
            return
        # SQLite has one process: at its start, every unfinished job is one a stopped process left.
        await sweep_report_jobs(app[keys.SESSIONS], clock, every=settings.database_url.startswith("sqlite"))
        jobs = ReportJobs(
            app[keys.SESSIONS],
            app[keys.REPORT_SESSIONS],
            app[keys.SERVICES].areas,
            catalogs,
            settings.tz,
            settings.data_dir,
            clock,
        )
        app[keys.REPORT_JOBS] = jobs
        yield
        await jobs.stop()

    return ctx


def _scheduler(settings: Settings, clock):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        if not app[keys.ROLE].works:
            yield
            return
        scheduler = AsyncIOScheduler(timezone=settings.tz)
        scheduler.add_listener(metrics.count_job, metrics.JOB_EVENTS)
        sessions, services = app[keys.SESSIONS], app[keys.SERVICES]

        def daily(hour: int, minute: int) -> CronTrigger:
            return CronTrigger(hour=hour, minute=minute, timezone=settings.tz)

        jobs = (  # id, task, when, its arguments, whether it also runs at the start
            ("officer-reminders", _daily_reminders, daily(7, 30), [app, clock], False),
            ("broadcasts", _queue_broadcasts, IntervalTrigger(seconds=BROADCAST_CHECK_SECONDS), [app, clock], True),
            ("quiz-contests", announce_finished, IntervalTrigger(minutes=5), [sessions, services, clock], True),
            ("polls", polls.tick, IntervalTrigger(seconds=BROADCAST_CHECK_SECONDS), [sessions, services, clock], True),
            ("report-jobs", sweep_report_jobs, IntervalTrigger(minutes=5), [sessions, clock], False),
            ("address-counts", _prune_address_counts, IntervalTrigger(hours=1), [app, clock], False),
            ("faq-summaries", _summarise_faq_usage, IntervalTrigger(minutes=30), [app, clock], True),
            ("notice-tally", _fold_notice_tally, IntervalTrigger(seconds=TALLY_FOLD_SECONDS), [app], False),
            ("retention", _prune, daily(settings.prune_at.hour, settings.prune_at.minute), [app, clock], False),
        )
        for job_id, task, trigger, args, at_start in jobs:
            # A job never runs twice at once and runs missed meanwhile fold into one; a daily one
            # still runs when the process was busy at its time, up to an hour late.
            options: dict[str, Any] = {"misfire_grace_time": 3600} if isinstance(trigger, CronTrigger) else {}
            if at_start:
                options["next_run_time"] = datetime.now(UTC)
            scheduler.add_job(
                task, trigger, args=args, id=job_id, replace_existing=True, coalesce=True, max_instances=1, **options
            )
        async with app[keys.SESSIONS]() as session:
            campaigns = await stored_campaigns(session, [area.code for area in app[keys.SERVICES].areas.records])
        if not campaigns:
            log.warning("no campaigns in the database (run `python -m bot content import`): none will run")
        grace = timedelta(hours=settings.campaign_grace_hours)
        schedule_campaigns(scheduler, app[keys.SESSIONS], campaigns, settings.tz, clock, grace)
        for line in await catch_up(app[keys.SESSIONS], campaigns, settings.tz, clock(), grace):
            log.info("campaigns at start-up: %s", line)
        scheduler.start()
        app[keys.SCHEDULER] = scheduler
        yield
        # shutdown() cancels running jobs without waiting for them; wait here, so that none is still
        # unwinding (and holding a database connection) when the database closes.
        running = [
            job for executor in scheduler._executors.values() for job in getattr(executor, "_pending_futures", ())
        ]
        scheduler.shutdown(wait=False)
        if running:
            await asyncio.wait(running, timeout=10)

    return ctx


async def _queue_broadcasts(app: web.Application, clock) -> None:
    """Queue the broadcasts whose time has come."""
    async with app[keys.SESSIONS]() as session:
        await queue_due(session, app[keys.SERVICES], clock())
        await session.commit()


async def _prune_address_counts(app: web.Application, clock) -> None:
    """Forget the web chat's per-address counts of periods that have ended."""
    async with app[keys.SESSIONS]() as session:
        await address_limits.prune(session, clock())
        await session.commit()


async def _fold_notice_tally(app: web.Application) -> None:
    """Move the journal of notice messages' changes into the delivery counters (storage/tally.py)."""
    async with app[keys.SESSIONS]() as session:
        moved = await tally.fold_all(session)
    if moved:
        log.debug("notice counters: %d changes folded", moved)


async def _prune(app: web.Application, clock) -> None:
    """Apply the retention rules (storage/prune.py) in small batches; log and audit-log what went."""
    now = clock()
    outcomes = await prune.run(app[keys.SESSIONS], prune.rules(app[keys.SETTINGS].retention), now)
    for outcome in outcomes:
        log.info("retention: %s", outcome.line(dry_run=False))
    async with app[keys.SESSIONS]() as session:
        await prune.record(session, outcomes, now, actor="scheduler")
        await session.commit()


async def _summarise_faq_usage(app: web.Application, clock) -> None:
    """Sum the FAQ counters of the local days and months that have ended, a few days at a time
    (the first run after an upgrade catches up on every day before): what to sum and the sums are
    written on the main connection in short transactions, the sums read on a staff connection."""
    made = 0
    while True:
        async with app[keys.SESSIONS]() as session:
            due = await faq_summary.due(session, app[keys.SERVICES].tz, clock(), FAQ_SUMMARY_DAYS)
        if not due:
            break
        async with app[keys.REPORT_SESSIONS]() as read:
            sums = [await faq_summary.sums(read, span) for span in due]
        async with app[keys.SESSIONS]() as session:
            stored = await faq_summary.store(session, due, sums, clock())
            await session.commit()
        made += stored
        if stored < FAQ_SUMMARY_DAYS:
            break
    if made:
        log.info("FAQ usage summed for %d more days", made)


async def _daily_reminders(app: web.Application, clock) -> None:
    """Tell each linked officer about new and overdue reports of their area (once a day)."""
    async with app[keys.SESSIONS]() as session:
        count = await daily_reminders(session, app[keys.SERVICES], clock())
        await session.commit()
    log.info("officer reminders queued: %d", count)
