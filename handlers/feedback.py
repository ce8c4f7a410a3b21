"""Sending feedback ("Gửi phản ánh"): kind, topic, message, photos, location, commune, name or
anonymous, a summary to confirm, then a ticket with a tracking code. The draft lives in the
conversation state, so it survives a restart; /huy drops it. The flow is drawn in `feedback.mmd`.
"""

from __future__ import annotations

from handlers.menu import main_menu
from handlers.profile import area_label
from handlers.router import Action, Routes
from handlers.states import State
from handlers.turn import StaleAction, Turn
from handlers.types import Button, Reply
from storage import tickets as ticket_repo
from storage.models import TicketKind
from storage.ticket_rules import add_working_days

MAX_PHOTOS = 5


def _kind_label(turn: Turn, kind: str) -> str:
    labels = {
        TicketKind.question: turn._("❓ Ask about a policy"),
        TicketKind.feedback: turn._("💬 Give feedback"),
        TicketKind.suggestion: turn._("💡 Make a suggestion"),
        TicketKind.complaint: turn._("⚖️ Complain about the poverty review or a benefit"),
        TicketKind.problem: turn._("⚠️ Report a problem"),
    }
    return labels[TicketKind(kind)]


def _cancel_row(turn: Turn) -> tuple[Button, ...]:
    return (Button(turn._("✖ Cancel"), "fb:cancel"),)


async def start(turn: Turn) -> list[Reply]:
    """/phananh, /feedback, "Send feedback": check the daily limit, then ask the kind."""
    sent_today = await ticket_repo.count_today(turn.session, turn.citizen.id, turn.now, turn.services.tz)
    if sent_today >= turn.services.tickets.daily_limit:
        return [main_menu(turn, turn._(
            "You have already sent {count} reports today. To keep the line open for everyone, please send more tomorrow.",
            count=sent_today,
        ))]
    turn.goto(State.feedback_kind, draft={})
    return [Reply(
        turn._("What would you like to send? Your report goes to the staff of your commune, who must answer it."),
        buttons=(*((Button(_kind_label(turn, kind), f"fb:kind:{kind}"),) for kind in TicketKind), _cancel_row(turn)),
    )]


def _draft(turn: Turn) -> dict:
    draft = turn.data.get("draft")
    if not isinstance(draft, dict):
        raise StaleAction
    return draft


def _goto(turn: Turn, state: State, draft: dict) -> None:
    turn.goto(state, draft=draft, **({"editing": True} if turn.data.get("editing") else {}))


async def on_kind(turn: Turn) -> list[Reply]:
    """The kind was chosen: ask the topic."""
    kind = turn.args[1] if len(turn.args) > 1 else ""
    if kind not in TicketKind.__members__:
        raise StaleAction
    draft = {**_draft(turn), "kind": kind}
    _goto(turn, State.feedback_topic, draft)
    topics = turn.services.library.topics(turn.today)
    return [Reply(
        turn._("Which subject is it about?"),
        buttons=(
            *((Button(topic.title(turn.locale), f"fb:topic:{topic.id}"),) for topic in topics),
            (Button(turn._("Something else"), "fb:topic:other"),),
            _cancel_row(turn),
        ),
    )]


async def on_topic(turn: Turn) -> list[Reply]:
    """The topic was chosen: ask for the message."""
    topic = turn.args[1] if len(turn.args) > 1 else ""
    if topic != "other" and turn.services.library.topic(topic) is None:
        raise StaleAction
    draft = {**_draft(turn), "topic": topic}
    _goto(turn, State.feedback_message, draft)
    return [ask_message(turn)]


def ask_message(turn: Turn) -> Reply:
    """Ask for the content: text, or a voice message."""
    return Reply(
        turn._("Please write what happened or what you want to say, as concretely as you can "
               "(where, when, who). You can also send a voice message."),
        buttons=(_cancel_row(turn),),
    )


