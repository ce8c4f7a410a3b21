"""What every public page shares: the figures cache, language and links, rendering, the 404 and the
"figures too slow" pages."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot import keys
from content.i18n import N_, Translator
from storage.db import timed_out

log = logging.getLogger("bot.public")
STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "public"
PAGE_CACHE = "public, max-age=60"
ASSET_CACHE = "public, max-age=31536000, immutable"
CACHE_SECONDS = 60
ALLOWED_LINK = ("https://", "http://")


@dataclass
class TimedCache:
    """Figures the pages share, recomputed at most once a minute (the statistics read a year of tickets)."""

    seconds: float = CACHE_SECONDS
    entries: dict[str, tuple[float, Any]] = field(default_factory=dict)
    loading: dict[str, asyncio.Task[Any]] = field(default_factory=dict)

    async def get(self, key: str, load: Callable[[], Awaitable[Any]]) -> Any:
        """The cached value of `key`, loading it again when it is older than `seconds`. Requests that
        arrive during a load wait for that one: many visitors never take several staff connections."""
        found = self.entries.get(key)
        if found is not None and time.monotonic() - found[0] < self.seconds:
            return found[1]
        task = self.loading.get(key)
        if task is None:
            task = self.loading[key] = asyncio.ensure_future(self._load(key, load))
        return await asyncio.shield(task)  # a visitor who leaves does not stop the others' load

    async def _load(self, key: str, load: Callable[[], Awaitable[Any]]) -> Any:
        try:
            value = await load()
            self.entries[key] = (time.monotonic(), value)
            return value
        finally:
            del self.loading[key]


CACHE = web.AppKey("public_cache", TimedCache)
PAGES = web.AppKey("public_pages", tuple)
NAV = (
    ("public-home", N_("Home")),
    ("public-faq", N_("Questions and answers")),
    ("public-stories", N_("Stories")),
    ("public-calendar", N_("Dates ahead")),
    ("public-stats", N_("Figures")),
)


def translator_of(request: web.Request) -> Translator:
    """?lang=, else the configured default (Vietnamese)."""
    return request.app[keys.SERVICES].catalogs.get(request.query.get("lang"))


def link(request: web.Request, translator: Translator, path: str, **query: str) -> str:
    """A link to one of our pages that keeps the chosen language."""
    params = {key: value for key, value in query.items() if value}
    if translator.locale != request.app[keys.SERVICES].catalogs.default_locale:
        params["lang"] = translator.locale
    return f"{path}?{urlencode(params)}" if params else path


def _switch(request: web.Request, translator: Translator) -> tuple[str, str, str]:
    """(href, label, lang) of the link to this page in the other language."""
    other = "en" if translator.locale == "vi" else "vi"
    query = {key: value for key, value in request.query.items() if key != "lang"}
    if other != request.app[keys.SERVICES].catalogs.default_locale:
        query["lang"] = other
    href = f"{request.path}?{urlencode(query)}" if query else request.path
    return href, ("English" if other == "en" else "Tiếng Việt"), other


@cache
def asset_version(name: str) -> str:
    """A short hash of a static file, so its URL changes whenever it does and browsers may keep it for a year."""
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]


def render(request: web.Request, template: str, context: dict[str, Any], *, status: int = 200) -> web.Response:
    """Render a public page with the shared context (language, links, menu)."""
    translator = translator_of(request)
    url = request.app.router
    base = {
        "_": translator.gettext,
        "lang": translator.locale,
        "t": translator,
        "link": lambda path, **query: link(request, translator, path, **query),
        "switch": _switch(request, translator),
        "path": request.path,
        "nav": [(str(url[name].url_for()), label) for name, label in NAV],
        "css": f"/static/public.css?v={asset_version('public.css')}",
        "chat": link(request, translator, "/chat"),
    }
    response = aiohttp_jinja2.render_template(f"public/{template}", request, {**base, **context}, status=status)
    response.headers["Cache-Control"] = PAGE_CACHE
    response.headers["Content-Language"] = translator.locale
    return response


def not_found(request: web.Request) -> web.Response:
    """The public 404 page."""
    return render(request, "missing.html", {}, status=404)


def with_figures(
    handler: Callable[[web.Request], Awaitable[web.Response]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A page showing figures: when reading them runs past its time limit, a 503 page asking to
    try again later, instead of an error."""

    @functools.wraps(handler)
    async def page(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except SQLAlchemyError as error:
            if not timed_out(error):
                raise
            log.warning(
                "public page %s stopped: its figures took too long to read: %s", request.path, error.__class__.__name__
            )
            response = render(request, "slow.html", {}, status=503)
            response.headers["Cache-Control"] = "no-store"
            response.headers["Retry-After"] = "60"
            return response

    return page


def paragraphs(text: str) -> list[list[str]]:
    """A bot answer as paragraphs of lines, for HTML that escapes every line."""
    return [[line for line in block.split("\n") if line.strip()] for block in text.split("\n\n") if block.strip()]
