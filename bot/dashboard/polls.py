"""Dashboard screen: polls ("Ý kiến của bà con") — list, create with a target and a live recipient
count, results with charts by commune, household status and channel, CSV export, closing early.

The dashboard only records polls; the scheduler opens them (a notice to the target) and closes them
(results to every participant). A commune officer asks their own commune only and sees only polls
aimed at it. Answers are shown without names.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from multidict import MultiMapping
from sqlmodel import select

from bot import charts, keys
from bot.channels import webchat
from bot.dashboard import web as dash
from bot.dashboard.broadcasts import (
    STATUS_LABELS,
    Draft,
    audience_context,
    describe_target,
    new_target,
    read_target,
    recipients_now,
)
from content.i18n import N_, SUPPORTED, Translator
from handlers.polls import delivery_key
from handlers.profile import LANGUAGE_NAMES
from storage import polls as poll_repo
from storage.core import id_of
from storage.models import Broadcast, Poll, PollStatus, StaffRole

routes = web.RouteTableDef()
MAX_ID_DIGITS = 9
MAX_QUESTION = 500
MAX_CHOICE = 60  # a button label on a phone
MAX_AHEAD = timedelta(days=366)
MAX_LENGTH = timedelta(days=92)
TEXTS_SHOWN = 200
POLL_STATUS = {PollStatus.draft: N_("Waiting to open"), PollStatus.open: N_("Open"), PollStatus.closed: N_("Closed")}
HOUSEHOLD_STATUS_LABELS: dict[str, str] = {status.value: label for status, label in STATUS_LABELS.items()}
CHANNEL_LABELS = {"telegram": "Telegram", "zalo_bot": "Zalo", "zalo_oa": "Zalo OA", "webchat": N_("Web chat")}
DIMENSIONS = (
    ("area_code", N_("By commune")),
    ("household_status", N_("By household status")),
    ("channel", N_("By channel")),
)


@dataclass
class PollForm:
    """What the new-poll form holds: the values to show again, and what they mean."""

    target: Draft = field(default_factory=Draft)
    texts: dict[str, str] = field(default_factory=dict)
    free_text: bool = False
    choices: list[dict[str, str]] = field(default_factory=list)
    open_now: bool = True
    open_day: str = ""
    open_time: str = ""
    close_day: str = ""
    close_time: str = ""
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    errors: list[str] = field(default_factory=list)

    def choice_rows(self) -> list[dict[str, str]]:
        """The choices to show in the form: those given, then empty rows up to six."""
        return self.choices + [{} for _ in range(poll_repo.MAX_CHOICES - len(self.choices))]


def read_poll(poll: PollForm, form: MultiMapping[Any], tz: Any, now: datetime) -> None:
    """The question, the choices (or free text) and the opening and closing times."""
    poll.texts = {
        locale: dash.form_text(form, f"text_{locale}") for locale in SUPPORTED if dash.form_text(form, f"text_{locale}")
    }
    if not poll.texts.get("vi"):
        poll.errors.append(N_("Write the question in Vietnamese (the English text is optional)."))
    if any(len(text) > MAX_QUESTION for text in poll.texts.values()):
        poll.errors.append(N_("A question may have at most 500 characters in each language."))
    poll.free_text = dash.form_text(form, "kind") == "free"
    for n in range(1, poll_repo.MAX_CHOICES + 1):
        labels = {
            locale: dash.form_text(form, f"choice_{locale}_{n}")
            for locale in SUPPORTED
            if dash.form_text(form, f"choice_{locale}_{n}")
        }
        if labels:
            poll.choices.append(labels)
    if not poll.free_text:
        if any(not labels.get("vi") for labels in poll.choices):
            poll.errors.append(N_("Every choice needs a Vietnamese label."))
        elif not poll_repo.MIN_CHOICES <= len(poll.choices) <= poll_repo.MAX_CHOICES:
            poll.errors.append(N_("Give between 2 and 6 choices, or choose free-text answers."))
        if any(len(label) > MAX_CHOICE for labels in poll.choices for label in labels.values()):
            poll.errors.append(N_("A choice may have at most 60 characters (it becomes a button)."))
    _read_times(poll, form, tz, now)


def _read_times(poll: PollForm, form: MultiMapping[Any], tz: Any, now: datetime) -> None:
    poll.open_now = dash.form_text(form, "when") != "later"
    poll.open_day, poll.open_time = dash.form_text(form, "open_day")[:10], dash.form_text(form, "open_time")[:5]
    poll.close_day, poll.close_time = dash.form_text(form, "close_day")[:10], dash.form_text(form, "close_time")[:5]
    opens = now if poll.open_now else dash.local_moment(poll.open_day, poll.open_time, tz)
    closes = dash.local_moment(poll.close_day, poll.close_time, tz)
    if opens is None:
        poll.errors.append(N_("Give the date and time it opens, or open it now."))
    elif not poll.open_now and opens <= now:
        poll.errors.append(N_("That opening time has passed: choose a later one, or open it now."))
    elif opens - now > MAX_AHEAD:
        poll.errors.append(N_("A poll can open at most one year ahead."))
    if closes is None:
        poll.errors.append(N_("Give the date and time it closes."))
    elif opens is not None and closes <= opens:
        poll.errors.append(N_("A poll must close after it opens."))
    elif opens is not None and closes - opens > MAX_LENGTH:
        poll.errors.append(N_("A poll may stay open for at most 92 days."))
    poll.opens_at, poll.closes_at = opens, closes


async def _find(request: web.Request, session: Any) -> Poll:
    """The poll of the URL, if the staff member may see it (else 404)."""
    raw = request.match_info["id"]
    poll = await session.get(Poll, int(raw)) if len(raw) <= MAX_ID_DIGITS else None
    if poll is None or not poll_repo.visible_to(poll, dash.scope_areas(request)):
        raise web.HTTPNotFound()
    return poll


def _state(poll: Poll, now: datetime) -> str:
    if poll.status == PollStatus.open and poll.closes_at <= now:
        return N_("Closing")
    return POLL_STATUS.get(PollStatus(poll.status), poll.status)


# --- routes -----------------------------------------------------------------------------------


@routes.get(f"{dash.PREFIX}/polls", name="admin-polls")
async def poll_list(request: web.Request) -> web.Response:
    """GET /admin/polls: polls in the staff member's area, newest first, with how many answered."""
    t = dash.translator_of(request)
    services = request.app[keys.SERVICES]
    async with dash.reading(request) as session:
        rows = await poll_repo.list_polls(session, dash.scope_areas(request))
        answered = await poll_repo.answer_counts(session, [row.id for row in rows if row.id])
    return dash.render(
        request,
        "admin/polls/list.html",
        {
            "rows": [
                {
                    "p": poll,
                    "question": poll.texts.get("vi", ""),
                    "target": describe_target(poll.target, services, t),
                    "state": _state(poll, dash.now_of(request)),
                    "answered": answered.get(poll.id or 0, 0),
                }
                for poll in rows
            ]
        },
    )