async def on_message(turn: Turn) -> list[Reply]:
    """The content, as text or a voice message."""
    draft = dict(_draft(turn))
    files = await turn.media()
    voice = next((a for a in files if a.kind in ("voice", "audio") and a.path), None)
    rejected = next((a for a in files if a.problem), None)
    if rejected is not None and voice is None and not turn.text:
        return [_file_problem(turn, rejected.problem), ask_message(turn)]
    if not turn.text and voice is None:
        return [ask_message(turn)]
    draft["body"] = turn.text or turn._("(voice message)")
    if voice is not None:
        draft["voice"] = {"path": voice.path, "mime": voice.mime_type or "", "size": voice.size or 0}
    if turn.data.get("editing"):
        return _confirm(turn, draft)
    _goto(turn, State.feedback_photos, draft)
    return [ask_photos(turn, draft)]


def _file_problem(turn: Turn, problem: str | None) -> Reply:
    if problem == "too_large":
        return Reply(turn._("This file is too large. Please send a smaller photo (under 10 MB)."))
    return Reply(turn._("I can only keep photos (JPEG, PNG) and voice messages. This file was not saved."))


def ask_photos(turn: Turn, draft: dict) -> Reply:
    """Invite photos, with a button to go on."""
    count = len(draft.get("photos", []))
    text = (
        turn._("Received {count} photo(s). Send more, or press “Done”.", count=count)
        if count
        else turn._("If you have photos, send them now (up to 5). Otherwise press “Skip”.")
    )
    label = turn._("✅ Done") if count else turn._("Skip")
    return Reply(text, buttons=((Button(label, "fb:photos:done"),), _cancel_row(turn)))


async def on_photo(turn: Turn) -> list[Reply]:
    """A photo (or text) while photos are invited."""
    draft = dict(_draft(turn))
    photos = list(draft.get("photos", []))
    replies: list[Reply] = []
    for attachment in await turn.media():
        if attachment.problem:
            replies.append(_file_problem(turn, attachment.problem))
        elif attachment.kind == "photo" and attachment.path and len(photos) < MAX_PHOTOS:
            photos.append({"path": attachment.path, "mime": attachment.mime_type or "image/jpeg", "size": attachment.size or 0})
    if turn.incoming.location is not None:
        draft["location"] = [turn.incoming.location.latitude, turn.incoming.location.longitude]
    draft["photos"] = photos
    _goto(turn, State.feedback_photos, draft)
    return [*replies, ask_photos(turn, draft)]


async def on_photos_done(turn: Turn) -> list[Reply]:
    """Photos done: ask for a location, unless one was already shared."""
    draft = _draft(turn)
    if draft.get("location"):
        return _ask_area(turn, draft)
    _goto(turn, State.feedback_location, draft)
    return [Reply(
        turn._("If it helps, share the location (📎 → Location). Otherwise press “Skip”."),
        buttons=((Button(turn._("Skip"), "fb:location:skip"),), _cancel_row(turn)),
    )]


async def on_location(turn: Turn) -> list[Reply]:
    """A shared location (or a press of "Skip")."""
    draft = dict(_draft(turn))
    if turn.incoming.location is not None:
        draft["location"] = [turn.incoming.location.latitude, turn.incoming.location.longitude]
    elif not turn.incoming.action:
        return [Reply(
            turn._("Please share a location, or press “Skip”."),
            buttons=((Button(turn._("Skip"), "fb:location:skip"),), _cancel_row(turn)),
        )]
    return _ask_area(turn, draft)


def _ask_area(turn: Turn, draft: dict) -> list[Reply]:
    area = draft.get("area") or turn.citizen.area_code
    draft = {**draft, "area": area}
    _goto(turn, State.feedback_area, draft)
    if area:
        return [Reply(
            turn._("Is this about {commune}?", commune=area_label(turn, area)),
            buttons=(
                (Button(turn._("✅ Yes, {commune}", commune=area_label(turn, area)), f"fb:area:{area}"),),
                (Button(turn._("Choose another commune"), "fb:area:other"),),
                _cancel_row(turn),
            ),
        )]
    return [Reply(turn._("Which commune or ward is this about? Type its name (for example: Ea Kao)."), buttons=(_cancel_row(turn),))]


