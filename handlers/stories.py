"""Stories of households that escaped poverty: a list, then one story."""

from __future__ import annotations

from handlers.router import Action, Routes
from handlers.turn import StaleAction, Turn
from handlers.types import Button, Reply

LABEL_LIMIT = 60


async def list_stories(turn: Turn) -> list[Reply]:
    """The published stories."""
    turn.reset()
    stories = turn.services.library.stories()
    if not stories:
        return [Reply(turn._("There are no stories yet. Please check again soon."))]
    return [
        Reply(
            turn._("Stories of households that escaped poverty. Choose one to read:"),
            buttons=tuple((Button(item.text(turn.locale).title[:LABEL_LIMIT], f"story:{item.id}"),) for item in stories),
        )
    ]


async def show_story(turn: Turn) -> list[Reply]:
    """One story with its lesson."""
    item = turn.services.library.story(turn.args[0]) if turn.args else None
    if item is None:
        raise StaleAction
    text = item.text(turn.locale)
    parts = [f"📖 {text.title}", text.body, f"💡 {text.lesson}"]
    place = turn.services.areas.get(item.commune) if item.commune else None
    if place is not None:
        parts.insert(1, f"📍 {place.label}")
    if item.illustrative:
        parts.append(turn._("(An illustrative example, not a real family.)"))
    return [
        Reply(
            "\n\n".join(parts),
            buttons=((Button(turn._("📖 Other stories"), "menu:stories"),), (Button(turn._("‹ Main menu"), "menu:home"),)),
            image=item.image,
        )
    ]


ROUTES = Routes(
    commands={"chuyen": list_stories, "stories": list_stories},
    actions={"menu:stories": Action(list_stories), "story": Action(show_story)},
)
