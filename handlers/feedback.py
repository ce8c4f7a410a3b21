"""Sending feedback ("Gửi phản ánh"): kind, topic, message, photos, location, commune, name or
anonymous, a summary to confirm, then a ticket with a tracking code. The draft lives in the
conversation state, so it survives a restart; /huy drops it. The flow is drawn in `feedback.mmd`.
"""

from __future__ import annotations

from content.i18n import N_
from content.search import Status
from handlers import drafts
from handlers.actions import (
    FeedbackArea,
    FeedbackCancel,
    FeedbackEdit,
    FeedbackIdentity,
    FeedbackKind,
    FeedbackNoLocation,
    FeedbackPhotosDone,
    FeedbackStory,
    FeedbackSubmit,
    FeedbackTopic,
    Menu,
)
from handlers.drafts import MAX_BODY
from handlers.menu import main_menu
from handlers.profile import area_label
from handlers.router import Action, Routes
from handlers.states import State, flow_states
from handlers.turn import NotThisStep, StaleAction, Turn
from handlers.types import Button, Reply
from handlers.words import DONE, NO, SKIP, report_kind, words
from storage import address_limits
from storage import tickets as ticket_repo
from storage.core import id_of
from storage.models import TicketKind
from storage.ticket_rules import add_working_days

MAX_PHOTOS = 5
ADDRESS_BUSY = N_(
    "Sorry, many reports have been sent from your network lately, so I cannot send yours right now. "
    "Your report is kept here: press “📨 Send” again in about an hour, or call your commune's office."
)
STORY_WORDS = 4  # a typed text of this many words at the kind or topic step is the report itself
KIND_KEYS = {
    TicketKind.question: frozenset({"hoi", "cau hoi", "hoi chinh sach", "question"}),
    TicketKind.feedback: frozenset({"phan anh", "y kien", "gop y", "feedback"}),
    TicketKind.suggestion: frozenset({"kien nghi", "de xuat", "de nghi", "suggestion"}),
    TicketKind.complaint: frozenset({"khieu nai", "to cao", "complaint", "complain"}),
    TicketKind.problem: frozenset({"su co", "hu hong", "bao su co", "problem"}),
}


def _kind_label(turn: Turn, kind: str) -> str:
    labels = {
        TicketKind.question: turn._("❓ Ask about a policy"),
        TicketKind.feedback: turn._("💬 Give feedback"),
        TicketKind.suggestion: turn._("💡 Make a suggestion"),
        TicketKind.complaint: turn._("⚖️ Complain about the poverty review or a benefit"),
        TicketKind.problem: turn._("⚠️ Report a problem"),
    }
    return labels[TicketKind(kind)]


async def _over_limit(turn: Turn) -> list[Reply] | None:
    """The answer when the citizen already sent today's allowed number of reports, else None."""
    sent_today = await ticket_repo.count_today(turn.session, id_of(turn.citizen), turn.now, turn.services.tz)
    if sent_today < turn.services.tickets.daily_limit:
        return None
    return [
        main_menu(
            turn,
            turn._(
                "You have already sent {count} reports today. To keep the line open for everyone, please send more "
                "tomorrow.",
                count=sent_today,
            ),
        )
    ]


async def start(turn: Turn, draft: dict | None = None, note: str | None = None) -> list[Reply]:
    """/phananh, /feedback, "Send feedback": check the daily limit, then ask the kind."""
    refusal = await _over_limit(turn)
    if refusal is not None:
        return refusal
    turn.goto(State.feedback_kind, draft=draft or {})
    text = turn._("What would you like to send? Your report goes to the staff of your commune, who must answer it.")
    return [
        Reply(
            f"{note}\n\n{text}" if note else text,
            buttons=(
                *(
                    (Button(_kind_label(turn, kind), FeedbackKind(kind).pack(), KIND_KEYS[kind]),)
                    for kind in TicketKind
                ),
                FLOW.cancel_row(turn),
            ),
        )
    ]


async def start_with_media(turn: Turn) -> list[Reply]:
    """A photo, voice message or location sent first: a report begins, with it kept."""
    draft, notes = await FLOW.kept(turn, {})
    return await start(turn, draft, "\n".join(notes) or None)


