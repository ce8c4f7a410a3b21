"""Dashboard screens: statistics with server-drawn charts, and commune posters (reports: bot.dashboard.reports).

Every figure is read within the staff member's area scope: commune staff see their own commune, and
asking for another one is a 404.
"""

from __future__ import annotations

from datetime import timedelta
from io import BytesIO
from typing import Any

import segno
from aiohttp import web
from markupsafe import Markup

from bot import charts, keys
from bot.channels.telegram import TelegramChannel
from bot.dashboard.selfcheck import OUTCOME_LABELS
from bot.dashboard.web import PREFIX, now_of, reading, render, scope_areas, today_of, translator_of
from bot.report import Period, PeriodError, kind_label
from content.areas import AreaRecord
from content.i18n import N_
from storage import selfcheck as selfcheck_repo
from storage import stats
from storage.content import list_topics

routes = web.RouteTableDef()
DEFAULT_DAYS = 84
TOP_COMMUNES = 25
TOP_BROADCASTS = 20
AREA = r"{area:[0-9A-Za-z_-]+}"


class BadInput(ValueError):
    """A filter the page cannot use; the message is an English msgid."""


def chosen_area(request: web.Request, code: str) -> str | None:
    """The commune to show: commune staff always their own (another one is a 404); others any commune,
    or None for all."""
    areas = scope_areas(request)
    code = code.strip()
    if areas is not None:
        if code and code not in areas:
            raise web.HTTPNotFound()
        if not areas:
            raise web.HTTPNotFound()
        return next(iter(areas))
    if not code:
        return None
    area = request.app[keys.SERVICES].areas.get(code)
    if area is None or area.level != "commune":
        raise BadInput(N_("There is no commune with this code."))
    return code


def _period(request: web.Request) -> Period:
    """?from=&to= (YYYY-MM-DD), default the last twelve weeks up to today."""
    first, last = request.query.get("from", "").strip(), request.query.get("to", "").strip()
    if not first and not last:
        today = today_of(request)
        return Period(today - timedelta(days=DEFAULT_DAYS - 1), today)
    try:
        return Period.parse(first, last)
    except PeriodError as error:
        raise BadInput(str(error)) from None


@routes.get(f"{PREFIX}/stats", name="admin-stats")
async def statistics(request: web.Request) -> web.Response:
    """GET /admin/stats[?from=&to=&area=]: tickets, answers, ratings, subscribers, FAQ and notices in
    charts and tables."""
    try:
        area = chosen_area(request, request.query.get("area", ""))
        period = _period(request)
    except BadInput as error:
        today = today_of(request)
        context = {"error": str(error), "period": Period(today - timedelta(days=DEFAULT_DAYS - 1), today), "area": None}
        return render(request, "admin/stats/stats.html", {**_filters(request, context), "data": None}, status=400)
    services = request.app[keys.SERVICES]
    area_set = frozenset({area}) if area else None
    scope = period.scope(services.tz, area_set)
    async with reading(request) as session:
        summary = await stats.ticket_summary(session, scope, services.tz, now_of(request))
        subscribers = await stats.subscribers_by_area(session, area_set)
        topics = stats.by_topic(await stats.faq_usage(session, scope))
        titles = {topic.id: topic.titles for topic in await list_topics(session)}
        reach = (await stats.broadcast_reach(session, scope))[:TOP_BROADCASTS]
        checks = await selfcheck_repo.counts(session, period.first, period.last, services.tz, area_set)
    translator = translator_of(request)
    topic_names = {
        t.topic: str(titles.get(t.topic, {}).get(translator.locale) or titles.get(t.topic, {}).get("vi") or t.topic)
        for t in topics
    }
    data = {
        "summary": summary,
        "subscribers": _subscriber_rows(request, subscribers),
        "subscriber_total": sum(subscribers.values()),
        "topics": topics,
        "topic_names": topic_names,
        "reach": reach,
        "kinds": [(kind, kind_label(translator, kind)) for kind in summary.by_kind],
        "week_labels": [translator.format_day(week) for week in summary.weeks],
        "selfchecks": _selfcheck_rows(request, checks),
        "outcomes": OUTCOME_LABELS,
    }
    data["charts"] = _charts(request, data)
    return render(
        request, "admin/stats/stats.html", {**_filters(request, {"period": period, "area": area}), "data": data}
    )


def _filters(request: web.Request, context: dict[str, Any]) -> dict[str, Any]:
    areas = scope_areas(request)
    communes = request.app[keys.SERVICES].areas.communes()
    return {**context, "communes": communes if areas is None else [], "error": context.get("error", "")}


def _selfcheck_rows(request: web.Request, checks: list) -> list[tuple[str, dict[str, int], int, int]]:
    """(commune, self-checks by outcome, all self-checks, review requests sent), most self-checks first.
    Counts only: a self-check keeps no one's identity."""
    areas, translator = request.app[keys.SERVICES].areas, translator_of(request)
    rows: dict[str, tuple[dict[str, int], list[int]]] = {}
    for item in checks:
        outcomes, totals = rows.setdefault(item.area_code, ({}, [0, 0]))
        outcomes[item.outcome] = outcomes.get(item.outcome, 0) + item.count
        totals[0] += item.count
        totals[1] += item.requests

    def name(code: str) -> str:
        area = areas.get(code) if code else None
        return area.label if area else (code or translator.gettext(N_("No commune given")))

    return sorted(
        ((name(code), outcomes, total, sent) for code, (outcomes, (total, sent)) in rows.items()),
        key=lambda row: (-row[2], row[0]),
    )