@routes.get(f"{dash.PREFIX}/polls/new", name="admin-polls-new")
async def compose(request: web.Request) -> web.Response:
    """GET /admin/polls/new: the form (a commune officer's own commune preselected)."""
    return _form_page(request, PollForm(target=new_target(request)))


@routes.post(f"{dash.PREFIX}/polls/new", name="admin-polls-create")
async def create(request: web.Request) -> web.StreamResponse:
    """POST /admin/polls/new: action=count shows the count (without JavaScript), action=create records the poll."""
    form = await request.post()
    services = request.app[keys.SERVICES]
    now = dash.now_of(request)
    poll = PollForm()
    read_target(poll.target, form, services, dash.scope_areas(request))
    read_poll(poll, form, services.tz, now)
    errors = poll.target.errors + poll.errors
    creating = dash.form_text(form, "action") == "create"
    async with request.app[keys.SESSIONS]() as session:
        count = await recipients_now(session, poll.target, services)
        if not creating or errors:
            shown = errors if creating else poll.target.errors
            return _form_page(request, poll, count=count, errors=shown, status=400 if shown else 200)
        assert poll.opens_at is not None and poll.closes_at is not None  # noqa: S101 - read_poll checked them
        staff = dash.staff_of(request)
        created = await poll_repo.create_poll(
            session,
            texts=poll.texts,
            choices=[] if poll.free_text else poll.choices,
            free_text=poll.free_text,
            target=poll.target.target,
            opens_at=poll.opens_at,
            closes_at=poll.closes_at,
            now=now,
            author=staff.username,
            author_staff_id=staff.id,
        )
        await dash.record(
            session,
            request,
            "poll.create",
            object_type="poll",
            object_id=str(created.id),
            target=created.target,
            free_text=created.free_text,
            choices=len(created.choices),
            opens_at=created.opens_at.isoformat(),
            closes_at=created.closes_at.isoformat(),
            recipients_now=count,
        )
        await session.commit()
    raise dash.redirect(request, "admin-poll", {"created": "1"}, id=str(created.id))


