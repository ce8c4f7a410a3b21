"""Text fallbacks for channels that cannot show everything (buttons, long texts)."""

from __future__ import annotations

import re
from typing import Any

from handlers.types import Button, Reply

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")


def number_choices(reply: Reply, hint: str, first: int = 1) -> Reply:
    """Render buttons as a numbered list under the text ("1. …", from `first`) and a hint under it;
    the numbers work as the buttons."""
    buttons = reply.all_buttons()
    if not buttons:
        return reply
    lines = [f"{number}. {button.label}" for number, button in enumerate(buttons, start=first)]
    return Reply(text=f"{reply.text}\n\n" + "\n".join(lines) + f"\n\n({hint})", image=reply.image)


def split_text(text: str, limit: int) -> list[str]:
    """Split a text into parts of at most `limit` characters, at paragraph or sentence ends when possible."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = max((m.end() for m in _SENTENCE_END.finditer(window) if m.start() <= limit), default=0)
        if cut < limit // 2:
            space = window.rfind(" ")
            cut = space + 1 if space > limit // 2 else limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def reply_payload(reply: Reply) -> dict[str, Any]:
    """A reply as an outbox payload (what `payload_replies` reads back)."""
    payload: dict[str, Any] = {"text": reply.text}
    if reply.buttons:
        payload["buttons"] = [[{"label": b.label, "action": b.action} for b in row] for row in reply.buttons]
    if reply.image:
        payload["image"] = reply.image
    return payload


def payload_replies(payload: dict) -> list[Reply]:
    """The replies a stored payload describes."""
    buttons = tuple(tuple(Button(str(b["label"]), str(b["action"])) for b in row) for row in payload.get("buttons", []))
    return [Reply(str(payload.get("text", "")), buttons=buttons, image=payload.get("image"))]
