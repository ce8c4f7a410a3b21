"""Typed keys for what the web application holds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.channels.base import Channel, Kind
from bot.config import Settings
from bot.media_links import MediaLinks
from bot.ordering import KeyedLocks
from bot.report_jobs import ReportJobs
from bot.roles import Role
from handlers.engine import Engine
from handlers.turn import Services
from storage.db import SessionFactory

SETTINGS = web.AppKey("settings", Settings)
ROLE = web.AppKey("role", Role)
SESSIONS = web.AppKey("sessions", SessionFactory)
# Read-only work for staff (dashboard pages, public figures) on connections of its own, each
# statement limited to STAFF_QUERY_SECONDS; REPORT_SESSIONS: the same connections, REPORT_QUERY_SECONDS.
STAFF_SESSIONS = web.AppKey("staff_sessions", SessionFactory)
REPORT_SESSIONS = web.AppKey("report_sessions", SessionFactory)
SERVICES = web.AppKey("services", Services)
ENGINE = web.AppKey("engine", Engine)
LOCKS = web.AppKey("locks", KeyedLocks)
# The kinds of channel the app has (bot/channels/registry.py KINDS), and those running in this
# process, by name.
CHANNEL_KINDS = web.AppKey[tuple[Kind, ...]]("channel_kinds")
CHANNELS = web.AppKey[dict[str, Channel]]("channels")
SCHEDULER = web.AppKey("scheduler", AsyncIOScheduler)
CLOCK = web.AppKey[Callable[[], datetime]]("clock")
DASHBOARD_NAV = web.AppKey[list]("dashboard_nav")
MEDIA_LINKS = web.AppKey("media_links", MediaLinks)
REPORT_JOBS = web.AppKey("report_jobs", ReportJobs)
