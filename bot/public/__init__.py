"""The public pages at `/`: what the programme is, the FAQ (searched by the bot's own engine), the
stories, dialogues and campaign dates ahead, figures by commune, and how to reach the bot.

Read-only and server-rendered, no script; Vietnamese unless `?lang=en`, which every link carries on.
Only content and aggregates are shown: nothing about a citizen, a ticket's text or who asked what.
Figures are read through the staff connections (keys.STAFF_SESSIONS), once a minute at most and
once at a time; when reading them takes longer than STAFF_QUERY_SECONDS the page answers 503.
"""

from __future__ import annotations

from aiohttp import web

from bot.public import media, pages
from bot.public.figures import window_dates
from bot.public.site import CACHE, PAGES, TimedCache
from content.pages import load_pages

__all__ = ["CACHE", "PAGES", "TimedCache", "setup", "window_dates"]


def setup(app: web.Application) -> None:
    """Register the public pages (in processes that serve people)."""
    app[CACHE] = TimedCache()
    app[PAGES] = load_pages()
    app.router.add_routes(media.routes)
    app.router.add_routes(pages.routes)
