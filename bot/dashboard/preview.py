"""What the bot would send, composed by its own handlers for a dashboard preview."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot import keys
from bot.dashboard.web import now_of
from content.library import Library
from content.model import ContentBundle, Story
from handlers.actions import StoryShow
from handlers.stories import show_story
from handlers.turn import Services, Turn
from handlers.types import Incoming, Reply
from storage.models import Citizen


def preview_turn(request: web.Request, locale: str, services: Services | None = None, **more: Any) -> Turn:
    """A turn of nobody in this language, for composing replies that read no database."""
    services = services or request.app[keys.SERVICES]
    return Turn(
        incoming=Incoming(channel="preview", user_id="preview"),
        citizen=Citizen(channel="preview", channel_user_id="preview"),
        session=None,  # type: ignore[arg-type]  # a preview composes replies only, it reads no database
        services=services,
        translator=services.catalogs.get(locale),
        now=now_of(request),
        **more,
    )


def bubble(reply: Reply) -> dict[str, Any]:
    """A reply as the preview draws it: its text and its buttons' labels."""
    return {"text": reply.text, "buttons": [button.label for button in reply.all_buttons()]}


async def story_bubbles(request: web.Request, item: Story, locale: str) -> list[dict[str, Any]]:
    """The story in this language as the bot shows it (the story must be published to be shown)."""
    services: Services = request.app[keys.SERVICES]
    library = Library(ContentBundle(stories=(item,)))
    only_it = Services(areas=services.areas, catalogs=services.catalogs, library=library, tz=services.tz)
    turn = preview_turn(request, locale, only_it, pressed=StoryShow(item.id))
    return [bubble(reply) for reply in await show_story(turn)]
