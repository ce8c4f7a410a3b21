"""Dashboard screen: notices (broadcasts) — list, compose with a live recipient count, follow,
cancel — and the recurring campaigns with their next occurrences.

The dashboard only records broadcasts; the scheduler queues them when due and the sender delivers
them. A commune officer sends to their own commune only and sees only notices aimed at it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from bot import keys
from bot.broadcast_cli import IMAGE_TYPES
from bot.dashboard import web as dash
from content.areas import PROVINCE_CODE
from content.campaigns import Campaign, trigger
from content.i18n import N_, SUPPORTED, Translator
from content.importer import stored_campaigns
from handlers.notices import MAX_NOTICE
from handlers.profile import HOUSEHOLD_LABELS, LANGUAGE_NAMES
from handlers.quiz import broadcast_button as quiz_button
from handlers.turn import Services
from storage import broadcast_views, broadcasts
from storage.core import id_of
from storage.files import write_private
from storage.models import Broadcast, BroadcastStatus, HouseholdStatus, OutboxStatus

routes = web.RouteTableDef()
PAGE = 30
MAX_BUTTONS = 3
MAX_AHEAD = timedelta(days=366)
NEXT_OCCURRENCES = 3
MAX_ID_DIGITS = 9  # larger numbers are no id of ours (and overflow an INTEGER on PostgreSQL)
FORM_ROOM = 64 * 1024  # what the text fields of the form may take besides the photo
CANCELLABLE = frozenset({BroadcastStatus.scheduled, BroadcastStatus.queued})
BROADCAST_STATUS: dict[str, str] = {
    BroadcastStatus.scheduled: N_("Scheduled"),
    BroadcastStatus.queued: N_("Sending"),
    BroadcastStatus.done: N_("Finished"),
    BroadcastStatus.cancelled: N_("Cancelled"),
}
DUE = N_("About to go")  # scheduled for now or earlier: the next scheduler run (within seconds) queues it
MESSAGE_STATUS = {
    OutboxStatus.pending: N_("Waiting"),
    OutboxStatus.sending: N_("In flight"),
    OutboxStatus.sent: N_("Delivered"),
    OutboxStatus.failed: N_("Failed"),
    OutboxStatus.skipped: N_("Not sent"),
}
REASONS = {
    "cancelled": N_("cancelled"),
    "unsubscribed": N_("the citizen stopped notices"),
    "blocked": N_("the citizen blocked the bot"),
    "error": N_("refused by the platform"),
    "zalo_window": N_("outside Zalo's reply window"),
    "zalo_quota": N_("Zalo's limit of messages to this person was reached"),
}
STATUS_LABELS = {**HOUSEHOLD_LABELS, HouseholdStatus.unknown: N_("Status not given")}
NO_COMMUNE = N_("Your account has no commune: ask an administrator to set one.")
OWN_COMMUNE_ONLY = N_("You may only send notices to your own commune.")
UNKNOWN_FILTER = N_("Unknown household status or language.")
UNKNOWN_AREA = N_("Unknown commune or former district.")
NO_AREA = N_("Choose the whole province, a former district or at least one commune.")
REAL_STORY_ELSEWHERE = N_("A real story can go only with a notice for its own commune or for the whole province.")
TARGET_ERRORS = frozenset({NO_COMMUNE, OWN_COMMUNE_ONLY, UNKNOWN_FILTER, UNKNOWN_AREA, NO_AREA})


# --- the compose form, parsed once -------------------------------------------------------------


@dataclass
class Draft:
    """What the compose form holds: the values to show again, and what they mean."""

    texts: dict[str, str] = field(default_factory=dict)
    province: bool = False
    groups: list[str] = field(default_factory=list)
    areas: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    locales: list[str] = field(default_factory=list)
    faqs: list[str] = field(default_factory=list)
    stories: list[str] = field(default_factory=list)
    quiz: bool = False
    later: bool = False
    day: str = ""
    time: str = ""
    urgent: bool = False
    photo: bytes = b""
    photo_type: str = ""
    errors: list[str] = field(default_factory=list)
    target: dict[str, list[str]] = field(default_factory=dict)
    send_at: datetime | None = None


def read_target(draft: Draft, form: MultiMapping[Any], services: Services, areas: set[str] | None) -> None:
    """The target part of the form (shared by the count endpoint): areas within the staff
    member's scope, household statuses, languages."""
    draft.province = dash.form_text(form, "province") == "1"
    draft.groups = dash.form_values(form, "group")
    draft.areas = dash.form_values(form, "area")
    draft.statuses = [s for s in dash.form_values(form, "status") if s in HouseholdStatus.__members__]
    draft.locales = [s for s in dash.form_values(form, "locale") if s in SUPPORTED]
    if len(draft.statuses) != len(dash.form_values(form, "status")) or len(draft.locales) != len(
        dash.form_values(form, "locale")
    ):
        draft.errors.append(UNKNOWN_FILTER)
    if areas is not None:
        if not areas:
            draft.errors.append(NO_COMMUNE)
        elif draft.province or draft.groups or any(code not in areas for code in draft.areas):
            draft.errors.append(OWN_COMMUNE_ONLY)
        draft.province, draft.groups, draft.areas = False, [], sorted(areas)
        chosen = sorted(areas)
    elif draft.province:
        chosen = [PROVINCE_CODE]
    else:
        known_groups = set(services.areas.groups())
        chosen_set = {code for code in draft.areas if (area := services.areas.get(code)) and area.level == "commune"}
        for group in draft.groups:
            chosen_set.update(area.code for area in services.areas.communes_in_group(group))
        if len(chosen_set) < len(set(draft.areas)) or any(group not in known_groups for group in draft.groups):
            draft.errors.append(UNKNOWN_AREA)
        elif not chosen_set:
            draft.errors.append(NO_AREA)
        chosen = sorted(chosen_set)
    draft.target = {"areas": chosen, "statuses": draft.statuses, "locales": draft.locales}


