"""Stories of households that escaped poverty: a list, then one story.

Shipped stories are invented examples (`illustrative`). Wherever one is shown, a label saying so
comes first, before any title, so that no citizen takes it for a real family's story.
"""

from __future__ import annotations

from collections.abc import Sequence

from content.model import Story
from handlers.actions import Menu, StoryShow
from handlers.router import Action, Routes
from handlers.turn import StaleAction, Turn
from handlers.types import Button, Reply

LABEL_LIMIT = 60


def story_label(turn: Turn, item: Story) -> str | None:
    """The line that opens an illustrative story, or a real story's consent line (None when it has none)."""
    if not item.illustrative:
        consent = item.consent_given()
        if consent is None:
            return None
        return turn._(
            "✅ Real story, told with the consent of {who}, given on {date}.",
            who=consent[1],
            date=turn.translator.format_day(consent[0]),
        )
    return turn._("Illustrative example: written to show how the support works, not a real family.")


def list_label(turn: Turn, stories: Sequence[Story]) -> str | None:
    """The line that opens the list: all, some (marked on their buttons) or none of the stories are invented."""
    if all(item.illustrative for item in stories):
        return turn._(
            "Illustrative examples: these stories were written to show how the support works; "
            "they are not real families."
        )
    if any(item.illustrative for item in stories):
        return turn._(
            "Stories marked “(Example)” were written to show how the support works; they are not real families."
        )
    return None


def _button(turn: Turn, item: Story, mark: bool) -> Button:
    title = item.text(turn.locale).title
    label = turn._("(Example) {title}", title=title) if mark and item.illustrative else title
    return Button(label[:LABEL_LIMIT], StoryShow(item.id).pack())


async def list_stories(turn: Turn) -> list[Reply]:
    """The published stories, under a label when any of them is invented."""
    turn.reset()
    stories = turn.services.library.stories()
    if not stories:
        return [Reply(turn._("There are no stories yet. Please check again soon."))]
    label = list_label(turn, stories)
    mark = not all(item.illustrative for item in stories)
    heading = turn._("Stories of households that escaped poverty. Choose one to read:")
    return [
        Reply(
            "\n\n".join(part for part in (label, heading) if part),
            buttons=tuple((_button(turn, item, mark),) for item in stories),
        )
    ]


async def show_story(turn: Turn) -> list[Reply]:
    """One story with its lesson; an invented one opens with its label."""
    item = turn.services.library.story(turn.pressed_as(StoryShow).story_id)
    if item is None:
        raise StaleAction
    text = item.text(turn.locale)
    place = turn.services.areas.get(item.commune) if item.commune else None
    parts = [
        story_label(turn, item),
        f"📖 {text.title}",
        f"📍 {place.label}" if place else None,
        text.body,
        f"💡 {text.lesson}" if text.lesson else None,
    ]
    return [
        Reply(
            "\n\n".join(part for part in parts if part),
            buttons=(
                (Button(turn._("📖 Other stories"), Menu("stories").pack()),),
                (Button(turn._("‹ Main menu"), Menu("home").pack()),),
            ),
            image=item.image,
        )
    ]


ROUTES = Routes(
    commands={"chuyen": list_stories, "stories": list_stories},
    actions={Menu("stories"): Action(list_stories), StoryShow: Action(show_story)},
)
