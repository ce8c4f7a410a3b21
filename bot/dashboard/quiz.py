"""Dashboard screen: the policy quiz's contests — create one for a period (e.g. the peak month
17/10–18/11), follow the leaderboard by commune, see a commune's scores and the players who agreed
to show their name. Commune staff see their own commune only; another commune is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from aiohttp import web

from bot import charts, keys
from bot.dashboard.web import PREFIX, now_of, record, redirect, render, roles, scope_areas, staff_of, translator_of
from content.i18n import N_
from handlers.quiz import contest_title
from storage import broadcast_views
from storage import quiz as quiz_repo
from storage.models import Broadcast, QuizContest, StaffRole

routes = web.RouteTableDef()
MAX_ID_DIGITS = 9
MAX_TITLE = 200
MAX_DAYS = 366


@dataclass
class ContestForm:
    """The new-contest form, parsed once: the values to show again, and what they mean."""

    title_vi: str = ""
    title_en: str = ""
    starts: str = ""
    ends: str = ""
    errors: list[str] = field(default_factory=list)
    starts_on: date | None = None
    ends_on: date | None = None


def _text(form: Any, name: str, limit: int) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def read_form(form: Any) -> ContestForm:
    """Check the titles and the period (first day not after the last, at most a year)."""
    parsed = ContestForm(_text(form, "title_vi", MAX_TITLE), _text(form, "title_en", MAX_TITLE),
                         _text(form, "starts_on", 10), _text(form, "ends_on", 10))
    if not parsed.title_vi:
        parsed.errors.append(N_("Give the contest a Vietnamese title (the English one is optional)."))
    try:
        parsed.starts_on, parsed.ends_on = date.fromisoformat(parsed.starts), date.fromisoformat(parsed.ends)
    except ValueError:
        parsed.errors.append(N_("Give the first and the last day of the contest."))
        return parsed
    if parsed.ends_on < parsed.starts_on:
        parsed.errors.append(N_("The last day is before the first day."))
    elif parsed.ends_on - parsed.starts_on > timedelta(days=MAX_DAYS):
        parsed.errors.append(N_("A contest lasts at most one year."))
    return parsed


async def _contest(request: web.Request, session: Any) -> QuizContest:
    raw = request.match_info["id"]
    contest = await session.get(QuizContest, int(raw)) if len(raw) <= MAX_ID_DIGITS else None
    if contest is None:
        raise web.HTTPNotFound()
    return contest


def _phase(contest: QuizContest, today: date) -> str:
    if today < contest.starts_on:
        return N_("Not started")
    return N_("Running") if today <= contest.ends_on else N_("Ended")


@routes.get(f"{PREFIX}/quiz", name="admin-quiz")
async def contests(request: web.Request) -> web.Response:
    """GET /admin/quiz: the contests, and (for province staff) the form to create one."""
    return await _contests_page(request, ContestForm(), status=200)


async def _contests_page(request: web.Request, form: ContestForm, *, status: int) -> web.Response:
    services = request.app[keys.SERVICES]
    today = now_of(request).astimezone(services.tz).date()
    t = translator_of(request)
    async with request.app[keys.SESSIONS]() as session:
        found = await quiz_repo.list_contests(session)
        questions = len(await quiz_repo.published_questions(session))
    if not form.starts:
        form.starts, form.ends = _next_peak_month(today)
    return render(request, "admin/quiz/list.html", {
        "contests": [{"c": c, "title": contest_title(c, t.locale), "phase": _phase(c, today)} for c in found],
        "questions": questions, "form": form, "errors": form.errors,
        "may_create": scope_areas(request) is None,
    }, status=status)


def _next_peak_month(today: date) -> tuple[str, str]:
    """The next peak month "Vì người nghèo" (17/10–18/11) as the form's suggestion."""
    year = today.year if today <= date(today.year, 11, 18) else today.year + 1
    return date(year, 10, 17).isoformat(), date(year, 11, 18).isoformat()


