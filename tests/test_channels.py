"""The channel seam: a channel that is one module's worth of code and one entry in the list of kinds
gets its webhook route, its start and stop, its outbox sender, its /healthz words and its secrets
masked, from the same app factory as the real ones; switched off, its route answers 404."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from bot import keys
from bot.app import create_app
from bot.channels import registry
from bot.channels.base import Kind, Parts, Route, SendLimits
from bot.logs import install_request_ids
from handlers.engine import utc_now
from handlers.types import Capabilities, Incoming, Reply
from storage import outbox

SECRET = "memo-gateway-secret-42"  # nosec B105  # a test value


class MemoChannel:
    """An in-memory push channel: a webhook that runs a turn, and a list of what it delivered."""

    name, capabilities, webhook = "memo", Capabilities(buttons=False, max_text=160, images=False), True

    def __init__(self, parts: Parts) -> None:
        self.parts, self.send_limits = parts, SendLimits(rate=50)
        self.events: list[str] = []
        self.delivered: list[tuple[str, str]] = []

    async def start(self, *, receive: bool = True) -> None:
        """Remember it started."""
        self.events.append(f"start receive={receive}")

    async def stop(self) -> None:
        """Remember it stopped."""
        self.events.append("stop")

    def health(self) -> dict[str, str]:
        """Say so in /healthz."""
        return {"memo": "up"}

    async def handle_webhook(self, request: web.Request) -> web.Response:
        """POST /webhook/memo {"user", "text"}: one turn; the replies' texts."""
        body = await request.json()
        incoming = Incoming(channel=self.name, user_id=body["user"], text=body["text"])
        replies = await self.parts.engine.handle(incoming, self.capabilities)
        return web.json_response([reply.text for reply in replies])

    async def deliver(self, chat_id: str, replies: list[Reply]) -> None:
        """Keep what the outbox sender hands over."""
        self.delivered += [(chat_id, reply.text) for reply in replies]


def memo_kind(on: bool) -> Kind:
    """The memo channel's kind, switched on or off."""
    return Kind("memo", MemoChannel, enabled=lambda settings: on, secrets=lambda settings: (SECRET,),
                routes=(Route("POST", "/webhook/memo", "memo-webhook", "handle_webhook"),),
                health_off={"memo": "off"})


async def test_a_new_channel_gets_its_route_lifecycle_sender_and_health(settings, aiohttp_client, caplog) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings, channels=(*registry.KINDS, memo_kind(True)))
    client = await aiohttp_client(app)
    memo = app[keys.CHANNELS]["memo"]
    assert memo.events == ["start receive=True"]
    assert (await (await client.get("/healthz")).json())["memo"] == "up"

    answered = await client.post("/webhook/memo", json={"user": "u1", "text": "/menu"})
    assert answered.status == 200 and (await answered.json())[0]  # the engine answered the turn

    async with app[keys.SESSIONS]() as session:
        await outbox.enqueue(session, channel="memo", chat_id="u1", payload={"text": "Xin chào"}, now=utc_now(),
                             priority=outbox.PRIORITY_REPLY)
        await session.commit()
    for _ in range(100):
        if memo.delivered:
            break
        await asyncio.sleep(0.1)
    assert memo.delivered == [("u1", "Xin chào")]

    install_request_ids()  # what `python -m bot run` does: the secrets given at create_app are masked
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("the gateway said %s", SECRET)
    assert SECRET not in caplog.text and "***" in caplog.text
    await client.close()
    assert memo.events == ["start receive=True", "stop"]


async def test_a_channel_that_is_off_has_no_route_and_says_so(settings, aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings, channels=(*registry.KINDS, memo_kind(False)))
    client = await aiohttp_client(app)
    assert "memo" not in app[keys.CHANNELS]
    assert (await client.post("/webhook/memo", json={"user": "u1", "text": "hi"})).status == 404
    assert (await (await client.get("/healthz")).json())["memo"] == "off"
