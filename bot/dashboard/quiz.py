"""Dashboard screens of the policy quiz.

Contests: create one for a period (e.g. the peak month 17/10–18/11), follow the leaderboard by
commune, see a commune's scores and the players who agreed to show their name. Commune staff see
their own commune only; another commune is a 404.

Questions: the list with how often each was answered and the share answered right; create and edit
(checked with `content.quiz`'s own rules, previewed as citizens see it), publish and unpublish.
Like the FAQ editor, this is for admin and province staff (commune staff get a 403). Rounds read
the published questions from the database, so a save counts from the next question drawn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from bot import charts, keys
from bot.dashboard import web as dash
from bot.dashboard.editor import CHECK_MESSAGES, EDITORS, LOCALES, RESERVED_IDS, Editor, add_routes
from bot.dashboard.preview import bubble, preview_turn
from content.i18n import N_
from content.importer import load_bundle
from content.loader import ContentError, ContentInvalid
from content.model import ContentBundle
from content.quiz import QUIZ_FILE, QuizQuestion, parse_quiz, question_of, quiz_texts
from handlers.quiz import contest_title, feedback_reply, question_reply  # the bot's own wording, for the preview
from storage import broadcast_views
from storage import quiz as quiz_repo
from storage.core import id_of
from storage.models import Broadcast, QuizContest, QuizPlay, QuizQuestionRow, StaffRole

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

    def period(self) -> tuple[date, date]:
        """The first and last day of a form without errors."""
        assert self.starts_on is not None and self.ends_on is not None, "a form without errors has both days"
        return self.starts_on, self.ends_on


def read_form(form: Any) -> ContestForm:
    """Check the titles and the period (first day not after the last, at most a year)."""
    parsed = ContestForm(
        dash.form_text(form, "title_vi", MAX_TITLE),
        dash.form_text(form, "title_en", MAX_TITLE),
        dash.form_text(form, "starts_on", 10),
        dash.form_text(form, "ends_on", 10),
    )
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


@routes.get(f"{dash.PREFIX}/quiz", name="admin-quiz")
async def contests(request: web.Request) -> web.Response:
    """GET /admin/quiz: the contests, and (for province staff) the form to create one."""
    return await _contests_page(request, ContestForm(), status=200)


async def _contests_page(request: web.Request, form: ContestForm, *, status: int) -> web.Response:
    today = dash.today_of(request)
    t = dash.translator_of(request)
    async with dash.reading(request) as session:
        found = await quiz_repo.list_contests(session)
        questions = len(await quiz_repo.drawable_questions(session, _served_ids(request, today)))
    if not form.starts:
        form.starts, form.ends = _next_peak_month(today)
    return dash.render(
        request,
        "admin/quiz/list.html",
        {
            "contests": [{"c": c, "title": contest_title(c, t.locale), "phase": _phase(c, today)} for c in found],
            "questions": questions,
            "form": form,
            "errors": form.errors,
            "may_create": dash.scope_areas(request) is None,
        },
        status=status,
    )


def _next_peak_month(today: date) -> tuple[str, str]:
    """The next peak month "Vì người nghèo" (17/10–18/11) as the form's suggestion."""
    year = today.year if today <= date(today.year, 11, 18) else today.year + 1
    return date(year, 10, 17).isoformat(), date(year, 11, 18).isoformat()


@routes.post(f"{dash.PREFIX}/quiz/contests", name="admin-quiz-create")
@dash.roles(StaffRole.admin, StaffRole.province)
async def create(request: web.Request) -> web.StreamResponse:
    """POST /admin/quiz/contests: a new contest (no overlap with another one)."""
    form = read_form(await request.post())
    async with request.app[keys.SESSIONS]() as session:
        if not form.errors and await quiz_repo.overlapping(session, *form.period()):
            form.errors.append(N_("Another contest runs on some of these days."))
        if not form.errors:
            contest = await _create(request, session, form)
    if form.errors:
        return await _contests_page(request, form, status=400)
    raise dash.redirect(request, "admin-quiz-contest", id=str(contest.id))


