"""Steps the report-like flows (feedback, nominations) share: the draft kept in the conversation,
the commune, name or anonymous, and the summary's buttons. Each flow passes its own button actions."""

from __future__ import annotations

from collections.abc import Sequence

from content.areas import CommuneMatch
from handlers.actions import AreaChoice, IdentityChoice, Payload
from handlers.profile import area_label
from handlers.states import State
from handlers.turn import StaleAction, Turn
from handlers.types import Button, Reply
from handlers.words import ANONYMOUS, CANCEL, DONE, NAMED, NO, SEND, YES

Rows = tuple[tuple[Button, ...], ...]


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