async def to_a_person(turn: Turn) -> list[Reply]:
    """ "I want to talk to an officer": a question to the commune staff, who answer it here."""
    refusal = await _over_limit(turn)
    if refusal is not None:
        return refusal
    draft = {"kind": TicketKind.question.value, "topic": "other"}
    if len(words(turn.text).split()) > 8:  # the question is already in the message
        return FLOW.after_body(
            turn, {**draft, "body": turn.text[:MAX_BODY]}, [turn._("I will pass your message to the commune staff.")]
        )
    turn.goto(State.feedback_message, draft=draft)
    return [
        Reply(
            turn._("Please write what you want to ask or tell the commune staff. They will answer you here."),
            buttons=(FLOW.cancel_row(turn),),
        )
    ]


async def from_story(turn: Turn) -> list[Reply]:
    """ "Send it as a report" under a story told outside any flow: a report with that text."""
    story = turn.data.get("story")
    if not isinstance(story, str) or not story:
        raise StaleAction
    refusal = await _over_limit(turn)
    if refusal is not None:
        return refusal
    return _report_from_text(turn, {}, story)


def _report_from_text(turn: Turn, draft: dict, text: str) -> list[Reply]:
    """A report whose message is `text`: its kind and subject guessed unless chosen, then on to photos."""
    kind = draft.get("kind") or report_kind(text)
    topic = draft.get("topic") or _guess_topic(turn, text)
    draft = {**draft, "kind": kind, "topic": topic, "body": text[:MAX_BODY]}
    subject = turn.services.library.topic(topic)
    note = turn._(
        "I have noted your report as “{kind}”, subject “{topic}”. You can check everything before it is sent.",
        kind=_kind_label(turn, kind),
        topic=subject.title(turn.locale) if subject else turn._("Something else"),
    )
    return FLOW.after_body(turn, draft, [note])


def _guess_topic(turn: Turn, text: str) -> str:
    """The FAQ topic a text is most likely about, or "other"."""
    result = turn.services.library.index.search(text, on=turn.today)
    return result.best.entry.topic if result.best is not None and result.status is not Status.none else "other"


async def on_kind(turn: Turn) -> list[Reply]:
    """The kind was chosen: ask the topic."""
    draft = {**drafts.draft(turn), "kind": turn.pressed_as(FeedbackKind).kind.value}
    drafts.goto(turn, State.feedback_topic, draft)
    return [ask_topic(turn)]


def ask_topic(turn: Turn) -> Reply:
    """Ask the subject of the report."""
    topics = turn.services.library.topics(turn.today)
    return Reply(
        turn._("Which subject is it about? Or write your report straight away."),
        buttons=(
            *((Button(topic.title(turn.locale), FeedbackTopic(topic.id).pack()),) for topic in topics),
            (
                Button(
                    turn._("Something else"),
                    FeedbackTopic("other").pack(),
                    frozenset({"khac", "cai khac", "chu de khac", "other"}),
                ),
            ),
            FLOW.cancel_row(turn),
        ),
    )


async def on_kind_text(turn: Turn) -> list[Reply]:
    """Text at the kind step that names no kind: a story is the report itself; else ask again."""
    if len(words(turn.text).split()) >= STORY_WORDS:
        return _report_from_text(turn, dict(drafts.draft(turn)), turn.text)
    raise NotThisStep


async def on_topic_text(turn: Turn) -> list[Reply]:
    """Text at the subject step that names no subject: the report itself, its subject guessed."""
    if len(words(turn.text).split()) >= STORY_WORDS - 1:
        return _report_from_text(turn, dict(drafts.draft(turn)), turn.text)
    raise NotThisStep


async def on_topic(turn: Turn) -> list[Reply]:
    """The topic was chosen: ask for the message."""
    topic = turn.pressed_as(FeedbackTopic).topic
    if topic != "other" and turn.services.library.topic(topic) is None:
        raise StaleAction
    draft = {**drafts.draft(turn), "topic": topic}
    drafts.goto(turn, State.feedback_message, draft)
    return [ask_message(turn)]


def ask_message(turn: Turn) -> Reply:
    """Ask for the content: text, or a voice message."""
    return Reply(
        turn._(
            "Please write what happened or what you want to say, as concretely as you can "
            "(where, when, who). You can also send a voice message."
        ),
        buttons=(FLOW.cancel_row(turn),),
    )