def new_target(request: web.Request) -> Draft:
    """The audience a new form starts with: a commune officer's own commune, else the whole province."""
    areas = dash.scope_areas(request)
    return Draft(province=areas is None, areas=sorted(areas or []))


async def recipients_now(session: Any, draft: Draft, services: Services) -> int | None:
    """How many subscribed citizens the audience reaches now (None while the audience has errors)."""
    if TARGET_ERRORS.intersection(draft.errors):
        return None
    return await broadcasts.count_recipients(session, draft.target, services.catalogs.default_locale)


def audience_context(request: web.Request, draft: Draft, count: int | None) -> dict[str, Any]:
    """What the audience part of a form (`audience` in admin/_compose.html) shows: the choices within the staff
    member's scope, what is chosen, and the count of recipients when there is one."""
    services = request.app[keys.SERVICES]
    areas = dash.scope_areas(request)
    return {
        "draft": draft,
        "count_text": count_text(dash.translator_of(request), count) if count is not None else "",
        "own_areas": None if areas is None else sorted(areas),
        "groups": [(group, services.areas.communes_in_group(group)) for group in services.areas.groups()],
        "statuses": [(status, STATUS_LABELS[status]) for status in HouseholdStatus],
        "locales": [(code, LANGUAGE_NAMES[code]) for code in SUPPORTED],
    }


def count_text(t: Translator, count: int) -> str:
    """The count of recipients as the forms show it."""
    return t.gettext(N_("Recipients now: {count} subscribed citizen(s)")).format(count=t.format_number(count))


