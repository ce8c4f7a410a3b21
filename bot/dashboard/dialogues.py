"""Dashboard screen: policy dialogues ("Đối thoại chính sách") — announce one (optionally as a
notice with a "Send a question" button), see the questions ranked by support, hide one, write the
answers after the dialogue and publish them to the askers (and supporters).

Commune staff manage their own commune's dialogues only; another area's dialogue is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from bot import keys
from bot.channels import webchat
from bot.dashboard import web as dash
from content.areas import PROVINCE_CODE
from content.i18n import N_, SUPPORTED, Catalogs
from handlers.dialogues import MAX_QUESTION, publish_answers, topic_of
from storage import broadcasts, dialogues
from storage.core import id_of
from storage.models import Dialogue, DialogueStatus

routes = web.RouteTableDef()
MAX_ID_DIGITS = 9
MAX_TOPIC = 300
MAX_SUMMARY = 4000
MAX_AHEAD = timedelta(days=366)
STATUS_LABELS = {
    DialogueStatus.announced: N_("Announced"),
    DialogueStatus.held: N_("Held"),
    DialogueStatus.answered: N_("Answers published"),
}
ASK_LABEL = N_("✍️ Send a question")
ANNOUNCEMENT = N_(
    "🗣 Policy dialogue: {topic}\n🕘 When: {when}\n{details}\n\n"
    "Send your question before {deadline} with the button below; after the dialogue the answer comes back here."
)
PLACE_LINE = N_("📍 Place: {place}")
ONLINE_LINE = N_("🔗 Online: {url}")
OFFICIALS_LINE = N_("👥 Officials: {officials}")


@dataclass
class Draft:
    """The announcement form: the values to show again and what they mean."""

    topics: dict[str, str] = field(default_factory=dict)
    day: str = ""
    time: str = ""
    close_day: str = ""
    close_time: str = ""
    officials: str = ""
    place: str = ""
    online_url: str = ""
    area: str = ""
    announce: bool = True
    held_at: datetime | None = None
    close_at: datetime | None = None
    errors: list[str] = field(default_factory=list)


def read_form(form: MultiMapping[Any], request: web.Request) -> Draft:
    """Parse and check the announcement form once."""
    tz, now = request.app[keys.SETTINGS].tz, dash.now_of(request)
    services = request.app[keys.SERVICES]
    draft = Draft(
        topics={
            locale: dash.form_text(form, f"topic_{locale}", MAX_TOPIC)
            for locale in SUPPORTED
            if dash.form_text(form, f"topic_{locale}")
        },
        day=dash.form_text(form, "day", 10),
        time=dash.form_text(form, "time", 5),
        close_day=dash.form_text(form, "close_day", 10),
        close_time=dash.form_text(form, "close_time", 5),
        officials=dash.form_text(form, "officials", dash.MAX_FIELD),
        place=dash.form_text(form, "place", dash.MAX_FIELD),
        online_url=dash.form_text(form, "online_url", dash.MAX_FIELD),
        area=dash.form_text(form, "area", 16),
        announce=dash.form_text(form, "announce") == "1",
    )
    if not draft.topics.get("vi"):
        draft.errors.append(N_("Write the topic in Vietnamese (the English one is optional)."))
    draft.held_at = dash.local_moment(draft.day, draft.time, tz)
    draft.close_at = dash.local_moment(draft.close_day, draft.close_time, tz)
    if draft.held_at is None:
        draft.errors.append(N_("Give the date and time of the dialogue."))
    elif draft.held_at <= now or draft.held_at - now > MAX_AHEAD:
        draft.errors.append(N_("The dialogue must be in the future, at most one year ahead."))
    if draft.close_at is None:
        draft.errors.append(N_("Give the date and time until which questions are taken."))
    elif draft.held_at is not None and not now < draft.close_at <= draft.held_at:
        draft.errors.append(N_("Questions must close after now and no later than the dialogue starts."))
    if not (draft.place or draft.online_url):
        draft.errors.append(N_("Give the place or the online link."))
    if draft.online_url and not draft.online_url.startswith(("https://", "http://")):
        draft.errors.append(N_("The online link must start with https://."))
    areas = dash.scope_areas(request)
    if areas is not None:
        if not areas:
            draft.errors.append(N_("Your account has no commune: ask an administrator to set one."))
        elif draft.area and draft.area not in areas:
            draft.errors.append(N_("You may only announce dialogues for your own commune."))
        draft.area = next(iter(sorted(areas)), "")
    elif draft.area != PROVINCE_CODE and not ((found := services.areas.get(draft.area)) and found.level == "commune"):
        draft.errors.append(N_("Choose the whole province or one commune."))
    return draft


def announcement(catalogs: Catalogs, dialogue: Dialogue) -> tuple[dict[str, str], list[list[dict]]]:
    """The notice announcing a dialogue, in every language, and its "Send a question" button."""
    texts = {}
    for locale in SUPPORTED:
        t = catalogs.get(locale)
        details = [
            t.gettext(PLACE_LINE).format(place=dialogue.place) if dialogue.place else "",
            t.gettext(ONLINE_LINE).format(url=dialogue.online_url) if dialogue.online_url else "",
            t.gettext(OFFICIALS_LINE).format(officials=dialogue.officials) if dialogue.officials else "",
        ]
        texts[locale] = t.gettext(ANNOUNCEMENT).format(
            topic=topic_of(dialogue, locale),
            when=t.format_datetime(dialogue.held_at),
            details="\n".join(line for line in details if line),
            deadline=t.format_datetime(dialogue.questions_close_at),
        )
    labels = {locale: catalogs.get(locale).gettext(ASK_LABEL) for locale in SUPPORTED}
    return texts, [[{"labels": labels, "action": f"dlg:ask:{dialogue.id}"}]]


async def _find(request: web.Request, session: Any) -> Dialogue:
    """The dialogue of the URL if the staff member may manage it (else 404)."""
    raw = request.match_info["id"]
    found = (
        await dialogues.get_for_staff(session, dash.staff_of(request), int(raw)) if len(raw) <= MAX_ID_DIGITS else None
    )
    if found is None:
        raise web.HTTPNotFound()
    return found


async def _question(request: web.Request, session: Any, dialogue: Dialogue) -> dialogues.RankedQuestion:
    raw = request.match_info["question_id"]
    found = await dialogues.question_with_ticket(session, int(raw)) if len(raw) <= MAX_ID_DIGITS else None
    if found is None or found[0].dialogue_id != dialogue.id:
        raise web.HTTPNotFound()
    return dialogues.RankedQuestion(*found)


# --- routes -----------------------------------------------------------------------------------


@routes.get(f"{dash.PREFIX}/dialogues", name="admin-dialogues")
async def dialogue_list(request: web.Request) -> web.Response:
    """GET /admin/dialogues: the dialogues in the staff member's area, latest date first."""
    async with dash.reading(request) as session:
        rows = await dialogues.list_for_staff(session, dash.staff_of(request))
    return dash.render(
        request,
        "admin/dialogues/list.html",
        {
            "rows": rows,
            "status_labels": STATUS_LABELS,
            "now": dash.now_of(request),
            "province": PROVINCE_CODE,
        },
    )