async def _create(request: web.Request, session: Any, form: ContestForm) -> QuizContest:
    """Record the contest and its audit entry, and commit."""
    starts_on, ends_on = form.period()
    contest = QuizContest(
        titles={"vi": form.title_vi, **({"en": form.title_en} if form.title_en else {})},
        starts_on=starts_on,
        ends_on=ends_on,
        author=dash.staff_of(request).username,
        created_at=dash.now_of(request),
    )
    session.add(contest)
    await session.flush()
    await dash.record(
        session,
        request,
        "quiz.contest.create",
        object_type="quiz_contest",
        object_id=str(contest.id),
        starts_on=form.starts,
        ends_on=form.ends,
    )
    await session.commit()
    return contest


@routes.get(r"/admin/quiz/contests/{id:\d+}", name="admin-quiz-contest")
async def contest_page(request: web.Request) -> web.Response:
    """GET /admin/quiz/contests/ID: the leaderboard by commune (one's own commune for commune staff)."""
    services = request.app[keys.SERVICES]
    t = dash.translator_of(request)
    areas = dash.scope_areas(request)
    async with dash.reading(request) as session:
        contest = await _contest(request, session)
        board = await quiz_repo.leaderboard(session, id_of(contest), areas)
        notice = await session.get(Broadcast, contest.announce_broadcast_id) if contest.announce_broadcast_id else None

    def label(code: str) -> str:
        area = services.areas.get(code)
        return area.label if area else code

    chart = (
        charts.horizontal_bars(
            [(label(row.area_code), round(row.share * 100, 1)) for row in board],
            title=t.gettext(N_("Share of subscribers who took part, by commune")),
            unit="%",
            ident="share",
            desc=t.gettext(N_("The table below the chart has the same numbers.")),
        )
        if board
        else None
    )
    return dash.render(
        request,
        "admin/quiz/contest.html",
        {
            "c": contest,
            "title": contest_title(contest, t.locale),
            "board": board,
            "chart": chart,
            "phase": _phase(contest, dash.today_of(request)),
            "round": quiz_repo.ROUND,
            "notice": notice if notice is not None and broadcast_views.visible_to(notice, areas) else None,
            "announced": notice is not None,
        },
    )


@routes.get(r"/admin/quiz/contests/{id:\d+}/communes/{area:\d+}", name="admin-quiz-commune")
async def commune_page(request: web.Request) -> web.Response:
    """GET /admin/quiz/contests/ID/communes/CODE: a commune's scores and its players who agreed to be named."""
    services = request.app[keys.SERVICES]
    code = request.match_info["area"]
    areas = dash.scope_areas(request)
    if services.areas.get(code) is None or (areas is not None and code not in areas):
        raise web.HTTPNotFound()
    async with dash.reading(request) as session:
        contest = await _contest(request, session)
        board = await quiz_repo.leaderboard(session, id_of(contest), {code})
        scores = await quiz_repo.score_counts(session, id_of(contest), code)
        players = await quiz_repo.public_players(session, id_of(contest), code)
    t = dash.translator_of(request)
    return dash.render(
        request,
        "admin/quiz/commune.html",
        {
            "c": contest,
            "title": contest_title(contest, t.locale),
            "code": code,
            "row": board[0] if board else None,
            "scores": [(score, scores.get(score, 0)) for score in range(quiz_repo.ROUND + 1)],
            "players": players,
            "round": quiz_repo.ROUND,
        },
    )


# ---- questions ---------------------------------------------------------------------------

CHOICE_ROWS = 4

# content.quiz's own messages (English, for content authors) as messages for staff in their language.
ERROR_MESSAGES = (
    *CHECK_MESSAGES,
    (re.compile(r"List should have at least (?P<n>\d+) items?"), N_("Give at least {n} choices.")),
    (
        re.compile(r"each choice needs 1 to (?P<n>\d+) characters"),
        N_("Each choice needs 1 to {n} characters, in both languages."),
    ),
    (re.compile(r"two choices are the same"), N_("Two choices are the same.")),
    (re.compile(r"same number of choices"), N_("Give every choice in both languages.")),
    (re.compile(r"out of range|greater than or equal to 0"), N_("Mark the right answer (a choice that is filled in).")),
    (re.compile(r"should match pattern"), N_("Use lower-case letters, digits and hyphens, e.g. poverty-line-2027.")),
    (re.compile(r"unknown FAQ entry"), N_("Choose the FAQ entry the question comes from.")),
    (re.compile(r"is not published"), N_("This FAQ entry is not published: choose a published one.")),
    (re.compile(r"needs_review"), N_("This FAQ entry is waiting for review: choose another one.")),
)


