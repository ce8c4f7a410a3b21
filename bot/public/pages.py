"""The public pages: home, the FAQ with the bot's own search, stories, the calendar and the figures."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from bot import charts, keys
from bot.dashboard.web import today_of
from bot.public.figures import dates_ahead, figures, percent
from bot.public.media import ways_to_reach
from bot.public.site import ALLOWED_LINK, PAGES, link, not_found, paragraphs, render, translator_of, with_figures
from content.model import FaqEntry
from content.pages import on_day
from content.search import Status
from content.text import clean_input
from handlers.faq import SUGGEST_TEXT, answer_text

routes = web.RouteTableDef()
HOME_ITEMS = 3
TOP_TOPICS = 12
MAX_QUERY = 500  # as the search field allows; the chat takes longer messages


@routes.get("/", name="public-home")
@with_figures
async def home(request: web.Request) -> web.Response:
    """GET /: the programme in short, search, how to reach the bot, what is coming, the figures, stories."""
    today = today_of(request)
    library = request.app[keys.SERVICES].library
    return render(
        request,
        "home.html",
        {
            "about": on_day(request.app[PAGES], "home-about", today),
            "ways": ways_to_reach(request),
            "dates": (await dates_ahead(request))[:HOME_ITEMS],
            "figures": await figures(request),
            "stories": library.stories()[:HOME_ITEMS],
            "topics": library.topics(today),
            "percent": lambda share: percent(translator_of(request), share),
        },
    )


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
    today = today_of(request)
    result = request.app[keys.SERVICES].library.index.search(query, on=today)
    if result.status is Status.answer and result.best is not None:
        entry = result.best.entry
        previous = request.app[keys.SERVICES].library.previous(entry)
        return SearchView(
            query, "answer", entry, paragraphs(answer_text(entry, translator_of(request), today, previous))
        )
    if result.status is Status.suggest:
        return SearchView(query, "suggest", suggestions=tuple(match.entry for match in result.matches))
    return SearchView(query, "none")


@routes.get("/hoi-dap", name="public-faq")
async def faq_index(request: web.Request) -> web.Response:
    """GET /hoi-dap[?q=]: the topics, and the bot's answer to a question."""
    library = request.app[keys.SERVICES].library
    today = today_of(request)
    topics = [(topic, len(library.in_topic(topic.id, today))) for topic in library.topics(today)]
    return render(
        request,
        "faq.html",
        {
            "search": search_view(request, request.query.get("q", "")),
            "topics": topics,
            "suggest_text": SUGGEST_TEXT,
        },
    )


@routes.get("/hoi-dap/cau/{faq_id}", name="public-faq-entry")
async def faq_entry(request: web.Request) -> web.Response:
    """GET /hoi-dap/cau/ID: one entry as the bot answers it; a rule not in force today says so. A
    draft or an entry waiting for review is unknown here, as it is to the bot."""
    library = request.app[keys.SERVICES].library
    entry = library.faq(request.match_info["faq_id"])
    if entry is None or not entry.published or entry.needs_review:
        return not_found(request)
    today = today_of(request)
    translator = translator_of(request)
    related = [other for other in library.in_topic(entry.topic, today) if other.id != entry.id][:5]
    newer = library.faq(entry.replaced_by) if entry.replaced_by else None
    if newer is not None and (not newer.published or newer.needs_review):
        newer = None
    return render(
        request,
        "entry.html",
        {
            "entry": entry,
            "text": entry.text(translator.locale),
            "answer": paragraphs(answer_text(entry, translator, today, library.previous(entry))),
            "topic": library.topic(entry.topic),
            "related": related,
            "in_force": entry.is_valid_on(today),
            "upcoming": bool(entry.valid_from and entry.valid_from > today),
            "newer": newer,
            "links": [source for source in entry.sources if source.url and source.url.startswith(ALLOWED_LINK)],
        },
    )


@routes.get("/hoi-dap/{topic}", name="public-faq-topic")
async def faq_topic(request: web.Request) -> web.Response:
    """GET /hoi-dap/TOPIC: the questions of a topic with their answers."""
    library = request.app[keys.SERVICES].library
    topic = library.topic(request.match_info["topic"])
    today = today_of(request)
    if topic is None:
        return not_found(request)
    translator = translator_of(request)
    entries = [
        (entry, paragraphs(answer_text(entry, translator, today))) for entry in library.in_topic(topic.id, today)
    ]
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
    return render(
        request,
        "story.html",
        {
            "story": item,
            "text": item.text(translator_of(request).locale),
            "place": place.label if place else "",
            "body": paragraphs(item.text(translator_of(request).locale).body),
            "consent": (consent[1], translator_of(request).format_day(consent[0])) if consent else None,
            "photos": [
                link(request, translator_of(request), f"/cau-chuyen/{item.id}/anh/{number}.jpg")
                for number in range(1, len(item.photos) + 1)
            ],
        },
    )


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
    return render(
        request,
        "stats.html",
        {
            "figures": data,
            "topics": [(name, count, charts.bar(count, top)) for name, count in shown],
            "percent": lambda share: percent(translator, share),
        },
    )