@routes.get(f"{dash.PREFIX}/dialogues/new", name="admin-dialogues-new")
async def compose(request: web.Request) -> web.Response:
    """GET /admin/dialogues/new: the announcement form."""
    areas = dash.scope_areas(request)
    return _form(request, Draft(area=PROVINCE_CODE if areas is None else next(iter(sorted(areas)), "")))


def _form(request: web.Request, draft: Draft, status: int = 200) -> web.Response:
    areas = dash.scope_areas(request)
    services = request.app[keys.SERVICES]
    return dash.render(
        request,
        "admin/dialogues/new.html",
        {
            "draft": draft,
            "errors": draft.errors,
            "own_areas": None if areas is None else sorted(areas),
            "province": PROVINCE_CODE,
            "communes": services.areas.communes(),
            "today": dash.today_of(request).isoformat(),
        },
        status=status,
    )


@routes.post(f"{dash.PREFIX}/dialogues/new", name="admin-dialogues-create")
async def create(request: web.Request) -> web.StreamResponse:
    """POST /admin/dialogues/new: record the dialogue, and the notice announcing it when asked."""
    draft = read_form(await request.post(), request)
    if draft.errors or draft.held_at is None or draft.close_at is None:
        return _form(request, draft, status=400)
    staff, now = dash.staff_of(request), dash.now_of(request)
    catalogs = request.app[keys.SERVICES].catalogs
    async with request.app[keys.SESSIONS]() as session:
        dialogue = await dialogues.create_dialogue(
            session,
            topics=draft.topics,
            held_at=draft.held_at,
            questions_close_at=draft.close_at,
            area_code=draft.area,
            officials=draft.officials,
            place=draft.place,
            online_url=draft.online_url,
            now=now,
            author=staff.username,
            author_staff_id=staff.id,
        )
        await dash.record(
            session,
            request,
            "dialogue.create",
            object_type="dialogue",
            object_id=str(dialogue.id),
            area=draft.area,
            held_at=draft.held_at.isoformat(),
            announce=draft.announce,
        )
        if draft.announce:
            texts, buttons = announcement(catalogs, dialogue)
            target = {"areas": [draft.area]}
            notice = await broadcasts.create_broadcast(
                session,
                texts=texts,
                target=target,
                send_at=now,
                now=now,
                author=staff.username,
                author_staff_id=staff.id,
                buttons=buttons,
            )
            await dash.record(
                session,
                request,
                "broadcast.create",
                object_type="broadcast",
                object_id=str(notice.id),
                target=target,
                via="dialogue",
                dialogue=dialogue.id,
            )
        await session.commit()
    raise dash.redirect(request, "admin-dialogue", {"created": "1"}, id=str(dialogue.id))