@routes.get(f"{dash.PREFIX}/quiz/questions", name="admin-quiz-questions")
@dash.roles(*EDITORS)
async def questions_list(request: web.Request) -> web.Response:
    """GET /admin/quiz/questions: every question with its topic, FAQ entry, state and answers."""
    today = dash.today_of(request)
    async with dash.reading(request) as session:
        rows = await quiz_repo.all_questions(session)
        counts = await quiz_repo.answer_counts(session, {row.id: row.answer for row in rows})
        bundle = await load_bundle(session)
        drawn = {row.id for row in await quiz_repo.drawable_questions(session, _served_ids(request, today))}
    return dash.render(
        request,
        "admin/quiz/questions.html",
        {
            "rows": [
                {
                    "q": row,
                    "text": _question_text(row, dash.translator_of(request).locale),
                    "count": counts.get(row.id, quiz_repo.AnswerCount(0, 0)),
                    "drawn": row.id in drawn,
                    "entry": bundle.faq_by_id.get(row.faq_id),
                }
                for row in rows
            ],
            "topics": {topic.id: topic for topic in bundle.topics},
            "published": sum(row.published for row in rows),
            "drawable": len(drawn),
        },
    )


def _question_form(question: QuizQuestion) -> dict[str, Any]:
    """The form fields of a stored question."""
    form: dict[str, Any] = {
        "id": question.id,
        "topic": question.topic,
        "faq_id": question.faq_id,
        "answer": str(question.answer),
        "published": question.published,
    }
    for locale in LOCALES:
        text = question.texts.get(locale)
        if text is not None:
            form.update({f"{locale}_question": text.question, f"{locale}_explanation": text.explanation})
            form.update({f"{locale}_choice_{index}": choice for index, choice in enumerate(text.choices)})
    return form


def _posted_question_form(post: MultiDictProxy[Any]) -> dict[str, Any]:
    """The form fields as posted (strings; the checkbox as a boolean)."""
    form: dict[str, Any] = {
        name: dash.form_text(post, name, dash.MAX_FIELD) for name in ("id", "topic", "faq_id", "answer")
    }
    form["id"] = form["id"].lower()
    for locale in LOCALES:
        form[f"{locale}_question"] = dash.form_text(post, f"{locale}_question", dash.MAX_FIELD)
        form[f"{locale}_explanation"] = dash.form_text(post, f"{locale}_explanation", dash.MAX_FIELD)
        for index in range(CHOICE_ROWS):
            form[f"{locale}_choice_{index}"] = dash.form_text(post, f"{locale}_choice_{index}", dash.MAX_FIELD)
    form["published"] = "published" in post
    return form


def _question_item(form: dict[str, Any]) -> dict[str, Any]:
    """The form as a question of quiz.yaml: rows left empty in both languages are dropped, and the
    right answer is counted among the rows that remain."""
    kept = [index for index in range(CHOICE_ROWS) if form[f"vi_choice_{index}"] or form[f"en_choice_{index}"]]
    marked = int(form["answer"]) if form["answer"].isdigit() else -1
    item: dict[str, Any] = {
        "id": form["id"],
        "topic": form["topic"],
        "faq_id": form["faq_id"],
        "answer": kept.index(marked) if marked in kept else -1,
        "published": form["published"],
    }
    for locale in LOCALES:
        item[locale] = {
            "question": form[f"{locale}_question"],
            "explanation": form[f"{locale}_explanation"],
            "choices": [form[f"{locale}_choice_{index}"] for index in kept],
        }
    return item


