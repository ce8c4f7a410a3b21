"""The single entry point for free-text questions outside a flow."""

from __future__ import annotations

from handlers.router import Action, Routes
from handlers.turn import Turn
from handlers.types import Reply


async def ask(turn: Turn) -> list[Reply]:
    """Answer a typed question. No policy answers are loaded yet, so say so honestly."""
    return [
        Reply(
            turn._(
                "Sorry, I do not have an answer to that yet. Policy answers are being prepared; "
                "please ask again later or contact your commune office."
            )
        )
    ]


async def prompt(turn: Turn) -> list[Reply]:
    """The "Policy Q&A" button: invite a typed question."""
    turn.reset()
    return [Reply(turn._("Please type your question, for example: “what is the poverty line?”"))]


ROUTES = Routes(actions={"menu:faq": Action(prompt)})