def _form_page(
    request: web.Request,
    poll: PollForm,
    *,
    count: int | None = None,
    errors: list[str] | None = None,
    status: int = 200,
) -> web.Response:
    return dash.render(
        request,
        "admin/polls/new.html",
        {
            **audience_context(request, poll.target, count),
            "poll": poll,
            "errors": errors or [],
            "today": dash.today_of(request).isoformat(),
            "max_question": MAX_QUESTION,
            "max_choice": MAX_CHOICE,
        },
        status=status,
    )


@routes.get(r"/admin/polls/{id:\d+}", name="admin-poll")
async def detail(request: web.Request) -> web.Response:
    """GET /admin/polls/ID: the question, its delivery, and the results in charts and tables."""
    t = dash.translator_of(request)
    services = request.app[keys.SERVICES]
    async with dash.reading(request) as session:
        poll = await _find(request, session)
        results = await _results(session, poll, request, t)
        texts = await poll_repo.texts_of(session, id_of(poll), limit=TEXTS_SHOWN) if poll.free_text else []
        notice = (await session.exec(select(Broadcast).where(Broadcast.occurrence_key == delivery_key(poll)))).first()
    staff = dash.staff_of(request)

    def status_label(code: str | None) -> str:
        return t.gettext(HOUSEHOLD_STATUS_LABELS.get(code, code)) if code else t.gettext(N_("Status not given"))

    return dash.render(
        request,
        "admin/polls/detail.html",
        {
            "p": poll,
            "state": _state(poll, dash.now_of(request)),
            "results": results,
            "texts": texts,
            "target": describe_target(poll.target, services, t),
            "notice": notice,
            "choices": [choice.get(t.locale) or choice["vi"] for choice in poll.choices],
            "languages": [(LANGUAGE_NAMES.get(code, code), text) for code, text in poll.texts.items()],
            "created": request.query.get("created") == "1",
            "closing": request.query.get("closing") == "1",
            "may_close": poll.status != PollStatus.closed and staff.role in CLOSERS,
            "status_label": status_label,
        },
    )