async def on_area_text(turn: Turn) -> list[Reply]:
    """A typed commune name."""
    draft = _draft(turn)
    matches = turn.services.areas.match_commune(turn.text, limit=5)
    if len(matches) == 1 and matches[0].score >= 100:
        return _choose_area(turn, dict(draft), matches[0].area.code)
    if not matches:
        return [Reply(turn._("I could not find a commune called “{name}”. Please type the name again.", name=turn.text[:60]),
                      buttons=(_cancel_row(turn),))]
    _goto(turn, State.feedback_area, draft)
    return [Reply(
        turn._("Did you mean one of these?"),
        buttons=(*((Button(m.area.label, f"fb:area:{m.area.code}"),) for m in matches), _cancel_row(turn)),
    )]


async def on_area(turn: Turn) -> list[Reply]:
    """The commune was confirmed or chosen: ask name or anonymous."""
    draft = dict(_draft(turn))
    choice = turn.args[1] if len(turn.args) > 1 else ""
    if choice == "other":
        draft["area"] = None
        _goto(turn, State.feedback_area, draft)
        return [Reply(turn._("Which commune or ward is this about? Type its name (for example: Ea Kao)."), buttons=(_cancel_row(turn),))]
    record = turn.services.areas.get(choice)
    if record is None or record.level != "commune":
        raise StaleAction
    return _choose_area(turn, draft, record.code)


def _choose_area(turn: Turn, draft: dict, code: str) -> list[Reply]:
    """The commune is known: back to the summary when editing, else ask name or anonymous."""
    draft["area"] = code
    if turn.data.get("editing"):
        return _confirm(turn, draft)
    _goto(turn, State.feedback_identity, draft)
    name = turn.incoming.display_name or turn.citizen.display_name
    return [Reply(
        turn._("Should the commune staff see your name? If you choose anonymous, only provincial "
               "administrators can see who sent it."),
        buttons=(
            (Button(turn._("👤 Show my name ({name})", name=name) if name else turn._("👤 Show my name"), "fb:identity:named"),),
            (Button(turn._("🕶 Send anonymously"), "fb:identity:anonymous"),),
            _cancel_row(turn),
        ),
    )]


async def on_identity(turn: Turn) -> list[Reply]:
    """Named or anonymous: show the summary."""
    choice = turn.args[1] if len(turn.args) > 1 else ""
    if choice not in ("named", "anonymous"):
        raise StaleAction
    # An anonymous report still records who sent it: only provincial administrators may see it,
    # and each such view is audit-logged.
    name = (turn.incoming.display_name or turn.citizen.display_name or "")[:200] or None
    draft = {**_draft(turn), "anonymous": choice == "anonymous", "name": name}
    return _confirm(turn, draft)


def _confirm(turn: Turn, draft: dict) -> list[Reply]:
    turn.goto(State.feedback_confirm, draft=draft)
    topic = turn.services.library.topic(draft.get("topic", ""))
    location = draft.get("location")
    lines = [
        turn._("Please check your report:"),
        turn._("Kind: {kind}", kind=_kind_label(turn, draft["kind"])),
        turn._("Subject: {topic}", topic=topic.title(turn.locale) if topic else turn._("Something else")),
        turn._("Commune: {commune}", commune=area_label(turn, draft.get("area"))),
        turn._("Content: {body}", body=draft.get("body", "")[:1500]),
        turn._("Photos: {count}", count=len(draft.get("photos", []))),
    ]
    if location:
        lines.append(turn._("Location: {lat}, {lon}", lat=f"{location[0]:.5f}", lon=f"{location[1]:.5f}"))
    lines.append(turn._("Sender: anonymous") if draft.get("anonymous") else turn._("Sender: {name}", name=draft.get("name") or "—"))
    return [Reply("\n".join(lines), buttons=(
        (Button(turn._("📨 Send"), "fb:submit"),),
        (Button(turn._("✏️ Edit the content"), "fb:edit:message"), Button(turn._("✏️ Change commune"), "fb:edit:area")),
        _cancel_row(turn),
    ))]


