"""Drivers that let one conversation script run on every channel (Telegram, web chat, Zalo Bot API,
Zalo Official Account)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Protocol

import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient
from sqlmodel import select

from bot.config import Settings
from handlers.router import CHOICES_KEY
from storage.db import SessionFactory
from storage.models import Citizen, Conversation
from tests.fakes.loopback import LoopbackServer
from tests.fakes.telegram import FakeTelegram, Sent, buttons
from tests.fakes.zalo_bot import FakeZaloBot
from tests.fakes.zalo_oa import FakeZaloOA

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
    async def press(self, label_part: str) -> list[Shown]: ...


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


async def photo_in_feedback(driver, photo: bytes) -> list[Shown]:  # type: ignore[no-untyped-def]
    """Start feedback about Cầu Nối itself, type it, and send `photo` at the photo step."""
    await driver.send("/phananh")
    await driver.press("Góp ý")
    await driver.press("Sử dụng Cầu Nối")
    await driver.send("Đường vào thôn bị sạt lở.")
    return await driver.send_photo(photo)


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
        await _settled(self.tg.sent)
        self.last = [_shown(s) for s in self.tg.sent[start:] if mine(s)]
        return self.last


async def _settled(sent: list) -> None:
    """Return once a fake has recorded no new call for QUIET seconds (the bot's answer is complete)."""
    count = -1
    while count != len(sent):
        count = len(sent)
        await asyncio.sleep(QUIET)


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

    async def send_photo(self, data: bytes, caption: str | None = None) -> list[Shown]:
        """Choose a photo in the page's picker (a multipart upload, as the page's script sends it)."""
        form = FormData()
        form.add_field("photo", data, filename="photo.jpg", content_type="image/jpeg")
        return await self._post(form, {"X-Requested-With": "fetch"})

    async def _post(self, body: dict | FormData, headers: dict[str, str] | None = None) -> list[Shown]:
        if isinstance(body, FormData):
            response = await self.client.post("/chat/api/messages", data=body, headers={"Accept-Language": "vi", **(headers or {})})
        else:
            response = await self.client.post("/chat/api/messages", json=body, headers={"Accept-Language": "vi"})
        assert response.status == 200, await response.text()
        data = await response.json()
        self.last = [
            Shown(r["text"], [(b["label"], b["action"]) for row in r["buttons"] for b in row], r) for r in data["replies"]
        ]
        return self.last


NUMBERED = re.compile(r"^(\d+)\. (.+)$")


def zalo_bot_settings(settings: Settings, zalo: FakeZaloBot, **extra: object) -> Settings:
    """Settings pointing the bot at the fake Zalo Bot API server."""
    return settings.model_copy(update={"zalo_bot_token": zalo.token, "zalo_bot_base_url": zalo.base_url, **extra})


def numbered_buttons(text: str) -> list[tuple[str, str]]:
    """The choices of a text ending in a numbered list and a hint in parentheses, as (label, number)."""
    blocks = text.split("\n\n")
    if len(blocks) < 3 or not (blocks[-1].startswith("(") and blocks[-1].endswith(")")):
        return []
    matches = [NUMBERED.match(line) for line in blocks[-2].splitlines()]
    if not matches or not all(matches):
        return []
    return [(match.group(2), match.group(1)) for match in matches if match]


def _closing(app: web.Application, fake: LoopbackServer) -> web.Application:
    """`app`, set to close `fake` when it stops."""

    async def close_fake(_app: web.Application) -> None:
        await fake.close()

    app.on_cleanup.append(close_fake)
    return app


@dataclass
class _NumberedChoices:
    """What the Zalo drivers share: buttons are numbered lists, pressed by typing a number."""

    last: list[Shown] = field(default_factory=list, kw_only=True)  # a test may set it to older replies
    _latest: list[Shown] | None = field(default=None, repr=False, kw_only=True)  # the replies just received

    async def send(self, text: str) -> list[Shown]:
        raise NotImplementedError

    async def press(self, label_part: str) -> list[Shown]:
        """Type the number of the choice whose label contains `label_part`."""
        if self.last is not self._latest:
            pytest.skip("on Zalo a number always means a choice of the latest list; old lists cannot be pressed")
        message, _action = find_button(self.last, label_part)
        number = next(number for label, number in numbered_buttons(message.text) if label_part in label)
        return await self.send(number)


@dataclass
class ZaloBotDriver(_NumberedChoices):
    """A Zalo user talking through the fake Zalo Bot API server. Buttons are numbered lists; each
    shown button's action is read from the choices the bot stored, so scripts can check it."""

    zalo: FakeZaloBot
    sessions: SessionFactory
    user_id: str = "zalo-user-4242"

    @classmethod
    async def start(cls, settings: Settings, aiohttp_client) -> ZaloBotDriver:  # type: ignore[no-untyped-def]
        """A fake Zalo server and the whole app polling it (the fake closes with the app)."""
        from bot import keys
        from bot.app import create_app

        zalo = FakeZaloBot(max_poll_wait=0.3)
        await zalo.start()
        app = _closing(create_app(zalo_bot_settings(settings, zalo)), zalo)
        await aiohttp_client(app)
        return cls(zalo, app[keys.SESSIONS])

    async def send(self, text: str) -> list[Shown]:
        """Type a message."""
        return await self._exchange(lambda: self.zalo.user_sends(self.user_id, text))

    async def send_photo(self, data: bytes, caption: str | None = None) -> list[Shown]:
        """Send a photo."""
        return await self._exchange(lambda: self.zalo.user_sends_photo(self.user_id, data, caption))

    async def act(self, action: str) -> list[Shown]:
        """Zalo users cannot send button data."""
        pytest.skip("the Zalo Bot API has no buttons: there is no button data to send")

    async def _exchange(self, act) -> list[Shown]:  # type: ignore[no-untyped-def]
        start = self.zalo.mark()
        act()
        await self.zalo.wait_for(lambda s: s.method in ("sendMessage", "sendPhoto") and s.chat_id == self.user_id,
                                 timeout=10, start=start)
        await _settled(self.zalo.sent)
        mine = [s for s in self.zalo.sent[start:] if s.method in ("sendMessage", "sendPhoto") and s.chat_id == self.user_id]
        choices = await stored_choices(self.sessions, "zalo_bot", self.user_id)
        self.last = self._latest = [plain_shown(sent.text or "", choices, sent) for sent in mine]
        return self.last


async def stored_choices(sessions: SessionFactory, channel: str, user_id: str) -> list[tuple[str, str]]:
    """The (label, action) choices the bot remembers offering a user of a channel without buttons."""
    async with sessions() as session:
        citizen = (await session.exec(
            select(Citizen).where(Citizen.channel == channel, Citizen.channel_user_id == user_id)
        )).first()
        conversation = await session.get(Conversation, citizen.id) if citizen is not None else None
    stored = (conversation.data or {}).get(CHOICES_KEY, []) if conversation is not None else []
    return [(label, action) for label, action, *_keys in stored]


def plain_shown(text: str, choices: list[tuple[str, str]], raw: object) -> Shown:
    """A message of a channel without buttons; its numbered choices get the actions stored for them."""
    numbered = numbered_buttons(text)
    labels = [label for label, _n in numbered]
    actions = [action for _l, action in choices] if labels == [label for label, _a in choices] else []
    buttons = [(label, actions[i] if actions else f"#{number}") for i, (label, number) in enumerate(numbered)]
    return Shown(text, buttons, raw)


@dataclass
class ZaloOADriver(_NumberedChoices):
    """A Zalo user writing to the Official Account: each message is a signed webhook event, answered
    as soon as it is stored; the driver then waits until the bot has handled it and collects the replies."""

    zalo: FakeZaloOA
    client: TestClient
    sessions: SessionFactory
    user_id: str = "8461920375521"

    @classmethod
    async def start(cls, settings: Settings, aiohttp_client, **extra: object) -> ZaloOADriver:  # type: ignore[no-untyped-def]
        """A fake Zalo OA platform and the whole app using it (the fake closes with the app)."""
        from bot import keys
        from bot.app import create_app

        zalo = FakeZaloOA()
        await zalo.start()
        app = _closing(create_app(settings.model_copy(update=zalo.settings(**extra))), zalo)
        client = await aiohttp_client(app)
        return cls(zalo, client, app[keys.SESSIONS])

    async def send(self, text: str) -> list[Shown]:
        """Type a message."""
        return await self.event(self.zalo.text_event(self.user_id, text))

    async def send_photo(self, data: bytes, caption: str | None = None) -> list[Shown]:
        """Send a photo."""
        return await self.event(self.zalo.image_event(self.user_id, data, caption))

    async def send_location(self, latitude: float, longitude: float) -> list[Shown]:
        """Share a location."""
        return await self.event(self.zalo.location_event(self.user_id, latitude, longitude))

    async def send_voice(self, data: bytes) -> list[Shown]:
        """Send a voice message."""
        return await self.event(self.zalo.audio_event(self.user_id, data))

    async def act(self, action: str) -> list[Shown]:
        """Zalo users cannot send button data."""
        pytest.skip("Zalo Official Account messages carry no button data")

    async def event(self, event: dict) -> list[Shown]:
        """Post a signed event and collect what the bot answered to it."""
        from bot import keys

        start = self.zalo.mark()
        status = await self.zalo.post(self.client, event)
        assert status == 200, status
        await self.client.app[keys.CHANNELS]["zalo_oa"].inbox.idle()
        mine = [sent for sent in self.zalo.sent[start:] if sent.user_id == self.user_id]
        choices = await stored_choices(self.sessions, "zalo_oa", self.user_id)
        self.last = self._latest = [plain_shown(sent.text or "", choices, sent) for sent in mine]
        return self.last