async def _results(session: Any, poll: Poll, request: web.Request, t: Translator) -> dict[str, Any]:
    """Counts overall and by each dimension, with a chart per dimension."""
    tallies = await poll_repo.tallies(session, id_of(poll), [dimension for dimension, _ in DIMENSIONS])
    overall = tallies[DIMENSIONS[0][0]].overall()
    total = sum(overall.values())
    choices = [choice.get(t.locale) or choice["vi"] for choice in poll.choices]
    sections = []
    from_webchat = 0
    for dimension, title in DIMENSIONS:
        tally = tallies[dimension]
        if dimension == "channel":
            from_webchat = tally.total(webchat.CHANNEL)
        keys_ = sorted(tally.groups, key=lambda key: (-tally.total(key), key))
        labels = [_group_label(request, t, dimension, key) for key in keys_]
        rows = [
            (label, [tally.groups[key].get(n, 0) for n in range(len(choices))], tally.total(key))
            for key, label in zip(keys_, labels, strict=True)
        ]
        if poll.free_text:
            chart = charts.horizontal_bars(
                [(label, count) for label, _, count in rows], title=t.gettext(title), ident=dimension
            )
        else:
            series = [charts.Series(choice, [values[n] for _, values, _ in rows]) for n, choice in enumerate(choices)]
            chart = charts.stacked_bars(labels, series, title=t.gettext(title), ident=dimension)
        sections.append({"id": dimension, "title": title, "rows": rows, "chart": chart if rows else None})
    overall_chart = None
    if total and not poll.free_text:
        overall_chart = charts.horizontal_bars(
            [(choice, overall.get(n, 0)) for n, choice in enumerate(choices)],
            title=t.gettext(N_("All answers")),
            ident="overall",
        )
    # Web chat answers come from anyone with a browser: a person can answer again under a new identity,
    # within the per-address limits. Staff see how many there are, to weigh them.
    return {
        "total": total,
        "from_webchat": from_webchat,
        "overall": [
            (choice, overall.get(n, 0), round(100 * overall.get(n, 0) / total) if total else 0)
            for n, choice in enumerate(choices)
        ],
        "overall_chart": overall_chart,
        "sections": sections,
        "choices": choices,
    }


def _group_label(request: web.Request, t: Translator, dimension: str, key: str) -> str:
    if dimension == "area_code":
        area = request.app[keys.SERVICES].areas.get(key) if key else None
        return area.label if area else (key or t.gettext(N_("Commune not given")))
    if dimension == "household_status":
        return t.gettext(HOUSEHOLD_STATUS_LABELS.get(key, key)) if key else t.gettext(N_("Status not given"))
    return t.gettext(CHANNEL_LABELS.get(key, key))


@routes.get(r"/admin/polls/{id:\d+}/results.csv", name="admin-poll-csv")
async def export(request: web.Request) -> web.Response:
    """GET /admin/polls/ID/results.csv: the counts by commune, household status and channel (no answers' texts)."""
    t = dash.translator_of(request)
    async with dash.reading(request) as session:
        poll = await _find(request, session)
        results = await _results(session, poll, request, t)
    async with request.app[keys.SESSIONS]() as session:
        await dash.record(
            session, request, "export.poll", object_type="poll", object_id=str(poll.id), answers=results["total"]
        )
        await session.commit()
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    labels = [] if poll.free_text else results["choices"]
    writer.writerow([t.gettext(N_("Grouped by")), t.gettext(N_("Group")), *labels, t.gettext(N_("Total"))])
    writer.writerow(
        [t.gettext(N_("All answers")), "", *[count for _, count, _ in results["overall"]], results["total"]]
    )
    for section in results["sections"]:
        for label, values, total in section["rows"]:
            writer.writerow([t.gettext(section["title"]), _safe(label), *([] if poll.free_text else values), total])
    name = f"poll-{poll.id}-results.csv"
    return web.Response(
        body=buffer.getvalue().encode("utf-8-sig"),
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _safe(text: str) -> str:
    """A cell that a spreadsheet will not read as a formula."""
    return "'" + text if text.startswith(("=", "+", "-", "@")) else text


CLOSERS = frozenset({StaffRole.admin, StaffRole.province})


@routes.post(r"/admin/polls/{id:\d+}/close", name="admin-poll-close")
@dash.roles(*CLOSERS)
async def close(request: web.Request) -> web.StreamResponse:
    """POST /admin/polls/ID/close: end a poll before its time (provincial staff: citizens were told
    when it closes); the scheduler closes it within seconds and sends the results."""
    async with request.app[keys.SESSIONS]() as session:
        poll = await _find(request, session)
        if poll.status != PollStatus.closed:
            now = dash.now_of(request)
            poll.closes_at = min(poll.closes_at, now)
            await dash.record(session, request, "poll.close", object_type="poll", object_id=str(poll.id), early=True)
            await session.commit()
    raise dash.redirect(request, "admin-poll", {"closing": "1"}, id=str(poll.id))
