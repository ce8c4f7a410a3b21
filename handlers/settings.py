"""Settings (/caidat, /settings): see and change language, commune, household status and consent."""

from __future__ import annotations

from handlers.actions import Menu, Setting
from handlers.onboarding import STEP_ASKERS, ask_consent
from handlers.profile import settings_menu
from handlers.router import Action, Routes
from handlers.states import Mode, State
from handlers.turn import StaleAction, Turn
from handlers.types import Reply

NEEDS_CONSENT = {"area", "household"}


async def show(turn: Turn) -> list[Reply]:
    """Show the current settings with a button per change."""
    turn.reset()
    return [settings_menu(turn)]


async def change(turn: Turn) -> list[Reply]:
    """Start the step that changes one setting; personal fields ask for consent first."""
    what = turn.pressed_as(Setting).what
    if what == "consent" or (what in NEEDS_CONSENT and not turn.consented):
        turn.goto(State.consent, mode=Mode.settings, then=what)
        return [ask_consent(turn)]
    if what not in STEP_ASKERS:
        raise StaleAction
    state, asker = STEP_ASKERS[what]
    turn.goto(state, mode=Mode.settings)
    return [asker(turn)]


ROUTES = Routes(
    commands={"caidat": show, "settings": show},
    actions={Menu("settings"): Action(show), Setting: Action(change)},
)
