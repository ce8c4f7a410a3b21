"""Drivers that let one conversation script run on every channel (Telegram, web chat)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp.test_utils import TestClient

from tests.fakes.telegram import FakeTelegram, Sent, buttons

QUIET = 0.25


@dataclass(frozen=True)
class Shown:
    """A message as the citizen sees it: its text and its (label, action) buttons."""

    text: str
    buttons: list[tuple[str, str]]
    raw: object = None


class Driver(Protocol):
    """A citizen on some channel."""

    last: list[Shown]

    async def send(self, text: str) -> list[Shown]: ...
    async def act(self, action: str) -> list[Shown]: ...


def find_button(shown: list[Shown], label_part: str) -> tuple[Shown, str]:
    """The message and action of the last button whose label contains `label_part`."""
    for message in reversed(shown):
        for label, action in message.buttons:
            if label_part in label:
                return message, action
    labels = [label for message in shown for label, _ in message.buttons]
    raise AssertionError(f"no button with {label_part!r}; buttons shown: {labels}")


def joined(shown: list[Shown]) -> str:
    """All texts, joined by newlines."""
    return "\n".join(message.text for message in shown)


@dataclass
class TelegramDriver:
    """A Telegram user talking through the fake Bot API server."""

    tg: FakeTelegram
    user_id: int = 4242
    language_code: str = "vi"
    last: list[Shown] = field(default_factory=list)

    async def send(self, text: str) -> list[Shown]:
        """Type a message and collect the replies."""
        return await self._exchange(lambda: self.tg.user_sends(self.user_id, text, language_code=self.language_code))

    async def act(self, action: str) -> list[Shown]:
        """Press a button by its callback data (any data, even one never offered)."""
        return await self._exchange(lambda: self.tg.user_presses(self.user_id, action, check_button=False))

    async def send_photo(self, data: bytes, caption: str | None = None) -> list[Shown]:
        """Send a photo."""
        return await self._exchange(lambda: self.tg.user_sends_photo(self.user_id, data, caption))

    async def send_location(self, latitude: float, longitude: float) -> list[Shown]:
        """Share a location."""
        return await self._exchange(lambda: self.tg.user_sends_location(self.user_id, latitude, longitude))

    async def send_voice(self, data: bytes) -> list[Shown]:
        """Send a voice message."""
        return await self._exchange(lambda: self.tg.user_sends_voice(self.user_id, data))

    async def press(self, label_part: str) -> list[Shown]:
        """Press the button whose label contains `label_part`, on the message that shows it."""
        message, action = find_button(self.last, label_part)
        raw = message.raw
        return await self._exchange(
            lambda: self.tg.user_presses(self.user_id, action, message=raw)  # type: ignore[arg-type]
        )

    async def _exchange(self, act) -> list[Shown]:  # type: ignore[no-untyped-def]
        start = self.tg.mark()
        act()
        mine = lambda s: s.method in ("sendMessage", "sendPhoto") and str(s.chat_id) == str(self.user_id)  # noqa: E731
        await self.tg.wait_for(mine, timeout=10, start=start)
        count = -1
        while count != len(self.tg.sent):
            count = len(self.tg.sent)
            await asyncio.sleep(QUIET)
        self.last = [_shown(s) for s in self.tg.sent[start:] if mine(s)]
        return self.last


def _shown(sent: Sent) -> Shown:
    message = sent.result if isinstance(sent.result, dict) else None
    return Shown(sent.text or "", buttons(sent), message)


@dataclass
class WebChatDriver:
    """A visitor of the web chat page (the client keeps the identity cookie)."""

    client: TestClient
    last: list[Shown] = field(default_factory=list)

    async def send(self, text: str) -> list[Shown]:
        """Type a message."""
        return await self._post({"text": text})

    async def act(self, action: str) -> list[Shown]:
        """Press a button by its action."""
        return await self._post({"action": action})

    async def press(self, label_part: str) -> list[Shown]:
        """Press the button whose label contains `label_part`."""
        _message, action = find_button(self.last, label_part)
        return await self.act(action)

    async def _post(self, body: dict) -> list[Shown]:
        response = await self.client.post("/chat/api/messages", json=body, headers={"Accept-Language": "vi"})
        assert response.status == 200, await response.text()
        data = await response.json()
        self.last = [
            Shown(r["text"], [(b["label"], b["action"]) for row in r["buttons"] for b in row], r) for r in data["replies"]
        ]
        return self.last