def read_message(
    draft: Draft, form: MultiMapping[Any], services: Services, tz: Any, now: datetime, photo_limit: int
) -> None:
    """The rest of the form: texts, photo, buttons, schedule, urgency."""
    draft.texts = {
        locale: dash.form_text(form, f"text_{locale}") for locale in SUPPORTED if dash.form_text(form, f"text_{locale}")
    }
    if not draft.texts.get("vi"):
        draft.errors.append(N_("Write the notice in Vietnamese (the English text is optional)."))
    if any(len(text) > MAX_NOTICE for text in draft.texts.values()):
        draft.errors.append(N_("A notice may have at most 1,500 characters in each language."))
    draft.faqs, draft.stories = dash.form_values(form, "faq"), dash.form_values(form, "story")
    draft.quiz = dash.form_text(form, "quiz") == "1"
    library = services.library
    if any(library.faq(item) is None for item in draft.faqs) or any(
        library.story(item) is None for item in draft.stories
    ):
        draft.errors.append(N_("That FAQ entry or story no longer exists."))
    if len(draft.faqs) + len(draft.stories) + draft.quiz > MAX_BUTTONS:
        draft.errors.append(N_("Choose at most 3 buttons."))
    if any(_elsewhere(library.story(item), draft.target.get("areas") or []) for item in draft.stories):
        draft.errors.append(REAL_STORY_ELSEWHERE)
    draft.urgent = dash.form_text(form, "urgent") == "1"
    _read_schedule(draft, form, tz, now)
    _read_photo(draft, form.get("photo"), photo_limit)


def _elsewhere(story: Any, areas: list[str]) -> bool:
    """Whether a real story of one commune would go with a notice for other communes (it may go with
    a notice for its own commune or for the whole province; an illustrative one goes anywhere)."""
    if story is None or story.illustrative or not story.commune:
        return False
    return areas not in ([PROVINCE_CODE], [story.commune])


def _read_schedule(draft: Draft, form: MultiMapping[Any], tz: Any, now: datetime) -> None:
    draft.later = dash.form_text(form, "when") == "later"
    draft.day, draft.time = dash.form_text(form, "day")[:10], dash.form_text(form, "time")[:5]
    if not draft.later:
        draft.send_at = now
        return
    try:
        moment = datetime.strptime(f"{draft.day} {draft.time}", "%Y-%m-%d %H:%M").replace(tzinfo=tz)
    except ValueError:
        draft.errors.append(N_("Give the date and time to send it, or choose to send it now."))
        return
    if moment <= now:
        draft.errors.append(N_("That time has passed: choose a later one, or send it now."))
    elif moment - now > MAX_AHEAD:
        draft.errors.append(N_("A notice can be scheduled at most one year ahead."))
    else:
        draft.send_at = moment


def _read_photo(draft: Draft, upload: Any, limit: int) -> None:
    if not isinstance(upload, web.FileField) or not upload.filename:
        return
    data = upload.file.read(limit + 1)
    if not data:
        return
    if len(data) > limit:
        draft.errors.append(N_("The photo is too large."))
        return
    extension = next((ext for magic, ext in IMAGE_TYPES.items() if data.startswith(magic)), None)
    if extension is None:
        draft.errors.append(N_("The photo must be a JPEG or PNG picture."))
        return
    draft.photo, draft.photo_type = data, extension


def buttons_of(draft: Draft, services: Services) -> list[list[dict]]:
    """One button row per FAQ entry or story chosen, and one for the quiz, labelled in each language (as
    the CLI does)."""
    rows: list[list[dict]] = []
    for faq_id in draft.faqs:
        if (entry := services.library.faq(faq_id)) is not None:
            labels = {loc: "❓ " + text.question[:60] for loc, text in entry.texts.items()}
            rows.append([{"labels": labels, "action": f"faq:show:{faq_id}"}])
    for story_id in draft.stories:
        if (story := services.library.story(story_id)) is not None:
            labels = {loc: "📖 " + text.title[:60] for loc, text in story.texts.items()}
            rows.append([{"labels": labels, "action": f"story:{story_id}"}])
    if draft.quiz:
        rows.append(quiz_button(services.catalogs))
    return rows


def keep_photo(draft: Draft, data_dir: Path) -> str | None:
    """Store the photo under DATA_DIR/media/broadcasts; its path relative to DATA_DIR."""
    if not draft.photo:
        return None
    relative = Path("media") / "broadcasts" / f"{uuid.uuid4().hex}{draft.photo_type}"
    target = data_dir / relative
    write_private(target, draft.photo)
    return str(relative)