class QuestionEditor(Editor[QuizQuestion]):
    """Quiz questions: checked by `content.quiz`; rounds read the published ones from the database."""

    path = f"{dash.PREFIX}/quiz/questions"
    route = "admin-quiz-question"
    id_name = "question_id"
    template = "admin/quiz/question.html"
    object_type = "quiz_question"
    audit = "quiz.question"
    messages = ERROR_MESSAGES
    unnamed_field = "answer"

    get = staticmethod(quiz_repo.get_question)
    form = staticmethod(_question_form)
    posted = staticmethod(_posted_question_form)

    def item(self, row: Any) -> QuizQuestion:
        """The row as a question."""
        return question_of(row.id, row.topic, row.faq_id, row.answer, row.texts, row.published)

    async def blank(self, request: web.Request, session: Any, bundle: ContentBundle) -> dict[str, Any]:
        """An empty form, no right answer marked."""
        return {"published": True, "answer": ""}

    async def check(
        self, request: web.Request, session: Any, form: dict[str, Any], bundle: ContentBundle, stored: Any
    ) -> QuizQuestion:
        """Checked like quiz.yaml; a new question's id must be free."""
        if stored is None and (form["id"] in RESERVED_IDS or await quiz_repo.get_question(session, form["id"])):
            raise ContentInvalid([ContentError(QUIZ_FILE, form["id"], "id", "used by another question")])
        return parse_quiz({"questions": [_question_item(form)]}, faqs=bundle.faqs, topics=bundle.topics)[0]

    async def save(
        self, request: web.Request, session: Any, item: QuizQuestion, form: dict[str, Any]
    ) -> dict[str, Any]:
        """Save the question."""
        row = QuizQuestionRow(
            id=item.id,
            texts=quiz_texts(item),
            answer=item.answer,
            faq_id=item.faq_id,
            topic=item.topic,
            published=item.published,
        )
        await quiz_repo.save_question(session, row, dash.now_of(request))
        return {}

    async def set_published(self, session: Any, row: Any, published: bool, request: web.Request) -> None:
        """Put the question in the quiz or take it out."""
        await quiz_repo.set_question_published(session, row, published, dash.now_of(request))

    async def context(
        self, request: web.Request, form: dict[str, Any], bundle: ContentBundle, preview: QuizQuestion | None
    ) -> dict[str, Any]:
        """The topics, the FAQ entries a question may come from, and whether rounds draw it today."""
        today = dash.today_of(request)
        return {
            "topics": bundle.topics,
            "choice_rows": range(CHOICE_ROWS),
            "entries": [
                entry
                for entry in bundle.faqs
                if (entry.published and not entry.needs_review) or entry.id == form.get("faq_id")
            ],
            "today": today,
            "drawn": preview is not None and preview.published and preview.faq_id in _served_ids(request, today),
        }

    async def shown(self, request: web.Request, item: QuizQuestion) -> list[dict[str, Any]]:
        """In each language: the question with its choices, then the bot's answer to a right and a wrong choice."""
        wrong = next(index for index in range(len(item.text("vi").choices)) if index != item.answer)
        shown = []
        for locale in LOCALES:
            turn = preview_turn(request, locale)
            play = QuizPlay(id=0, question_ids=[item.id] * quiz_repo.ROUND, answers=[])
            text = item.text(locale)
            shown.append(
                {
                    "locale": locale,
                    "ask": bubble(question_reply(turn, play, item)),
                    "right": (text.choices[item.answer], bubble(feedback_reply(turn, item, item.answer))),
                    "wrong": (text.choices[wrong], bubble(feedback_reply(turn, item, wrong))),
                }
            )
        return shown


add_routes(routes, QuestionEditor())


def _served_ids(request: web.Request, today: date) -> list[str]:
    """The FAQ entries citizens are given today (in force, not waiting for review), as rounds see
    them: the questions citing them are the ones drawn."""
    return [entry.id for entry in request.app[keys.SERVICES].library.served(today)]


def _question_text(row: QuizQuestionRow, locale: str) -> str:
    text: dict[str, str] = row.texts.get(locale) or row.texts.get("vi") or next(iter(row.texts.values()), {})
    return str(text.get("question", ""))