@routes.get(r"/admin/dialogues/{id:\d+}", name="admin-dialogue")
async def detail(request: web.Request) -> web.Response:
    """GET /admin/dialogues/ID: the dialogue, its questions ranked by support, answers and publishing."""
    async with dash.reading(request) as session:
        dialogue = await _find(request, session)
        ranked = await dialogues.ranked_questions(session, id_of(dialogue))
        from_webchat = await dialogues.supports_from(session, id_of(dialogue), webchat.CHANNEL)
    answered = sum(1 for row in ranked if (row.question.answer or "").strip())
    return dash.render(
        request,
        "admin/dialogues/detail.html",
        {
            "d": dialogue,
            "ranked": ranked,
            "answered": answered,
            "status_labels": STATUS_LABELS,
            "from_webchat": from_webchat,
            "topic": topic_of(dialogue, "vi"),
            "topic_en": dialogue.topics.get("en", ""),
            "open": dialogues.is_open(dialogue, dash.now_of(request)),
            "done": dialogue.status == DialogueStatus.answered,
            "message": request.query.get("message", ""),
            "max_answer": MAX_QUESTION * 4,
            "max_summary": MAX_SUMMARY,
            "province": PROVINCE_CODE,
            "created": request.query.get("created") == "1",
        },
    )


@routes.post(r"/admin/dialogues/{id:\d+}/questions/{question_id:\d+}/visibility", name="admin-dialogue-visibility")
async def visibility(request: web.Request) -> web.StreamResponse:
    """POST …/questions/TICKET/visibility (published=0|1): hide an inappropriate question from citizens, or
    show it again."""
    form = await request.post()
    async with request.app[keys.SESSIONS]() as session:
        dialogue = await _find(request, session)
        row = await _question(request, session, dialogue)
        row.question.published = dash.form_text(form, "published") == "1"
        await dash.record(
            session,
            request,
            "dialogue.question.show" if row.question.published else "dialogue.question.hide",
            object_type="ticket",
            object_id=row.ticket.code,
            dialogue=dialogue.id,
        )
        await session.commit()
    raise dash.redirect(request, "admin-dialogue", {"message": "saved"}, id=str(dialogue.id))


@routes.post(r"/admin/dialogues/{id:\d+}/questions/{question_id:\d+}/answer", name="admin-dialogue-answer")
async def answer(request: web.Request) -> web.StreamResponse:
    """POST …/questions/TICKET/answer: write (or change) a question's answer before publishing."""
    text = dash.form_text(await request.post(), "answer", MAX_QUESTION * 4 + 1)
    async with request.app[keys.SESSIONS]() as session:
        dialogue = await _find(request, session)
        row = await _question(request, session, dialogue)
        if dialogue.status == DialogueStatus.answered:
            raise dash.redirect(request, "admin-dialogue", {"message": "published"}, id=str(dialogue.id))
        if len(text) > MAX_QUESTION * 4:
            raise dash.redirect(request, "admin-dialogue", {"message": "too-long"}, id=str(dialogue.id))
        row.question.answer = text or None
        if dialogue.status == DialogueStatus.announced and dash.now_of(request) >= dialogue.held_at:
            dialogue.status = DialogueStatus.held
        await dash.record(
            session,
            request,
            "dialogue.answer",
            object_type="ticket",
            object_id=row.ticket.code,
            dialogue=dialogue.id,
            length=len(text),
        )
        await session.commit()
    raise dash.redirect(request, "admin-dialogue", {"message": "saved"}, id=str(dialogue.id))


@routes.post(r"/admin/dialogues/{id:\d+}/publish", name="admin-dialogue-publish")
async def publish(request: web.Request) -> web.StreamResponse:
    """POST /admin/dialogues/ID/publish: send the answers to the askers (and supporters), close the dialogue."""
    form = await request.post()
    summary = dash.form_text(form, "summary", MAX_SUMMARY)
    async with request.app[keys.SESSIONS]() as session:
        dialogue = await _find(request, session)
        if dialogue.status == DialogueStatus.answered:
            raise dash.redirect(request, "admin-dialogue", {"message": "published"}, id=str(dialogue.id))
        if not summary or not await dialogues.answered_questions(session, id_of(dialogue)):
            raise dash.redirect(request, "admin-dialogue", {"message": "incomplete"}, id=str(dialogue.id))
        count, queued = await publish_answers(
            session,
            request.app[keys.SERVICES].catalogs,
            dash.staff_of(request),
            dialogue,
            summary=summary,
            notify_voters=dash.form_text(form, "voters") == "1",
            now=dash.now_of(request),
        )
        await dash.record(
            session,
            request,
            "dialogue.publish",
            object_type="dialogue",
            object_id=str(dialogue.id),
            answers=count,
            messages=queued,
        )
        await session.commit()
    raise dash.redirect(request, "admin-dialogue", {"message": "sent"}, id=str(dialogue.id))
