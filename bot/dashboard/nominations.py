"""Dashboard screens for nominated real stories: the inbox of nominations, one nomination (what was
sent, its photos and voice message, its status) and the editor that turns it into a published story.

Commune staff see and publish only their commune's nominations (others are 404s). Publishing needs
the household's consent (the day and who gave it), copies the chosen photos resized and without
metadata, tells the nominator, and is audit-logged, as every status change is.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from bot import keys
from bot.dashboard import web as dash
from bot.dashboard.preview import story_bubbles
from bot.photos import NotAPhoto, published_copy
from content.i18n import N_
from content.importer import story, story_row
from content.model import Story, StoryText
from content.refresh import rebuild
from handlers.nominate import NOMINEE_LABELS, queue_nomination_message
from storage import content_edit
from storage import nominations as nomination_repo
from storage.models import Nomination, NominationStatus

routes = web.RouteTableDef()
ID = r"{nomination_id:\d{1,12}}"
MAX_TITLE = 120
MIN_TITLE = 3
MAX_TEXT = 1200
MIN_TEXT = 50
MAX_LESSON = 200
MAX_WHO = 120
MAX_REASON = 1000
SUMMARY = 280
STORIES_DIR = "stories"
LIST_LIMIT = 1000  # the newest shown; the counts per status cover every nomination
STATUS_LABELS = {
    NominationStatus.new: N_("New"),
    NominationStatus.checking: N_("Checking"),
    NominationStatus.published: N_("Published"),
    NominationStatus.not_used: N_("Not used"),
}
CONSENT_LABELS = {
    "self": N_("The sender's own household: agrees to be named and photographed"),
    "self_unnamed": N_("The sender's own household: not to be named"),
    "ask_commune": N_("Someone else: the commune must ask them (the bot never contacts them)"),
}
DONE = {
    "status": N_("Status changed."),
    "not_used": N_("Marked as not used; the nominator has been told the reason."),
    "published": N_("Published. The bot and the public pages show the story, and the nominator has been told."),
}
ERRORS = {
    "status": N_("This status change is not possible from the nomination's current status."),
    "reason": N_("Please give a reason: the nominator will see it."),
    "too_long": N_("The text is too long."),
}


async def _nomination(session, request: web.Request) -> Nomination:
    """The nomination of the URL if the staff member may see it; 404 otherwise."""
    found = await nomination_repo.get_for(session, dash.staff_of(request), int(request.match_info["nomination_id"]))
    if found is None:
        raise web.HTTPNotFound()
    return found


def _text(form: Any, name: str) -> str:
    return dash.form_text(form, name).replace("\r\n", "\n")


@routes.get(f"{dash.PREFIX}/nominations", name="admin-nominations")
async def inbox(request: web.Request) -> web.Response:
    """GET /admin/nominations?status=: the nominations in the viewer's scope, newest first."""
    status = request.query.get("status", "")
    status = status if status in NominationStatus.__members__ else ""
    async with dash.reading(request) as session:
        shown = await nomination_repo.list_for(session, dash.staff_of(request), status=status or None, limit=LIST_LIMIT)
        counts = await nomination_repo.status_counts(session, dash.staff_of(request))
    return dash.render(
        request,
        "admin/nominations/list.html",
        {
            "nominations": shown,
            "counts": counts,
            "total": sum(counts.values()),
            "status": status,
            "statuses": STATUS_LABELS,
            "nominees": NOMINEE_LABELS,
        },
    )


@routes.get(f"{dash.PREFIX}/nominations/{ID}", name="admin-nomination")
async def detail(request: web.Request) -> web.Response:
    """GET /admin/nominations/ID: what was sent, its status, and the story editor."""
    async with dash.reading(request) as session:
        nomination = await _nomination(session, request)
        published = await content_edit.get_story(session, nomination.story_id) if nomination.story_id else None
    return await _page(request, nomination, _form_of(nomination, published))


def _form_of(nomination: Nomination, published: Any) -> dict[str, Any]:
    """The editor's fields: the published story's, else a start from what was sent."""
    if published is not None:
        item = story(published)
        text = item.text("vi")
        consent = item.consent_given()
        return {
            "title": text.title,
            "body": text.body,
            "lesson": text.lesson,
            "commune": item.commune or "",
            "topic": item.tags[0] if item.tags else "",
            "consent_day": consent[0].isoformat() if consent else "",
            "consent_by": consent[1] if consent else "",
            "photos": [str(n) for n in range(len(_photos(nomination)))],
        }
    return {
        "title": "",
        "body": nomination.body[:MAX_TEXT],
        "lesson": "",
        "commune": nomination.area_code or "",
        "topic": "",
        "consent_day": "",
        "consent_by": "",
        "photos": [str(n) for n in range(len(_photos(nomination)))],
    }


