"""Notices on and off (/dangky, /subscribe, /huydangky, /unsubscribe)."""

from __future__ import annotations

from handlers.actions import Menu
from handlers.menu import main_menu
from handlers.onboarding import ask_consent, continue_subscribe
from handlers.router import Action, Routes
from handlers.states import Mode, State
from handlers.turn import Turn
from handlers.types import Reply


async def subscribe(turn: Turn) -> list[Reply]:
    """Switch notices on; without consent, ask for it first."""
    if not turn.consented:
        turn.goto(State.consent, mode=Mode.subscribe)
        return [ask_consent(turn)]
    return await continue_subscribe(turn)


async def unsubscribe(turn: Turn) -> list[Reply]:
    """Switch notices off."""
    turn.citizen.subscribed = False
    turn.reset()
    return [
        main_menu(turn, turn._("Done: you will no longer receive notices. To receive them again, send /subscribe."))
    ]


ROUTES = Routes(
    commands={"dangky": subscribe, "subscribe": subscribe, "huydangky": unsubscribe, "unsubscribe": unsubscribe},
    actions={Menu("subscribe"): Action(subscribe), Menu("unsubscribe"): Action(unsubscribe)},
)