async def on_message(turn: Turn) -> list[Reply]:
    """The content, as text or a voice message; photos and a location sent meanwhile are kept."""
    before = drafts.draft(turn)
    draft, notes = await FLOW.kept(turn, {key: value for key, value in before.items() if key != "body"})
    if turn.text:
        draft["body"] = turn.text[:MAX_BODY]
    if "body" not in draft:
        return FLOW.body_again(turn, before, draft, [*(Reply(note) for note in notes), ask_message(turn)])
    if draft.get("kind") == TicketKind.question and not draft.get("photos") and not turn.data.get("editing"):
        return [*(Reply(note) for note in notes), *_ask_area(turn, draft)]  # a question needs no photos or place
    return FLOW.after_body(turn, draft, notes)


async def on_photos_done(turn: Turn) -> list[Reply]:
    """Photos done: ask for a location, unless one was already shared."""
    draft = drafts.draft(turn)
    if draft.get("location"):
        return _ask_area(turn, draft)
    drafts.goto(turn, State.feedback_location, draft)
    return [
        Reply(
            turn._(
                "If it helps, share the location (📎 → Location), or write the place in a few words. Otherwise press "
                "“Skip”."
            ),
            buttons=_location_rows(turn),
        )
    ]


def _location_rows(turn: Turn) -> drafts.Rows:
    """ "Skip" and "Cancel" under the question about the place."""
    return (Button(turn._("Skip"), FeedbackNoLocation().pack(), SKIP | NO | DONE),), FLOW.cancel_row(turn)


async def on_location(turn: Turn) -> list[Reply]:
    """A shared location, the place written in words, a photo, or a press of "Skip"."""
    draft, notes = await FLOW.kept(turn, drafts.draft(turn))
    if turn.text and not turn.incoming.action:
        draft = drafts.add_text(draft, turn._("Place: {place}", place=turn.text))
    elif turn.incoming.location is None and not turn.incoming.action:
        drafts.goto(turn, State.feedback_location, draft)
        return [
            *(Reply(note) for note in notes),
            Reply(turn._("Please share a location, or press “Skip”."), buttons=_location_rows(turn)),
        ]
    return _ask_area(turn, draft)


def _ask_area(turn: Turn, draft: dict) -> list[Reply]:
    """The commune step, starting from the citizen's own commune."""
    return FLOW.ask_area(turn, {**draft, "area": draft.get("area") or turn.citizen.area_code})


def _ask_identity(turn: Turn, draft: dict) -> list[Reply]:
    """Ask whether the staff may see the sender's name."""
    drafts.goto(turn, State.feedback_identity, draft)
    return [
        Reply(
            turn._(
                "Should the commune staff see your name? If you choose anonymous, only provincial "
                "administrators can see who sent it."
            ),
            buttons=FLOW.identity_rows(turn),
        )
    ]


async def on_identity(turn: Turn) -> list[Reply]:
    """Named or anonymous: show the summary; named with no name known: ask it first."""
    choice = turn.pressed_as(FeedbackIdentity).choice
    # An anonymous report still records who sent it: only provincial administrators may see it,
    # and each such view is audit-logged.
    name = (turn.incoming.display_name or turn.citizen.display_name or "")[:200] or None
    draft = {**drafts.draft(turn), "anonymous": choice == "anonymous", "name": name}
    if choice == "named" and name is None:
        return FLOW.ask_name(turn, draft)
    return _confirm(turn, draft)


async def on_identity_text(turn: Turn) -> list[Reply]:
    """A name typed at the "show my name?" step: the report is sent with it."""
    if _looks_like_name(turn.text):
        return FLOW.named(turn)
    raise NotThisStep


async def on_name(turn: Turn) -> list[Reply]:
    """The name the staff should see."""
    return FLOW.named(turn) if _looks_like_name(turn.text) else [FLOW.name_again(turn)]


def _looks_like_name(text: str) -> bool:
    """A few words of letters: a person's name rather than a sentence."""
    parts = text.split()
    return 1 <= len(parts) <= 6 and all(part.replace(".", "").replace("'", "").isalpha() for part in parts)


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
    lines.append(drafts.sender_line(turn, draft))
    return FLOW.summary(turn, lines)


async def on_confirm_text(turn: Turn) -> list[Reply]:
    """More text at the summary: added to the report, then the summary again."""
    draft = drafts.add_text(drafts.draft(turn), turn.text)
    return [Reply(turn._("I have added this to your report.")), *_confirm(turn, draft)]