def _photos(nomination: Nomination) -> list[dict]:
    return [file for file in nomination.files if file.get("kind") == "photo"]


async def _page(
    request: web.Request,
    nomination: Nomination,
    form: dict[str, Any],
    *,
    errors: list[str] | None = None,
    preview: list[dict] | None = None,
    status: int = 200,
) -> web.Response:
    services = request.app[keys.SERVICES]
    areas = dash.scope_areas(request)
    today = dash.today_of(request)
    return dash.render(
        request,
        "admin/nominations/detail.html",
        {
            "nomination": nomination,
            "form": form,
            "errors": errors or [],
            "preview": preview,
            "files": list(enumerate(nomination.files)),
            "photo_numbers": [n for n, file in enumerate(nomination.files) if file.get("kind") == "photo"],
            "statuses": STATUS_LABELS,
            "nominees": NOMINEE_LABELS,
            "consents": CONSENT_LABELS,
            "next_statuses": sorted(nomination_repo.NEXT[NominationStatus(nomination.status)]),
            "communes": [a for a in services.areas.communes() if areas is None or a.code in areas],
            "topics": services.library.topics(today),
            "topic_title": lambda topic: topic.title(dash.translator_of(request).locale),
            "done": DONE.get(request.query.get("done", ""), ""),
            "error": ERRORS.get(request.query.get("error", ""), ""),
            "max_text": MAX_TEXT,
            "today": today.isoformat(),
            "editable": nomination.status in (NominationStatus.new, NominationStatus.checking),
        },
        status=status,
    )


@routes.get(rf"{dash.PREFIX}/nominations/{ID}/files/{{number:\d{{1,2}}}}", name="admin-nomination-file")
async def file(request: web.Request) -> web.StreamResponse:
    """GET …/files/N: a photo or voice message of a nomination the staff member may see (private)."""
    async with dash.reading(request) as session:
        nomination = await _nomination(session, request)
    number = int(request.match_info["number"])
    if number >= len(nomination.files):
        raise web.HTTPNotFound()
    found = nomination.files[number]
    return dash.private_file(request, found["path"], found.get("mime"), dash.CITIZEN_FILES)


def _back(request: web.Request, **query: str) -> web.HTTPSeeOther:
    return dash.redirect(request, "admin-nomination", query, nomination_id=request.match_info["nomination_id"])


@routes.post(f"{dash.PREFIX}/nominations/{ID}/status", name="admin-nomination-status")
async def change_status(request: web.Request) -> web.StreamResponse:
    """POST …/status: checking, back to new, or not used (with a reason the nominator is told)."""
    form = await request.post()
    wanted, reason = _text(form, "status"), _text(form, "reason")
    if len(reason) > MAX_REASON:
        raise _back(request, error="too_long")
    now = dash.now_of(request)
    async with request.app[keys.SESSIONS]() as session:
        nomination = await _nomination(session, request)
        old = nomination.status
        if wanted not in NominationStatus.__members__ or wanted == NominationStatus.published:
            raise _back(request, error="status")
        if wanted == NominationStatus.not_used and not reason:
            raise _back(request, error="reason")
        try:
            nomination_repo.set_status(nomination, NominationStatus(wanted), reason, now)
        except nomination_repo.InvalidNominationStatus:
            raise _back(request, error="status") from None
        session.add(nomination)
        told = None
        if wanted == NominationStatus.not_used:
            told = await queue_nomination_message(
                session, request.app[keys.SERVICES].catalogs, now, nomination, "not_used"
            )
        await dash.record(
            session,
            request,
            "nomination.status",
            object_type="nomination",
            object_id=nomination.code,
            old=old,
            new=wanted,
            reason=reason,
            told=told is not None,
        )
        await session.commit()
    raise _back(request, done="not_used" if wanted == NominationStatus.not_used else "status")


def _posted(form) -> dict[str, Any]:
    return {
        "title": _text(form, "title")[: MAX_TITLE + 1],
        "body": _text(form, "body")[: MAX_TEXT + 1],
        "lesson": _text(form, "lesson")[: MAX_LESSON + 1],
        "commune": _text(form, "commune"),
        "topic": _text(form, "topic"),
        "consent_day": _text(form, "consent_day"),
        "consent_by": _text(form, "consent_by")[: MAX_WHO + 1],
        "photos": [value for value in form.getall("photo", []) if isinstance(value, str) and value.isdigit()],
    }


