"""The bot's features, composed in one visible order."""

from __future__ import annotations

from handlers import (
    chat,
    dialogues,
    faq,
    feedback,
    menu,
    nominate,
    notices,
    officer,
    onboarding,
    polls,
    privacy,
    quiz,
    selfcheck,
    settings,
    stories,
    subscription,
    tracking,
)
from handlers.router import Fallbacks, Router

FEATURES = (
    menu.ROUTES,
    onboarding.ROUTES,
    settings.ROUTES,
    subscription.ROUTES,
    privacy.ROUTES,
    faq.ROUTES,
    stories.ROUTES,
    quiz.ROUTES,
    feedback.ROUTES,
    tracking.ROUTES,
    officer.ROUTES,
    notices.ROUTES,
    polls.ROUTES,
    dialogues.ROUTES,
    selfcheck.ROUTES,
    nominate.ROUTES,
)


def build_router() -> Router:
    """The router with every feature and the fallbacks for what none of them claims."""
    return Router(
        FEATURES,
        Fallbacks(
            question=chat.message,
            unknown_command=menu.unknown_command,
            stale=menu.stale,
            media=chat.media_first,
            in_flow=chat.in_flow,
            in_flow_media=chat.in_flow_media,
            cancel=chat.cancel_word,
        ),
    )
