"""Deleting a citizen's data (/xoadulieu, /deletemydata), after confirmation."""

from __future__ import annotations

from handlers.actions import PrivacyAnswer, PrivacyAsk
from handlers.menu import main_menu
from handlers.router import Action, Routes
from handlers.states import State
from handlers.turn import Turn
from handlers.types import Button, Reply
from handlers.words import NO, YES
from storage import nominations as nomination_repo
from storage import tickets as ticket_repo
from storage.core import id_of


async def ask_delete(turn: Turn) -> list[Reply]:
    """Say what will be deleted and ask to confirm."""
    turn.goto(State.confirm_delete)
    return [
        Reply(
            turn._(
                "Delete your data? This removes your display name, commune, household status, language, "
                "notice subscription, consent record and any unfinished conversation. It cannot be undone."
            ),
            buttons=(
                (
                    Button(
                        turn._("🗑 Yes, delete"),
                        PrivacyAnswer("yes").pack(),
                        YES | frozenset({"xoa", "xoa di", "xoa het"}),
                    ),
                ),
                (
                    Button(
                        turn._("No, keep it"),
                        PrivacyAnswer("no").pack(),
                        NO | frozenset({"giu", "giu lai", "khong xoa"}),
                    ),
                ),
            ),
        )
    ]


async def on_confirm(turn: Turn) -> list[Reply]:
    """Delete on "yes" and list what was deleted; keep everything on "no"."""
    if turn.pressed_as(PrivacyAnswer).answer == "no":
        turn.reset()
        return [main_menu(turn, turn._("OK, nothing was deleted."))]
    citizen = turn.citizen
    held = [
        (citizen.display_name, turn._("display name")),
        (citizen.area_code, turn._("commune")),
        (citizen.household_status != "unknown", turn._("household status")),
        (citizen.locale, turn._("language")),
        (citizen.subscribed, turn._("notice subscription")),
        (citizen.consent_at, turn._("consent record")),
    ]
    deleted = [label for value, label in held if value]
    deleted.append(turn._("the link to your chat account"))
    kept = await ticket_repo.forget_citizen(turn.session, id_of(citizen))
    kept += await nomination_repo.forget_citizen(turn.session, id_of(citizen))
    turn.delete_citizen = True
    text = turn._(
        "Your data has been deleted: {items}. You can still ask questions at any time.", items=", ".join(deleted)
    )
    if kept:
        text += "\n" + turn._(
            "The reports you sent stay with the authorities so that they can be handled, but without your name "
            "and no longer linked to you."
        )
    return [Reply(text)]


ROUTES = Routes(
    commands={"xoadulieu": ask_delete, "deletemydata": ask_delete},
    actions={
        PrivacyAsk: Action(ask_delete),
        PrivacyAnswer: Action(on_confirm, frozenset({State.confirm_delete})),
    },
)