def photo_limit(request: web.Request) -> int:
    """The largest photo the form accepts: MEDIA_MAX_BYTES, within what the server reads of a request."""
    return max(0, min(request.app[keys.SETTINGS].media_max_bytes, request.client_max_size - FORM_ROOM))


# --- describing a broadcast --------------------------------------------------------------------


def describe_target(target: dict, services: Services, t: Translator) -> str:
    """Whom a target reaches, in words: areas (a whole former district by its name), statuses, languages."""
    codes = [str(code) for code in target.get("areas") or []]
    if not codes or PROVINCE_CODE in codes:
        where = t.gettext(N_("Whole province"))
    else:
        remaining = set(codes)
        parts = []
        for group in services.areas.groups():
            members = {area.code for area in services.areas.communes_in_group(group)}
            if members and members <= remaining:
                parts.append(group)
                remaining -= members
        parts += [(area.label if (area := services.areas.get(code)) else code) for code in codes if code in remaining]
        where = ", ".join(parts[:4]) + (
            " " + t.gettext(N_("and {count} more")).format(count=len(parts) - 4) if len(parts) > 4 else ""
        )
    details = [where]
    if target.get("statuses"):
        details.append(", ".join(t.gettext(STATUS_LABELS.get(s, s)) for s in target["statuses"]))
    if target.get("locales"):
        details.append(", ".join(LANGUAGE_NAMES.get(s, s) for s in target["locales"]))
    return " · ".join(details)


async def _find(request: web.Request, session: Any) -> Broadcast:
    """The broadcast of the URL, if the staff member may see it (else 404)."""
    raw = request.match_info["id"]
    broadcast = await session.get(Broadcast, int(raw)) if len(raw) <= MAX_ID_DIGITS else None
    if broadcast is None or not broadcast_views.visible_to(broadcast, dash.scope_areas(request)):
        raise web.HTTPNotFound()
    return broadcast


# --- routes -----------------------------------------------------------------------------------


@routes.get(f"{dash.PREFIX}/broadcasts", name="admin-broadcasts")
async def broadcast_list(request: web.Request) -> web.Response:
    """GET /admin/broadcasts[?before=ID]: notices in the staff member's area, newest first, with progress."""
    before = request.query.get("before", "")
    async with dash.reading(request) as session:
        rows = await broadcast_views.list_broadcasts(
            session,
            dash.scope_areas(request),
            limit=PAGE + 1,
            before=int(before) if before.isdigit() and len(before) <= MAX_ID_DIGITS else None,
        )
        counts = await broadcast_views.counts_by_broadcast(session, [row.id for row in rows[:PAGE] if row.id])
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    return dash.render(
        request,
        "admin/broadcasts/list.html",
        {
            "rows": [_summary(request, row, counts.get(row.id or 0, {})) for row in rows],
            "next_before": rows[-1].id if more and rows else None,
            "message_statuses": MESSAGE_STATUS,
        },
    )


def _summary(request: web.Request, broadcast: Broadcast, counts: dict[str, int]) -> dict[str, Any]:
    done, total = broadcast_views.progress(counts)
    return {
        "b": broadcast,
        "counts": counts,
        "done": done,
        "total": total,
        "status": DUE
        if broadcast.status == BroadcastStatus.scheduled and broadcast.send_at <= dash.now_of(request)
        else BROADCAST_STATUS.get(broadcast.status, broadcast.status),
        "target": describe_target(broadcast.target, request.app[keys.SERVICES], dash.translator_of(request)),
        "text": broadcast.texts.get("vi", ""),
    }


@routes.get(f"{dash.PREFIX}/broadcasts/new", name="admin-broadcasts-new")
async def compose(request: web.Request) -> web.Response:
    """GET /admin/broadcasts/new: the compose form (a commune officer's own commune preselected)."""
    return _compose_page(request, new_target(request))


