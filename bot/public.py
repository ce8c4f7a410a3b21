"""The public pages at `/`: what the programme is, the FAQ (searched by the bot's own engine), the
stories, dialogues and campaign dates ahead, figures by commune, and how to reach the bot.

Read-only and server-rendered, no script; Vietnamese unless `?lang=en`, which every link carries on.
Only content and aggregates are shown: nothing about a citizen, a ticket's text or who asked what.
Figures are read through the staff connections (keys.STAFF_SESSIONS), once a minute at most and
once at a time; when reading them takes longer than STAFF_QUERY_SECONDS the page answers 503.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import segno
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot import charts, keys
from bot.dashboard.stats import telegram_username
from bot.report import Period
from content.campaigns import Window
from content.i18n import N_, Translator
from content.importer import stored_campaigns
from content.model import FaqEntry
from content.pages import load_pages, on_day
from content.search import Status
from content.text import clean_input, strip_diacritics
from handlers.faq import SUGGEST_TEXT, answer_text
from storage import dialogues as dialogue_repo
from storage import public as public_repo
from storage import stats
from storage.db import timed_out

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
STATIC_DIR = Path(__file__).resolve().parent / "static" / "public"
PAGE_CACHE = "public, max-age=60"
ASSET_CACHE = "public, max-age=31536000, immutable"
CACHE_SECONDS = 60
STATS_DAYS = 365
HOME_ITEMS = 3
TOP_TOPICS = 12
MAX_QUERY = 500  # as the search field allows; the chat takes longer messages
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


def setup(app: web.Application) -> None:
    """Register the public pages (in processes that serve people)."""
    app[CACHE] = TimedCache()
    app[PAGES] = load_pages()
    app.router.add_routes(routes)


# ---- language, links, rendering ----------------------------------------------------------------

def translator_of(request: web.Request) -> Translator:
    """?lang=, else the configured default (Vietnamese)."""
    return request.app[keys.SERVICES].catalogs.get(request.query.get("lang"))


def _link(request: web.Request, translator: Translator, path: str, **query: str) -> str:
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
        "_": translator.gettext, "lang": translator.locale, "t": translator,
        "link": lambda path, **query: _link(request, translator, path, **query),
        "switch": _switch(request, translator), "path": request.path,
        "nav": [(str(url[name].url_for()), label) for name, label in NAV],
        "css": f"/static/public.css?v={asset_version('public.css')}",
        "chat": _link(request, translator, "/chat"),
    }
    response = aiohttp_jinja2.render_template(f"public/{template}", request, {**base, **context}, status=status)
    response.headers["Cache-Control"] = PAGE_CACHE
    response.headers["Content-Language"] = translator.locale
    return response


def not_found(request: web.Request) -> web.Response:
    """The public 404 page."""
    return render(request, "missing.html", {}, status=404)


def with_figures(handler: Callable[[web.Request], Awaitable[web.Response]]) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A page showing figures: when reading them runs past its time limit, a 503 page asking to
    try again later, instead of an error."""
    @functools.wraps(handler)
    async def page(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except SQLAlchemyError as error:
            if not timed_out(error):
                raise
            log.warning("public page %s stopped: its figures took too long to read: %s", request.path, error.__class__.__name__)
            response = render(request, "slow.html", {}, status=503)
            response.headers["Cache-Control"] = "no-store"
            response.headers["Retry-After"] = "60"
            return response
    return page


def _today(request: web.Request) -> date:
    return request.app[keys.CLOCK]().astimezone(request.app[keys.SERVICES].tz).date()


def paragraphs(text: str) -> list[list[str]]:
    """A bot answer as paragraphs of lines, for HTML that escapes every line."""
    return [[line for line in block.split("\n") if line.strip()] for block in text.split("\n\n") if block.strip()]


# ---- how to reach the bot ----------------------------------------------------------------------

@dataclass(frozen=True)
class Way:
    """One way to talk to the bot: its name, the link and a short hint (msgids)."""

    via: str
    name: str
    url: str
    hint: str

    @property
    def absolute(self) -> bool:
        """Whether the link works outside this site (printed, or as a QR code)."""
        return self.url.startswith(ALLOWED_LINK)


def ways_to_reach(request: web.Request) -> list[Way]:
    """Telegram when connected, Zalo when a Zalo channel is on and ZALO_LINK is set, the web chat always:
    at PUBLIC_BASE_URL, else relative (a Host header is the visitor's to write, and pages are cached)."""
    ways = []
    settings = request.app[keys.SETTINGS]
    username = telegram_username(request)
    if username:
        ways.append(Way("telegram", "Telegram", f"https://t.me/{username}", N_("Open the link or scan the code, then press Start.")))
    if settings.zalo_link and (settings.zalo_bot_enabled or settings.zalo_oa_enabled):
        ways.append(Way("zalo", "Zalo", settings.zalo_link, N_("Open the link or scan the code with Zalo, then send a message.")))
    base = settings.public_base_url.rstrip("/")
    ways.append(Way("web", N_("Web chat"), f"{base}/chat", N_("Works in any browser, nothing to install.")))
    return ways


@routes.get("/qr/{via:telegram|zalo|web}.svg", name="public-qr")
async def qr_code(request: web.Request) -> web.Response:
    """GET /qr/telegram.svg|zalo.svg|web.svg: the QR code of that way to reach the bot (404 when it is
    off, and for the web chat without PUBLIC_BASE_URL)."""
    way = next((way for way in ways_to_reach(request) if way.via == request.match_info["via"]), None)
    if way is None or not way.absolute:
        return not_found(request)
    buffer = BytesIO()
    segno.make(way.url, error="m", micro=False).save(buffer, kind="svg", scale=6, border=2, title=way.url)
    return web.Response(body=buffer.getvalue(), content_type="image/svg+xml", headers={"Cache-Control": "public, max-age=3600"})


@routes.get("/static/{name:[a-z0-9_-]+\\.css}", name="public-static")
async def static_file(request: web.Request) -> web.StreamResponse:
    """GET /static/NAME.css: the public style sheet, kept by browsers for a year under its versioned URL."""
    path = STATIC_DIR / request.match_info["name"]
    if not path.is_file():
        raise web.HTTPNotFound()
    versioned = request.query.get("v") == asset_version(path.name)
    return web.FileResponse(path, headers={"Cache-Control": ASSET_CACHE if versioned else "public, max-age=3600"})


# ---- figures -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class CommuneFigures:
    """One commune's row of the public table."""

    code: str
    name: str
    answers: int
    received: int
    answered: int
    on_time: int

    @property
    def on_time_share(self) -> float | None:
        """Answered on time among answered (None when nothing was answered)."""
        return self.on_time / self.answered if self.answered else None


@dataclass(frozen=True)
class Figures:
    """What the public sees of the last twelve months: answers, feedback, timeliness, by topic and commune."""

    period: Period
    answers: int
    topics: list[stats.TopicUsage]
    tickets: stats.TicketCounts
    median_hours: float | None
    communes: list[CommuneFigures]


async def load_figures(request: web.Request) -> Figures:
    """Aggregate the last twelve months with storage.stats (no text, no identity leaves the database)."""
    services = request.app[keys.SERVICES]
    now = request.app[keys.CLOCK]()
    today = now.astimezone(services.tz).date()
    period = Period(today - timedelta(days=STATS_DAYS - 1), today)
    scope = period.scope(services.tz, None)
    async with request.app[keys.STAFF_SESSIONS]() as session:
        summary = await stats.ticket_summary(session, scope, services.tz, now)
        usage = await stats.faq_usage(session, scope)
        by_area = await public_repo.answers_by_area(session, scope)
    communes = []
    for code in set(summary.by_area) | set(by_area):
        counts = summary.by_area.get(code, stats.TicketCounts())
        area = services.areas.get(code) if code else None
        communes.append(CommuneFigures(code, area.label if area else "", by_area.get(code, 0), counts.received,
                                       counts.answered, counts.on_time))
    communes.sort(key=lambda row: (not row.name, strip_diacritics(row.name.split(" ", 1)[-1]).lower(), row.code))
    return Figures(period, sum(item.shown for item in usage), stats.by_topic(usage), summary.total,
                   summary.median_hours, communes)


async def figures(request: web.Request) -> Figures:
    """The figures, at most a minute old."""
    return await request.app[CACHE].get("figures", lambda: load_figures(request))


def _percent(translator: Translator, share: float | None) -> str:
    return "–" if share is None else f"{translator.format_number(round(share * 100))} %"


# ---- dates ahead -------------------------------------------------------------------------------

@dataclass(frozen=True)
class DateAhead:
    """One dialogue, campaign or contest on the calendar."""

    kind: str
    title: str
    starts: date
    ends: date | None = None
    when: str = ""
    details: tuple[tuple[str, str], ...] = ()
    url: str = ""


def window_dates(window: Window, today: date) -> tuple[date, date]:
    """The days of the campaign window running today, else of the next one."""
    if window.contains(today):
        year = today.year if (today.month, today.day) >= window.start else today.year - 1
        start = _day(year, window.start)
    else:
        start = window.next_start(today)
    end = _day(start.year, window.end)
    return start, end if end >= start else _day(start.year + 1, window.end)


def _day(year: int, month_day: tuple[int, int]) -> date:
    """A day of a year; 29 February becomes 28 February in other years."""
    month, day = month_day
    try:
        return date(year, month, day)
    except ValueError:
        return date(year, month, day - 1)


async def load_dates(request: web.Request) -> list[DateAhead]:
    """Announced dialogues, campaign windows and quiz contests, soonest first (facts only, never who asked)."""
    services = request.app[keys.SERVICES]
    translator = translator_of(request)
    now = request.app[keys.CLOCK]()
    today = now.astimezone(services.tz).date()
    async with request.app[keys.STAFF_SESSIONS]() as session:
        dialogues = await dialogue_repo.upcoming_public(session, now)
        campaigns = await stored_campaigns(session, [area.code for area in services.areas.records])
        contests = await public_repo.current_contests(session, today)
    found = [_dialogue(translator, services, item) for item in dialogues]
    for campaign in campaigns:
        if campaign.window is not None:
            start, end = window_dates(campaign.window, today)
            title = campaign.title.get(translator.locale) or campaign.title.get("vi") or campaign.id
            found.append(DateAhead("campaign", title, start, end))
    for contest in contests:
        title = contest.titles.get(translator.locale) or contest.titles.get("vi") or ""
        found.append(DateAhead("contest", title, contest.starts_on, contest.ends_on))
    return sorted(found, key=lambda item: (item.starts, item.kind, item.title))


def _dialogue(translator: Translator, services: Any, item: dialogue_repo.PublicDialogue) -> DateAhead:
    _ = translator.gettext
    area = services.areas.get(item.area_code) if item.area_code else None
    details = [(N_("Where"), item.place), (N_("Officials"), item.officials),
               (N_("For"), area.label if area and area.level == "commune" else _("the whole province")),
               (N_("Send questions before"), translator.format_datetime(item.questions_close_at)),
               (N_("Questions sent so far"), translator.format_number(item.questions))]
    title = item.topics.get(translator.locale) or item.topics.get("vi") or ""
    return DateAhead("dialogue", title, item.held_at.astimezone(services.tz).date(),
                     when=translator.format_datetime(item.held_at), details=tuple((k, v) for k, v in details if v),
                     url=item.online_url if item.online_url.startswith(ALLOWED_LINK) else "")


async def dates_ahead(request: web.Request) -> list[DateAhead]:
    """The calendar in the request's language, at most a minute old."""
    return await request.app[CACHE].get(f"dates:{translator_of(request).locale}", lambda: load_dates(request))


# ---- pages -------------------------------------------------------------------------------------

@routes.get("/", name="public-home")
@with_figures
async def home(request: web.Request) -> web.Response:
    """GET /: the programme in short, search, how to reach the bot, what is coming, the figures, stories."""
    today = _today(request)
    library = request.app[keys.SERVICES].library
    return render(request, "home.html", {
        "about": on_day(request.app[PAGES], "home-about", today),
        "ways": ways_to_reach(request), "dates": (await dates_ahead(request))[:HOME_ITEMS],
        "figures": await figures(request), "stories": library.stories()[:HOME_ITEMS], "topics": library.topics(today),
        "percent": lambda share: _percent(translator_of(request), share),
    })


@dataclass(frozen=True)
class SearchView:
    """What the bot would answer: one entry, some suggestions, or nothing yet."""

    query: str
    status: str
    entry: FaqEntry | None = None
    answer: list[list[str]] = field(default_factory=list)
    suggestions: tuple[FaqEntry, ...] = ()


def search_view(request: web.Request, query: str) -> SearchView | None:
    """Search the FAQ exactly as the bot does for a typed question, with the rules in force today."""
    query = clean_input(query[:MAX_QUERY])
    if not query:
        return None
    today = _today(request)
    result = request.app[keys.SERVICES].library.index.search(query, on=today)
    if result.status is Status.answer and result.best is not None:
        entry = result.best.entry
        previous = request.app[keys.SERVICES].library.previous(entry)
        return SearchView(query, "answer", entry, paragraphs(answer_text(entry, translator_of(request), today, previous)))
    if result.status is Status.suggest:
        return SearchView(query, "suggest", suggestions=tuple(match.entry for match in result.matches))
    return SearchView(query, "none")


@routes.get("/hoi-dap", name="public-faq")
async def faq_index(request: web.Request) -> web.Response:
    """GET /hoi-dap[?q=]: the topics, and the bot's answer to a question."""
    library = request.app[keys.SERVICES].library
    today = _today(request)
    topics = [(topic, len(library.in_topic(topic.id, today))) for topic in library.topics(today)]
    return render(request, "faq.html", {
        "search": search_view(request, request.query.get("q", "")), "topics": topics, "suggest_text": SUGGEST_TEXT,
    })


@routes.get("/hoi-dap/cau/{faq_id}", name="public-faq-entry")
async def faq_entry(request: web.Request) -> web.Response:
    """GET /hoi-dap/cau/ID: one entry as the bot answers it; a rule not in force today says so. A
    draft or an entry waiting for review is unknown here, as it is to the bot."""
    library = request.app[keys.SERVICES].library
    entry = library.faq(request.match_info["faq_id"])
    if entry is None or not entry.published or entry.needs_review:
        return not_found(request)
    today = _today(request)
    translator = translator_of(request)
    related = [other for other in library.in_topic(entry.topic, today) if other.id != entry.id][:5]
    newer = library.faq(entry.replaced_by) if entry.replaced_by else None
    if newer is not None and (not newer.published or newer.needs_review):
        newer = None
    return render(request, "entry.html", {
        "entry": entry, "text": entry.text(translator.locale),
        "answer": paragraphs(answer_text(entry, translator, today, library.previous(entry))),
        "topic": library.topic(entry.topic), "related": related, "in_force": entry.is_valid_on(today),
        "upcoming": bool(entry.valid_from and entry.valid_from > today), "newer": newer,
        "links": [source for source in entry.sources if source.url and source.url.startswith(ALLOWED_LINK)],
    })


@routes.get("/hoi-dap/{topic}", name="public-faq-topic")
async def faq_topic(request: web.Request) -> web.Response:
    """GET /hoi-dap/TOPIC: the questions of a topic with their answers."""
    library = request.app[keys.SERVICES].library
    topic = library.topic(request.match_info["topic"])
    today = _today(request)
    if topic is None:
        return not_found(request)
    translator = translator_of(request)
    entries = [(entry, paragraphs(answer_text(entry, translator, today))) for entry in library.in_topic(topic.id, today)]
    return render(request, "topic.html", {"topic": topic, "entries": entries, "topics": library.topics(today)})


@routes.get("/cau-chuyen", name="public-stories")
async def stories(request: web.Request) -> web.Response:
    """GET /cau-chuyen: the published stories."""
    return render(request, "stories.html", {"stories": request.app[keys.SERVICES].library.stories()})


@routes.get("/cau-chuyen/{story_id}", name="public-story")
async def story(request: web.Request) -> web.Response:
    """GET /cau-chuyen/ID: one story with its lesson."""
    services = request.app[keys.SERVICES]
    item = services.library.story(request.match_info["story_id"])
    if item is None:
        return not_found(request)
    place = services.areas.get(item.commune) if item.commune else None
    consent = item.consent_given()
    return render(request, "story.html", {
        "story": item, "text": item.text(translator_of(request).locale), "place": place.label if place else "",
        "body": paragraphs(item.text(translator_of(request).locale).body),
        "consent": (consent[1], translator_of(request).format_day(consent[0])) if consent else None,
        "photos": [_link(request, translator_of(request), f"/cau-chuyen/{item.id}/anh/{number}.jpg")
                   for number in range(1, len(item.photos) + 1)],
    })


@routes.get(r"/cau-chuyen/{story_id}/anh/{number:\d{1,2}}.jpg", name="public-story-photo")
async def story_photo(request: web.Request) -> web.StreamResponse:
    """GET /cau-chuyen/ID/anh/N.jpg: a published story's photo, resized and without metadata when published."""
    item = request.app[keys.SERVICES].library.story(request.match_info["story_id"])
    number = int(request.match_info["number"])
    if item is None or not 1 <= number <= len(item.photos):
        raise web.HTTPNotFound()
    root = request.app[keys.SETTINGS].data_dir.resolve()
    path = (root / item.photos[number - 1]).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={
        "Content-Type": "image/jpeg", "Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff",
    })


@routes.get("/lich", name="public-calendar")
@with_figures
async def calendar(request: web.Request) -> web.Response:
    """GET /lich: policy dialogues, campaign periods and quiz contests ahead."""
    return render(request, "calendar.html", {"dates": await dates_ahead(request), "ways": ways_to_reach(request)})


@routes.get("/thong-ke", name="public-stats")
@with_figures
async def statistics(request: web.Request) -> web.Response:
    """GET /thong-ke: the last twelve months in figures, by topic and by commune; no personal data."""
    data = await figures(request)
    translator = translator_of(request)
    titles = {topic.id: topic.title(translator.locale) for topic in request.app[keys.SERVICES].library.bundle.topics}
    shown = [(titles.get(item.topic, item.topic), item.shown) for item in data.topics if item.shown][:TOP_TOPICS]
    top = max((count for _name, count in shown), default=0)
    return render(request, "stats.html", {
        "figures": data, "topics": [(name, count, charts.bar(count, top)) for name, count in shown],
        "percent": lambda share: _percent(translator, share),
    })
