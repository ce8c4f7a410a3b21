"""Steps the report-like flows (feedback, nominations) share: the draft kept in the conversation,
the commune, name or anonymous, and the summary's buttons. Each flow passes its own button actions."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from content.areas import CommuneMatch
from handlers.actions import AreaChoice, IdentityChoice, Payload
from handlers.profile import area_label
from handlers.router import ask_again
from handlers.states import State
from handlers.turn import NotThisStep, StaleAction, Turn
from handlers.types import Attachment, Button, Reply
from handlers.words import ANONYMOUS, CANCEL, DONE, NAMED, NO, SEND, SKIP, YES

Rows = tuple[tuple[Button, ...], ...]
MAX_BODY = 4000  # characters of a draft's text
CLOSE_NAME = 90  # a typed commune name this close to a real one is offered as "did you mean"


def draft(turn: Turn) -> dict:
    """The draft being written, or a stale button when the flow has ended."""
    found = turn.data.get("draft")
    if not isinstance(found, dict):
        raise StaleAction
    return found


def goto(turn: Turn, state: State, new: dict) -> None:
    """Enter a step with the draft, still editing when the summary sent the citizen back."""
    turn.goto(state, draft=new, **({"editing": True} if turn.data.get("editing") else {}))


def cancel_row(turn: Turn, cancel: Payload) -> tuple[Button, ...]:
    """The "✖ Cancel" row."""
    return (Button(turn._("✖ Cancel"), cancel.pack(), CANCEL),)


def confirm_area_rows(turn: Turn, area: str, kind: type[AreaChoice], cancel: Payload) -> Rows:
    """ "✅ Yes, <commune>" / "Choose another commune" under the question about the known commune."""
    return (
        (Button(turn._("✅ Yes, {commune}", commune=area_label(turn, area)), kind(area).pack(), YES),),
        (Button(turn._("Choose another commune"), kind("other").pack(), NO | frozenset({"xa khac", "doi xa"})),),
        cancel_row(turn, cancel),
    )


def did_you_mean(turn: Turn, matches: Sequence[CommuneMatch], kind: type[AreaChoice], cancel: Payload) -> Reply:
    """The communes a typed name may mean, as buttons."""
    return Reply(
        turn._("Did you mean one of these?"),
        buttons=(
            *(
                (Button(m.area.label, kind(m.area.code).pack(), YES if len(matches) == 1 else frozenset()),)
                for m in matches
            ),
            cancel_row(turn, cancel),
        ),
    )


def not_found(turn: Turn, cancel: Payload) -> Reply:
    """No commune has the typed name."""
    return Reply(
        turn._("I could not find a commune called “{name}”. Please type the name again.", name=turn.text[:60]),
        buttons=(cancel_row(turn, cancel),),
    )


def typed_area(
    turn: Turn, state: State, kind: type[AreaChoice], cancel: Payload, chosen: Callable[[str], list[Reply]]
) -> list[Reply]:
    """A typed commune name: `chosen(code)` when it names one commune, else "did you mean" or "not
    found"; while a commune is being confirmed, words that name none are asked again."""
    found = draft(turn)
    matches = turn.services.areas.match_commune(turn.text, limit=5)
    if len(matches) == 1 and matches[0].score >= 100:
        return chosen(matches[0].area.code)
    if found.get("area") and not any(match.score >= CLOSE_NAME for match in matches):
        raise NotThisStep
    if not matches:
        return [not_found(turn, cancel)]
    goto(turn, state, found)
    return [did_you_mean(turn, matches, kind, cancel)]


def pressed_area(turn: Turn, kind: type[AreaChoice]) -> str | None:
    """The commune code a button chose, None for "another commune"; a stale button for anything else."""
    choice = turn.pressed_as(kind).choice
    if choice == "other":
        return None
    record = turn.services.areas.get(choice)
    if record is None or record.level != "commune":
        raise StaleAction
    return record.code


def identity_rows(turn: Turn, kind: type[IdentityChoice], cancel: Payload) -> Rows:
    """ "Show my name (…)" / "Send anonymously"."""
    name = turn.incoming.display_name or turn.citizen.display_name
    return (
        (
            Button(
                turn._("👤 Show my name ({name})", name=name) if name else turn._("👤 Show my name"),
                kind("named").pack(),
                NAMED | YES,
            ),
        ),
        (Button(turn._("🕶 Send anonymously"), kind("anonymous").pack(), ANONYMOUS | NO),),
        cancel_row(turn, cancel),
    )


def ask_name(turn: Turn, cancel: Payload) -> Reply:
    """Ask the name the staff should see."""
    return Reply(turn._("What name should the staff see? Please type it."), buttons=(cancel_row(turn, cancel),))


def name_again(turn: Turn, cancel: Payload) -> Reply:
    """The typed text is not a name."""
    return Reply(
        turn._("Please type just your name (for example: Nguyễn Văn A), or press “Cancel”."),
        buttons=(cancel_row(turn, cancel),),
    )


def summary_rows(turn: Turn, submit: Payload, edit_body: Button, edit_area: Payload, cancel: Payload) -> Rows:
    """Send / edit the text / change commune / cancel, under a summary."""
    return (
        (Button(turn._("📨 Send"), submit.pack(), SEND | YES | DONE),),
        (edit_body, Button(turn._("✏️ Change commune"), edit_area.pack(), frozenset({"doi xa", "xa khac", "sua xa"}))),
        cancel_row(turn, cancel),
    )


def ask_photos(turn: Turn, found: dict, invite: str, done: Payload, cancel: Payload) -> Reply:
    """Invite photos (with `invite` before the first), with a button to go on."""
    count = len(found.get("photos", []))
    text = turn._("Received {count} photo(s). Send more, or press “Done”.", count=count) if count else invite
    label = turn._("✅ Done") if count else turn._("Skip")
    return Reply(text, buttons=((Button(label, done.pack(), DONE | SKIP | NO),), cancel_row(turn, cancel)))


def add_text(found: dict, text: str) -> dict:
    """The draft with more typed text added to its message."""
    body = found.get("body", "")
    return {**found, "body": (f"{body}\n{text}" if body else text)[:MAX_BODY]}


def file_problem(turn: Turn, attachment: Attachment) -> str:
    """Why a file sent for a draft was not kept."""
    if attachment.problem == "too_large":
        return turn._("This file is too large. Please send a smaller photo (under 10 MB).")
    return turn._("I can only keep photos (JPEG, PNG) and voice messages. This file was not saved.")


def stored_file(attachment: Attachment, default_mime: str) -> dict:
    """A kept photo or voice message as the draft holds it."""
    return {"path": attachment.path, "mime": attachment.mime_type or default_mime, "size": attachment.size or 0}


def keep_and_ask_again(turn: Turn, kept: dict, notes: list[str]) -> list[Reply]:
    """Media sent at a step that asks something else: the draft keeps it, then the step is asked again."""
    turn.data["draft"] = kept
    return [ask_again(turn, "\n".join([*notes, turn._("Tap a choice or type its number:")]))]