@routes.post(f"{dash.PREFIX}/broadcasts/new", name="admin-broadcasts-create")
async def create(request: web.Request) -> web.StreamResponse:
    """POST /admin/broadcasts/new: action=count shows the count (without JavaScript), action=send records it."""
    form = await request.post()
    services = request.app[keys.SERVICES]
    now = dash.now_of(request)
    draft = Draft()
    read_target(draft, form, services, dash.scope_areas(request))
    read_message(draft, form, services, request.app[keys.SETTINGS].tz, now, photo_limit(request))
    sending = dash.form_text(form, "action") == "send"
    async with request.app[keys.SESSIONS]() as session:
        count = await recipients_now(session, draft, services)
        if not sending or draft.errors or draft.send_at is None:
            shown = draft.errors if sending else [error for error in draft.errors if error in TARGET_ERRORS]
            return _compose_page(request, draft, count=count, errors=shown, status=400 if shown else 200)
        broadcast = await broadcasts.create_broadcast(
            session,
            texts=draft.texts,
            target=draft.target,
            send_at=draft.send_at,
            now=now,
            urgent=draft.urgent,
            author=dash.staff_of(request).username,
            author_staff_id=dash.staff_of(request).id,
            image=keep_photo(draft, request.app[keys.SETTINGS].data_dir),
            buttons=buttons_of(draft, services),
        )
        await dash.record(
            session,
            request,
            "broadcast.create",
            object_type="broadcast",
            object_id=str(broadcast.id),
            target=draft.target,
            urgent=draft.urgent,
            send_at=draft.send_at.isoformat(),
            recipients_now=count,
            via="dashboard",
        )
        await session.commit()
    raise dash.redirect(request, "admin-broadcast", {"created": "1"}, id=str(broadcast.id))


def _compose_page(
    request: web.Request, draft: Draft, *, count: int | None = None, errors: list[str] | None = None, status: int = 200
) -> web.Response:
    services = request.app[keys.SERVICES]
    t = dash.translator_of(request)
    today = dash.today_of(request)
    return dash.render(
        request,
        "admin/broadcasts/new.html",
        {
            **audience_context(request, draft, count),
            "errors": errors or [],
            "max_text": MAX_NOTICE,
            "topics": [
                (topic.title(t.locale), services.library.in_topic(topic.id, today))
                for topic in services.library.topics(today)
            ],
            "stories": services.library.stories(),
            "photo_limit": photo_limit(request),
            "photo_limit_mb": f"{photo_limit(request) / 1_000_000:.1f}",
            "today": today.isoformat(),
        },
        status=status,
    )


@routes.get(f"{dash.PREFIX}/broadcasts/count", name="admin-broadcasts-count")
async def count(request: web.Request) -> web.Response:
    """GET /admin/broadcasts/count?area=…&group=…&province=1&status=…&locale=…: the live recipient count (JSON)."""
    services = request.app[keys.SERVICES]
    draft = Draft()
    read_target(draft, request.query, services, dash.scope_areas(request))
    t = dash.translator_of(request)
    if draft.errors:
        return web.json_response({"count": None, "error": t.gettext(draft.errors[0])}, status=400)
    async with dash.reading(request) as session:
        reach = await broadcasts.count_recipients(session, draft.target, services.catalogs.default_locale)
    return web.json_response({"count": reach, "text": count_text(t, reach)}, headers={"Cache-Control": "no-store"})