def _subscriber_rows(request: web.Request, subscribers: dict[str, int]) -> list[tuple[str, str, int]]:
    """(code, commune, subscribers), most first."""
    areas = request.app[keys.SERVICES].areas
    translator = translator_of(request)

    def name(code: str) -> str:
        area = areas.get(code) if code else None
        return area.label if area else (code or translator.gettext(N_("No commune given")))

    return sorted(((code, name(code), count) for code, count in subscribers.items()), key=lambda row: (-row[2], row[1]))


def _charts(request: web.Request, data: dict[str, Any]) -> dict[str, Markup]:
    """The page's SVG charts, labelled in the staff member's language."""
    _ = translator_of(request).gettext
    summary: stats.TicketSummary = data["summary"]
    labels = data["week_labels"]
    weekly = [charts.Series(label, summary.per_week.get(kind, [])) for kind, label in data["kinds"]]
    wait_days = [None if hours is None else round(hours / 24, 1) for hours in summary.median_hours_per_week]
    return {
        "weekly": charts.stacked_bars(
            labels,
            weekly,
            title=_("Tickets per week by kind"),
            ident="weekly",
            desc=_("The table below the chart has the same numbers."),
        ),
        "wait": charts.line_chart(
            labels,
            [charts.Series(_("Median days to answer"), wait_days)],
            ident="wait",
            title=_("Median days to answer, by week the ticket arrived"),
        ),
        "ratings": charts.horizontal_bars(
            [(f"{score} ★", count) for score, count in summary.ratings.items()],
            title=_("Ratings"),
            ident="ratings",
            width=560,
        ),
        "subscribers": charts.horizontal_bars(
            [(name, count) for _c, name, count in data["subscribers"][:TOP_COMMUNES]],
            title=_("Subscribers per commune"),
            ident="subscribers",
            width=560,
        ),
        "topics": charts.horizontal_bars(
            [(data["topic_names"][t.topic], t.shown) for t in data["topics"] if t.shown],
            title=_("FAQ answers shown per topic"),
            ident="topics",
        ),
    }


def _poster_areas(request: web.Request) -> list[AreaRecord]:
    areas = scope_areas(request)
    return [area for area in request.app[keys.SERVICES].areas.communes() if areas is None or area.code in areas]


def _poster_area(request: web.Request) -> AreaRecord:
    """The commune of the URL, or 404 when unknown or outside the staff member's scope."""
    code = request.match_info["area"]
    area = request.app[keys.SERVICES].areas.get(code)
    areas = scope_areas(request)
    if area is None or area.level != "commune" or (areas is not None and code not in areas):
        raise web.HTTPNotFound()
    return area


def telegram_username(request: web.Request) -> str | None:
    """The bot's Telegram username once Telegram is connected, else None."""
    channel = request.app.get(keys.CHANNELS, {}).get("telegram")
    if not isinstance(channel, TelegramChannel):
        return None
    try:
        return channel.application.bot.username or None
    except RuntimeError:  # not connected (yet)
        return None


def poster_links(request: web.Request, code: str) -> dict[str, str]:
    """{"telegram": t.me deep link, "web": web chat link}: Telegram when connected; the web chat at
    PUBLIC_BASE_URL, when it is set (never at the address this page was asked for: a Host header is
    the visitor's to write)."""
    links = {}
    username = telegram_username(request)
    if username:
        links["telegram"] = f"https://t.me/{username}?start=area_{code}"
    base = request.app[keys.SETTINGS].public_base_url
    if base is not None:
        links["web"] = str((base / "chat").with_query(start=f"area_{code}"))
    return links


@routes.get(f"{PREFIX}/posters", name="admin-posters")
async def posters(request: web.Request) -> web.Response:
    """GET /admin/posters: the communes in scope, each with a link to its printable poster."""
    communes = _poster_areas(request)
    groups: dict[str, list[AreaRecord]] = {}
    for area in communes:
        groups.setdefault(area.group, []).append(area)
    return render(
        request,
        "admin/stats/posters.html",
        {
            "groups": sorted(groups.items()),
            "telegram": telegram_username(request),
            "public_base_url": request.app[keys.SETTINGS].public_base_url,
        },
    )


@routes.get(f"{PREFIX}/posters/{AREA}", name="admin-poster")
async def poster(request: web.Request) -> web.Response:
    """GET /admin/posters/CODE: an A4 poster for the commune's households, with QR codes to the bot."""
    area = _poster_area(request)
    links = poster_links(request, area.code)
    return render(
        request,
        "admin/stats/poster.html",
        {
            "area": area,
            "links": links,
            "public_base_url": request.app[keys.SETTINGS].public_base_url,
        },
    )


@routes.get(f"{PREFIX}/posters/{AREA}.svg", name="admin-poster-qr")
async def poster_qr(request: web.Request) -> web.Response:
    """GET /admin/posters/CODE.svg?via=telegram|web: the QR code of the commune's link, as SVG."""
    area = _poster_area(request)
    links = poster_links(request, area.code)
    via = request.query.get("via", "telegram" if "telegram" in links else "web")
    if via not in links:
        raise web.HTTPNotFound()
    buffer = BytesIO()
    segno.make(links[via], error="m", micro=False).save(buffer, kind="svg", scale=8, border=2, title=links[via])
    return web.Response(body=buffer.getvalue(), content_type="image/svg+xml", headers={"Cache-Control": "no-store"})