async def on_submit(turn: Turn) -> list[Reply]:
    """Create the ticket. The engine commits before this confirmation is sent."""
    draft = drafts.draft(turn)
    if "kind" not in draft or "body" not in draft:
        raise StaleAction
    if not await turn.address_allows(address_limits.REPORT, turn.services.address_limits.reports):
        return [Reply(turn._(ADDRESS_BUSY)), *_confirm(turn, draft)]  # the draft stays, to send later
    policy = turn.services.tickets
    due = add_working_days(
        turn.now, policy.due_days.get(draft["kind"], 10), tz=turn.services.tz, holidays=policy.holidays
    )
    files = [("photo", p["path"], p["mime"], p["size"]) for p in draft.get("photos", [])]
    if draft.get("voice"):
        voice = draft["voice"]
        files.append(("voice", voice["path"], voice["mime"], voice["size"]))
    location = draft.get("location") or [None, None]
    ticket = await ticket_repo.create_ticket(
        turn.session,
        citizen_id=turn.citizen.id,
        kind=draft["kind"],
        topic=draft.get("topic", ""),
        body=draft["body"],
        area_code=draft.get("area"),
        anonymous=bool(draft.get("anonymous")),
        reporter_name=draft.get("name"),
        locale=turn.locale,
        latitude=location[0],
        longitude=location[1],
        attachments=files,
        now=turn.now,
        due_at=due,
    )
    turn.reset()
    return [
        main_menu(
            turn,
            turn._(
                "Thank you, your report has been received.\nTracking code: {code}\nExpected answer by: {due}\n"
                "To check it, send /tracuu {code}. You will get a message here when staff answer.",
                code=ticket.code,
                due=turn.translator.format_date(due),
            ),
        )
    ]


async def on_cancel(turn: Turn) -> list[Reply]:
    """Drop the draft."""
    turn.reset()
    return [main_menu(turn, turn._("OK, the report was not sent. Nothing was saved."))]


FLOW = drafts.Flow(
    steps=drafts.Steps(State.feedback_message, State.feedback_photos, State.feedback_area, State.feedback_name),
    ask_body=ask_message,
    after_area=_ask_identity,
    confirm=_confirm,
    cancel=FeedbackCancel(),
    photos_done=FeedbackPhotosDone(),
    area_choice=FeedbackArea,
    identity_choice=FeedbackIdentity,
    submit=FeedbackSubmit(),
    edit_body=FeedbackEdit("message"),
    edit_area=FeedbackEdit("area"),
    edit_body_label=N_("✏️ Edit the content"),
    area_question=N_("Is this about {commune}?"),
    commune_question=N_("Which commune or ward is this about? Type its name (for example: Ea Kao)."),
    photo_invite=N_("If you have photos, send them now (up to 5). Otherwise press “Skip”."),
    text_added=N_("I have added this to your report."),
    max_photos=MAX_PHOTOS,
    too_many_photos=N_("A report takes at most {count} photos; this one was not added."),
    voice_kept=N_("I have kept your voice message for the report."),
    photos_kept=N_("I have kept {count} photo(s) for the report."),
    location_kept=N_("I have kept the location for the report."),
)
FLOW_STATES = flow_states("feedback")

ROUTES = Routes(
    commands={"phananh": start, "feedback": start},
    actions={
        Menu("feedback"): Action(start),
        FeedbackStory: Action(from_story),
        FeedbackKind: Action(on_kind, FLOW_STATES),
        FeedbackTopic: Action(on_topic, FLOW_STATES),
        FeedbackPhotosDone: Action(on_photos_done, FLOW_STATES),
        FeedbackNoLocation: Action(on_location, FLOW_STATES),
        FeedbackArea: Action(FLOW.on_area, FLOW_STATES),
        FeedbackIdentity: Action(on_identity, FLOW_STATES),
        FeedbackEdit: Action(FLOW.on_edit, FLOW_STATES),
        FeedbackSubmit: Action(on_submit, FLOW_STATES),
        FeedbackCancel: Action(on_cancel, FLOW_STATES),
    },
    text={
        State.feedback_kind: on_kind_text,
        State.feedback_topic: on_topic_text,
        State.feedback_message: on_message,
        State.feedback_photos: FLOW.on_photo,
        State.feedback_location: on_location,
        State.feedback_area: FLOW.on_area_text,
        State.feedback_identity: on_identity_text,
        State.feedback_name: on_name,
        State.feedback_confirm: on_confirm_text,
    },
    media={
        **dict.fromkeys(FLOW_STATES, FLOW.keep_media),  # kept for the report, then the step is asked again
        State.feedback_message: on_message,
        State.feedback_photos: FLOW.on_photo,
        State.feedback_location: on_location,
    },
)