@routes.get(r"/admin/broadcasts/{id:\d+}", name="admin-broadcast")
async def detail(request: web.Request) -> web.Response:
    """GET /admin/broadcasts/ID: what was sent to whom, and how far delivery has got."""
    async with dash.reading(request) as session:
        broadcast = await _find(request, session)
        counts = await broadcasts.status_counts(session, id_of(broadcast))
    summary = _summary(request, broadcast, counts)
    reasons = sorted(
        (key.split(":", 1), value)
        for key, value in counts.items()
        if ":" in key and not key.startswith(f"{OutboxStatus.sent}:")
    )  # sent, only counted apart
    return dash.render(
        request,
        "admin/broadcasts/detail.html",
        {
            **summary,
            "reasons": reasons,
            "message_statuses": MESSAGE_STATUS,
            "reason_labels": REASONS,
            "cancellable": broadcast.status in CANCELLABLE,
            "created": request.query.get("created") == "1",
            "dropped": int(dropped) if (dropped := request.query.get("cancelled", "")).isdigit() else None,
            "refused": request.query.get("message") == "not-cancellable",
            "languages": [(LANGUAGE_NAMES.get(code, code), text) for code, text in broadcast.texts.items()],
            "button_labels": [
                button["labels"].get(dash.translator_of(request).locale) or button["labels"].get("vi", "")
                for row in broadcast.buttons
                for button in row
            ],
        },
    )


@routes.get(r"/admin/broadcasts/{id:\d+}/photo", name="admin-broadcast-photo")
async def photo(request: web.Request) -> web.StreamResponse:
    """GET /admin/broadcasts/ID/photo: the notice's photo, from DATA_DIR."""
    async with dash.reading(request) as session:
        broadcast = await _find(request, session)
    root = request.app[keys.SETTINGS].data_dir.resolve()
    path = (root / (broadcast.image or "")).resolve()
    if not broadcast.image or not path.is_relative_to(root) or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})


@routes.post(r"/admin/broadcasts/{id:\d+}/cancel", name="admin-broadcast-cancel")
async def cancel(request: web.Request) -> web.StreamResponse:
    """POST /admin/broadcasts/ID/cancel: stop what has not gone yet."""
    async with request.app[keys.SESSIONS]() as session:
        broadcast = await _find(request, session)
        if broadcast.status not in CANCELLABLE:
            raise dash.redirect(request, "admin-broadcast", {"message": "not-cancellable"}, id=str(broadcast.id))
        dropped = await broadcasts.cancel(session, broadcast)
        await dash.record(
            session,
            request,
            "broadcast.cancel",
            object_type="broadcast",
            object_id=str(broadcast.id),
            dropped=dropped,
            via="dashboard",
        )
        await session.commit()
    raise dash.redirect(request, "admin-broadcast", {"cancelled": str(dropped)}, id=str(broadcast.id))


@routes.get(f"{dash.PREFIX}/campaigns", name="admin-campaigns")
async def campaigns(request: web.Request) -> web.Response:
    """GET /admin/campaigns: the active recurring campaigns, their next occurrences and last notice."""
    services = request.app[keys.SERVICES]
    t = dash.translator_of(request)
    now = dash.now_of(request)
    async with dash.reading(request) as session:
        found = await stored_campaigns(session, [area.code for area in services.areas.records])
        latest = await broadcast_views.latest_of_campaigns(session, [campaign.id for campaign in found])
    areas = dash.scope_areas(request)
    return dash.render(
        request,
        "admin/broadcasts/campaigns.html",
        {
            "campaigns": [
                {
                    "c": campaign,
                    "title": campaign.title.get(t.locale) or campaign.title.get("vi", campaign.id),
                    "text": campaign.texts.get(t.locale) or campaign.texts.get("vi", ""),
                    "target": describe_target(campaign.target, services, t),
                    "next": next_occurrences(campaign, now, services.tz),
                    "window": campaign.window,
                    "latest": latest.get(campaign.id)
                    if campaign.id in latest and broadcast_views.visible_to(latest[campaign.id], areas)
                    else None,
                }
                for campaign in found
            ],
            "broadcast_status": BROADCAST_STATUS,
        },
    )


def next_occurrences(campaign: Campaign, now: datetime, tz: Any, count: int = NEXT_OCCURRENCES) -> list[datetime]:
    """The campaign's next few occurrences after `now`, from the same trigger the scheduler runs."""
    when = trigger(campaign, tz)
    found: list[datetime] = []
    moment = when.get_next_fire_time(None, now)
    while moment is not None and len(found) < count:
        found.append(moment)
        moment = when.get_next_fire_time(moment, moment + timedelta(seconds=1))
    return found