def _check(request: web.Request, nomination: Nomination, form: dict[str, Any]) -> list[str]:
    """What keeps the story from being published, as messages for the editor ([] when it can be)."""
    errors = []
    services = request.app[keys.SERVICES]
    today = dash.today_of(request)
    if not MIN_TITLE <= len(form["title"]) <= MAX_TITLE:
        errors.append(N_("The title must have 3 to 120 characters."))
    if not MIN_TEXT <= len(form["body"]) <= MAX_TEXT:
        errors.append(N_("The story must have 50 to 1,200 characters."))
    if len(form["lesson"]) > MAX_LESSON:
        errors.append(N_("The lesson must have at most 200 characters."))
    area = services.areas.get(form["commune"]) if form["commune"] else None
    if area is None or area.level != "commune" or not dash.in_area_scope(request, area.code):
        errors.append(N_("Choose the story's commune (one you may publish for)."))
    if form["topic"] and services.library.topic(form["topic"]) is None:
        errors.append(N_("Unknown topic."))
    try:
        day = date.fromisoformat(form["consent_day"])
        if day > today:
            errors.append(N_("The day of consent cannot be in the future."))
    except ValueError:
        errors.append(N_("Give the day the household agreed to be named and photographed."))
    if not form["consent_by"] or len(form["consent_by"]) > MAX_WHO:
        errors.append(N_("Say who gave the consent (for example: the head of the household, Mr Y Bloa)."))
    numbers = {n for n, file in enumerate(nomination.files) if file.get("kind") == "photo"}
    if not {int(n) for n in form["photos"]} <= numbers:
        errors.append(N_("A chosen photo is not one of this nomination's."))
    return errors


def _story_of(nomination: Nomination, form: dict[str, Any], photos: tuple[str, ...]) -> Story:
    body = form["body"]
    summary = body if len(body) <= SUMMARY else body[:SUMMARY].rsplit(" ", 1)[0] + "…"
    return Story(
        id=nomination.code.lower(),
        texts={"vi": StoryText(form["title"], summary, body, form["lesson"])},
        commune=form["commune"],
        tags=(form["topic"],) if form["topic"] else (),
        image=photos[0] if photos else None,
        published=True,
        illustrative=False,
        consent=f"{form['consent_day']}|{form['consent_by']}",
        photos=photos,
    )


async def _preview(request: web.Request, item: Story) -> list[dict]:
    """The story as the bot shows it, composed by the bot's own handler."""
    return await story_bubbles(request, item, "vi")


@routes.post(f"{dash.PREFIX}/nominations/{ID}/story", name="admin-nomination-story")
async def publish(request: web.Request) -> web.StreamResponse:
    """POST …/story: preview the story made from the nomination, or publish it and tell the nominator."""
    post = await request.post()
    form, action = _posted(post), post.get("action")
    now = dash.now_of(request)
    settings, services = request.app[keys.SETTINGS], request.app[keys.SERVICES]
    async with request.app[keys.SESSIONS]() as session:
        nomination = await _nomination(session, request)
        if nomination.status not in (NominationStatus.new, NominationStatus.checking):
            raise _back(request, error="status")
        errors = _check(request, nomination, form)
        if errors:
            return await _page(request, nomination, form, errors=errors, status=400)
        chosen = [nomination.files[int(n)] for n in sorted(set(form["photos"]), key=int)]
        if action != "publish":
            preview = _story_of(nomination, form, ())
            return await _page(request, nomination, form, preview=await _preview(request, preview))
        story_id = nomination.code.lower()
        root = settings.data_dir.resolve()
        photos = []
        for number, found in enumerate(chosen, 1):
            relative = f"{STORIES_DIR}/{story_id}/{number}.jpg"
            try:
                published_copy(root / found["path"], root / relative)
            except (NotAPhoto, FileNotFoundError):
                return await _page(
                    request,
                    nomination,
                    form,
                    errors=[N_("A chosen photo could not be read; leave it out.")],
                    status=400,
                )
            photos.append(relative)
        item = _story_of(nomination, form, tuple(photos))
        await content_edit.save_story(session, story_row(item, 0, now), now)
        nomination_repo.mark_published(nomination, story_id, now)
        session.add(nomination)
        told = await queue_nomination_message(
            session, services.catalogs, now, nomination, "published", title=form["title"]
        )
        await dash.record(
            session,
            request,
            "nomination.publish",
            object_type="nomination",
            object_id=nomination.code,
            story=story_id,
            photos=len(photos),
            consent_day=form["consent_day"],
            told=told is not None,
        )
        await session.commit()
        await rebuild(session, services.library)
    raise _back(request, done="published")