@routes.post(f"{PREFIX}/quiz/contests", name="admin-quiz-create")
@roles(StaffRole.admin, StaffRole.province)
async def create(request: web.Request) -> web.StreamResponse:
    """POST /admin/quiz/contests: a new contest (no overlap with another one)."""
    form = read_form(await request.post())
    async with request.app[keys.SESSIONS]() as session:
        if not form.errors and await quiz_repo.overlapping(session, form.starts_on, form.ends_on):  # type: ignore[arg-type]
            form.errors.append(N_("Another contest runs on some of these days."))
        if not form.errors:
            contest = await _create(request, session, form)
    if form.errors:
        return await _contests_page(request, form, status=400)
    raise redirect(request, "admin-quiz-contest", id=str(contest.id))


async def _create(request: web.Request, session: Any, form: ContestForm) -> QuizContest:
    """Record the contest and its audit entry, and commit."""
    contest = QuizContest(
        titles={"vi": form.title_vi, **({"en": form.title_en} if form.title_en else {})},
        starts_on=form.starts_on, ends_on=form.ends_on,  # type: ignore[arg-type]
        author=staff_of(request).username, created_at=now_of(request),
    )
    session.add(contest)
    await session.flush()
    await record(session, request, "quiz.contest.create", object_type="quiz_contest", object_id=str(contest.id),
                 starts_on=form.starts, ends_on=form.ends)
    await session.commit()
    return contest


@routes.get(r"/admin/quiz/contests/{id:\d+}", name="admin-quiz-contest")
async def contest_page(request: web.Request) -> web.Response:
    """GET /admin/quiz/contests/ID: the leaderboard by commune (one's own commune for commune staff)."""
    services = request.app[keys.SERVICES]
    t = translator_of(request)
    areas = scope_areas(request)
    async with request.app[keys.SESSIONS]() as session:
        contest = await _contest(request, session)
        board = await quiz_repo.leaderboard(session, contest.id, areas)  # type: ignore[arg-type]
        notice = await session.get(Broadcast, contest.announce_broadcast_id) if contest.announce_broadcast_id else None
    label = lambda code: services.areas.get(code).label if services.areas.get(code) else code  # noqa: E731
    chart = charts.horizontal_bars(
        [(label(row.area_code), round(row.share * 100, 1)) for row in board],
        title=t.gettext(N_("Share of subscribers who took part, by commune")), unit="%", ident="share",
        desc=t.gettext(N_("The table below the chart has the same numbers.")),
    ) if board else None
    return render(request, "admin/quiz/contest.html", {
        "c": contest, "title": contest_title(contest, t.locale), "board": board, "chart": chart,
        "phase": _phase(contest, now_of(request).astimezone(services.tz).date()), "round": quiz_repo.ROUND,
        "notice": notice if notice is not None and broadcast_views.visible_to(notice, areas) else None,
        "announced": notice is not None,
    })


@routes.get(r"/admin/quiz/contests/{id:\d+}/communes/{area:\d+}", name="admin-quiz-commune")
async def commune_page(request: web.Request) -> web.Response:
    """GET /admin/quiz/contests/ID/communes/CODE: a commune's scores and its players who agreed to be named."""
    services = request.app[keys.SERVICES]
    code = request.match_info["area"]
    areas = scope_areas(request)
    if services.areas.get(code) is None or (areas is not None and code not in areas):
        raise web.HTTPNotFound()
    async with request.app[keys.SESSIONS]() as session:
        contest = await _contest(request, session)
        board = await quiz_repo.leaderboard(session, contest.id, {code})  # type: ignore[arg-type]
        scores = await quiz_repo.score_counts(session, contest.id, code)  # type: ignore[arg-type]
        players = await quiz_repo.public_players(session, contest.id, code)  # type: ignore[arg-type]
    t = translator_of(request)
    return render(request, "admin/quiz/commune.html", {
        "c": contest, "title": contest_title(contest, t.locale), "code": code, "row": board[0] if board else None,
        "scores": [(score, scores.get(score, 0)) for score in range(quiz_repo.ROUND + 1)], "players": players,
        "round": quiz_repo.ROUND,
    })