async def on_edit(turn: Turn) -> list[Reply]:
    """Go back to one step from the summary, then straight back to the summary."""
    draft = _draft(turn)
    what = turn.args[1] if len(turn.args) > 1 else ""
    if what == "message":
        turn.goto(State.feedback_message, draft=draft, editing=True)
        return [ask_message(turn)]
    if what == "area":
        turn.goto(State.feedback_area, draft={**draft, "area": None}, editing=True)
        return [Reply(turn._("Which commune or ward is this about? Type its name (for example: Ea Kao)."), buttons=(_cancel_row(turn),))]
    raise StaleAction


async def on_submit(turn: Turn) -> list[Reply]:
    """Create the ticket. The engine commits before this confirmation is sent."""
    draft = _draft(turn)
    if "kind" not in draft or "body" not in draft:
        raise StaleAction
    policy = turn.services.tickets
    due = add_working_days(turn.now, policy.due_days.get(draft["kind"], 10), tz=turn.services.tz, holidays=policy.holidays)
    files = [("photo", p["path"], p["mime"], p["size"]) for p in draft.get("photos", [])]
    if draft.get("voice"):
        voice = draft["voice"]
        files.append(("voice", voice["path"], voice["mime"], voice["size"]))
    location = draft.get("location") or [None, None]
    ticket = await ticket_repo.create_ticket(
        turn.session, citizen_id=turn.citizen.id, kind=draft["kind"], topic=draft.get("topic", ""),
        body=draft["body"], area_code=draft.get("area"), anonymous=bool(draft.get("anonymous")),
        reporter_name=draft.get("name"), locale=turn.locale,
        latitude=location[0], longitude=location[1], attachments=files, now=turn.now, due_at=due,
    )
    turn.reset()
    return [main_menu(turn, turn._(
        "Thank you, your report has been received.\nTracking code: {code}\nExpected answer by: {due}\n"
        "To check it, send /tracuu {code}. You will get a message here when staff answer.",
        code=ticket.code, due=turn.translator.format_date(due),
    ))]


async def on_cancel(turn: Turn) -> list[Reply]:
    """Drop the draft."""
    turn.reset()
    return [main_menu(turn, turn._("OK, the report was not sent. Nothing was saved."))]


FLOW_STATES = frozenset({
    State.feedback_kind, State.feedback_topic, State.feedback_message, State.feedback_photos,
    State.feedback_location, State.feedback_area, State.feedback_identity, State.feedback_confirm,
})


async def on_action(turn: Turn) -> list[Reply]:
    """fb:<step>:… buttons."""
    step = turn.args[0] if turn.args else ""
    handler = {
        "kind": on_kind, "topic": on_topic, "photos": on_photos_done, "location": on_location,
        "area": on_area, "identity": on_identity, "edit": on_edit, "submit": on_submit, "cancel": on_cancel,
    }.get(step)
    if handler is None:
        raise StaleAction
    return await handler(turn)


ROUTES = Routes(
    commands={"phananh": start, "feedback": start},
    actions={"menu:feedback": Action(start), "fb": Action(on_action, FLOW_STATES)},
    text={
        State.feedback_message: on_message,
        State.feedback_photos: on_photo,
        State.feedback_location: on_location,
        State.feedback_area: on_area_text,
    },
    media={
        State.feedback_message: on_message,
        State.feedback_photos: on_photo,
        State.feedback_location: on_location,
    },
)
