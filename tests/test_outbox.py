"""The outbox: the Telegram sender against the fake Bot API (order, rate limits, blocked users, retries,
restarts, dedupe) and the web chat pulling its queued messages, up to a staff reply reaching a citizen."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient
from sqlmodel import col, select

from bot.app import create_app
from bot.channels.telegram import TelegramChannel
from bot.config import Settings
from bot.ordering import KeyedLocks
from bot.sender import Sender
from handlers.engine import Engine, utc_now
from storage import outbox
from storage import staff as staff_repo
from storage.db import SessionFactory
from storage.models import Citizen, OutboxMessage, OutboxStatus, Ticket
from storage.repo import get_or_create_citizen
from tests.conftest import telegram_settings
from tests.drivers import TelegramDriver, WebChatDriver, joined
from tests.fakes.telegram import FakeTelegram, Sent
from tests.outbox_rows import T0, load, queue

CODE = re.compile(r"PA-[A-Z0-9]{6}")


@dataclass
class FakeClock:
    """A clock the test moves by hand."""

    now: datetime = T0

    def __call__(self) -> datetime:
        """The current test time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def channel(settings: Settings, tg: FakeTelegram, engine: Engine) -> AsyncIterator[TelegramChannel]:
    """The real Telegram adapter connected to the fake server, not receiving: the test drives the Sender."""
    telegram = TelegramChannel(telegram_settings(settings, tg), engine, KeyedLocks())
    await telegram.application.initialize()
    yield telegram
    await telegram.application.shutdown()


@pytest.fixture
def clock() -> FakeClock:
    """Test time, starting at T0."""
    return FakeClock()


@pytest.fixture
def sender(sessions: SessionFactory, channel: TelegramChannel, clock: FakeClock) -> Sender:
    """A Telegram outbox sender on the test clock, delivering through the real adapter."""
    return Sender(sessions, "telegram", channel.deliver, clock)


async def settled(sessions: SessionFactory, message_id: int | None, status: str, timeout: float = 5.0) -> OutboxMessage:
    """Wait until the running app's sender has recorded `status` for a row."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        message = await load(sessions, message_id)
        if message.status == status:
            return message
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"outbox row {message_id} is {message.status}, not {status}")
        await asyncio.sleep(0.05)


def texts_to(tg: FakeTelegram, chat_id: str) -> list[str]:
    """Texts of the sendMessage calls that reached a chat, in order."""
    return [s.text or "" for s in tg.calls("sendMessage") if str(s.chat_id) == chat_id]


def message_to(chat_id: str, text: str) -> Callable[[Sent], bool]:
    """A wait_for predicate: this text was sent to this chat."""
    return lambda s: s.method == "sendMessage" and str(s.chat_id) == chat_id and s.text == text


# ---------------------------------------------------------------- the running app's sender


async def test_a_queued_message_is_delivered_once_and_marked_sent(settings, tg, sessions, aiohttp_client: AiohttpClient) -> None:  # type: ignore[no-untyped-def]
    """The app's sender delivers a queued row once and records when."""
    await aiohttp_client(create_app(telegram_settings(settings, tg)))
    before = utc_now()
    first = await queue(sessions, "6001", "Thông báo thứ nhất", now=before)
    await tg.wait_for(message_to("6001", "Thông báo thứ nhất"))
    stored = await settled(sessions, first, OutboxStatus.sent)
    assert stored.sent_at is not None and before <= stored.sent_at <= utc_now()
    assert stored.attempts == 1 and stored.error is None

    later = await queue(sessions, "6004", "Thông báo khác", now=utc_now())
    await settled(sessions, later, OutboxStatus.sent)  # the sender has looked at the outbox again since
    assert texts_to(tg, "6001") == ["Thông báo thứ nhất"]


async def test_rows_in_flight_at_a_restart_are_sent_again_and_sent_rows_never(settings, tg, sessions, aiohttp_client: AiohttpClient) -> None:  # type: ignore[no-untyped-def]
    """After a restart, `sending` rows go out again; `sent` rows stay sent."""
    first_run = await aiohttp_client(create_app(telegram_settings(settings, tg)))
    delivered = await queue(sessions, "6003", "đã gửi trước khi dừng", now=utc_now())
    await settled(sessions, delivered, OutboxStatus.sent)
    await first_run.close()

    in_flight = await queue(sessions, "6003", "đang gửi thì bị tắt", now=utc_now())
    async with sessions() as session:  # what a process killed between claim and delivery leaves behind
        message = await session.get(OutboxMessage, in_flight)
        assert message is not None
        message.status, message.attempts = OutboxStatus.sending, 1
        await session.commit()

    await aiohttp_client(create_app(telegram_settings(settings, tg)))
    await tg.wait_for(message_to("6003", "đang gửi thì bị tắt"))
    await settled(sessions, in_flight, OutboxStatus.sent)
    later = await queue(sessions, "6005", "tin sau khi khởi động lại", now=utc_now())
    await settled(sessions, later, OutboxStatus.sent)  # the sender has looked at the outbox again since
    assert texts_to(tg, "6003") == ["đã gửi trước khi dừng", "đang gửi thì bị tắt"]


# ---------------------------------------------------------------- the Sender on a test clock


async def test_a_rate_limit_is_waited_out_without_counting_an_attempt(sender, tg, sessions, clock) -> None:  # type: ignore[no-untyped-def]
    """429 with retry_after: the row (and the channel) waits exactly that long, then goes out."""
    message_id = await queue(sessions, "6010", "sau khi chờ", now=T0)
    tg.fail_next("sendMessage", 429, retry_after=30)
    assert await sender.drain_once() == 1
    waiting = await load(sessions, message_id)
    assert (waiting.status, waiting.attempts) == (OutboxStatus.pending, 0)
    assert waiting.next_attempt_at == T0 + timedelta(seconds=30) and "Flood control" in (waiting.error or "")

    other = await queue(sessions, "6009", "tin khác trong lúc chờ", now=T0)
    clock.advance(29.8)
    assert await sender.drain_once() == 0
    assert (await load(sessions, other)).status == OutboxStatus.pending
    clock.advance(0.2)
    assert await sender.drain_once() == 2
    sent = await load(sessions, message_id)
    assert (sent.status, sent.attempts, sent.sent_at) == (OutboxStatus.sent, 1, T0 + timedelta(seconds=30))
    assert texts_to(tg, "6010") == ["sau khi chờ"] and texts_to(tg, "6009") == ["tin khác trong lúc chờ"]
    assert len(tg.failed) == 1


@pytest.mark.parametrize("how", ["block", "fail_next"])
async def test_a_citizen_who_blocked_the_bot_becomes_unreachable(sender, tg, sessions, clock, how: str) -> None:  # type: ignore[no-untyped-def]
    """403 "bot was blocked by the user": failed as blocked, citizen unreachable and unsubscribed, no retry."""
    async with sessions() as session:
        citizen, _ = await get_or_create_citizen(session, "telegram", "6011", now=T0)
        citizen.subscribed = True
        await session.commit()
    message_id = await queue(sessions, "6011", "bản tin tuần", now=T0, citizen_id=citizen.id)
    if how == "block":
        tg.block(6011)
    else:
        tg.fail_next("sendMessage", 403)
    assert await sender.drain_once() == 1

    message = await load(sessions, message_id)
    assert (message.status, message.reason, message.attempts) == (OutboxStatus.failed, "blocked", 1)
    assert "blocked by the user" in (message.error or "")
    async with sessions() as session:
        stored = await session.get(Citizen, citizen.id)
    assert stored is not None and stored.unreachable_at == T0 and stored.subscribed is False
    clock.advance(86_400)
    assert await sender.drain_once() == 0
    assert tg.calls("sendMessage") == []


async def test_a_server_error_is_retried_with_backoff_until_it_succeeds(sender, tg, sessions, clock) -> None:  # type: ignore[no-untyped-def]
    """500s count attempts and push the next try further out (2 s, then 4 s), then the row is sent."""
    message_id = await queue(sessions, "6012", "thử lại", now=T0)
    tg.fail_next("sendMessage", 500, times=2)

    assert await sender.drain_once() == 1
    first = await load(sessions, message_id)
    assert (first.status, first.attempts, first.next_attempt_at) == (OutboxStatus.pending, 1, T0 + timedelta(seconds=2))
    assert "Internal Server Error" in (first.error or "")
    clock.advance(1)
    assert await sender.drain_once() == 0

    clock.advance(1)
    assert await sender.drain_once() == 1
    second = await load(sessions, message_id)
    assert (second.status, second.attempts) == (OutboxStatus.pending, 2)
    assert second.next_attempt_at == clock.now + timedelta(seconds=4) > first.next_attempt_at

    clock.advance(4)
    assert await sender.drain_once() == 1
    sent = await load(sessions, message_id)
    assert (sent.status, sent.attempts, sent.sent_at, sent.error) == (OutboxStatus.sent, 3, clock.now, None)
    assert texts_to(tg, "6012") == ["thử lại"] and len(tg.failed) == 2


async def test_a_bad_request_fails_at_once_and_is_never_retried(sender, tg, sessions, clock) -> None:  # type: ignore[no-untyped-def]
    """400 is permanent: failed after one attempt, with the API's description kept."""
    message_id = await queue(sessions, "6013", "không tới được", now=T0)
    tg.fail_next("sendMessage", 400, description="Bad Request: chat not found")
    assert await sender.drain_once() == 1
    message = await load(sessions, message_id)
    assert (message.status, message.reason, message.attempts) == (OutboxStatus.failed, "error", 1)
    assert "chat not found" in (message.error or "").lower()

    clock.advance(7 * 86_400)
    assert await sender.drain_once() == 0
    assert len(tg.failed) == 1 and tg.calls("sendMessage") == []


async def test_a_dedupe_key_makes_the_second_enqueue_a_no_op(sender, tg, sessions) -> None:  # type: ignore[no-untyped-def]
    """The same dedupe_key queues once, whether in a later transaction or the same one."""
    assert await queue(sessions, "6014", "nhắc việc", now=T0, dedupe_key="reminder:1:2026-03-02") is not None
    assert await queue(sessions, "6014", "nhắc việc", now=T0, dedupe_key="reminder:1:2026-03-02") is None
    async with sessions() as session:
        kept = await outbox.enqueue(session, channel="telegram", chat_id="6017", payload={"text": "khác"}, now=T0,
                                    dedupe_key="reminder:2:2026-03-02")
        again = await outbox.enqueue(session, channel="telegram", chat_id="6017", payload={"text": "khác"}, now=T0,
                                     dedupe_key="reminder:2:2026-03-02")
        await session.commit()
    assert kept is not None and again is None
    assert await sender.drain_once() == 2
    assert await sender.drain_once() == 0
    assert (texts_to(tg, "6014"), texts_to(tg, "6017")) == (["nhắc việc"], ["khác"])


async def test_a_reply_queued_after_bulk_messages_is_claimed_first(sender, tg, sessions) -> None:  # type: ignore[no-untyped-def]
    """Rows due at once are taken by priority, then in queue order."""
    async with sessions() as session:  # one transaction: the sender sees all four rows at once
        for number in (1, 2, 3):
            await outbox.enqueue(session, channel="telegram", chat_id=f"602{number}", payload={"text": f"tin chung {number}"},
                                 now=T0, priority=outbox.PRIORITY_BULK)
        await outbox.enqueue(session, channel="telegram", chat_id="6024", payload={"text": "trả lời"},
                             now=T0, priority=outbox.PRIORITY_REPLY)
        await session.commit()
    assert await sender.drain_once(limit=1) == 1
    assert [s.text for s in tg.calls("sendMessage")] == ["trả lời"]
    assert await sender.drain_once(limit=1) == 1
    assert [s.text for s in tg.calls("sendMessage")] == ["trả lời", "tin chung 1"]
    assert await sender.drain_once() == 2
    assert sorted(s.text or "" for s in tg.calls("sendMessage")[2:]) == ["tin chung 2", "tin chung 3"]


async def test_a_row_that_cannot_be_rendered_is_failed_not_left_sending(sender, tg, sessions) -> None:  # type: ignore[no-untyped-def]
    """A row whose payload cannot be turned into replies fails alone; the rows claimed with it are still sent."""
    async with sessions() as session:
        broken = await outbox.enqueue(session, channel="telegram", chat_id="6015", now=T0,
                                      payload={"text": "nút hỏng", "buttons": [[{"label": "thiếu action"}]]})
        await session.commit()
    good = await queue(sessions, "6016", "tin bình thường", now=T0)
    assert await sender.drain_once() == 2
    assert broken is not None and (await load(sessions, broken.id)).status == OutboxStatus.failed
    assert (await load(sessions, good)).status == OutboxStatus.sent
    assert texts_to(tg, "6016") == ["tin bình thường"]


async def test_the_sender_leaves_other_channels_alone(sender, tg, sessions) -> None:  # type: ignore[no-untyped-def]
    """A web chat row is never claimed by the Telegram sender."""
    message_id = await queue(sessions, "some-webchat-visitor", "chỉ cho web", now=T0, channel="webchat")
    assert await sender.drain_once() == 0
    assert (await load(sessions, message_id)).status == OutboxStatus.pending
    assert tg.calls("sendMessage") == []


# ---------------------------------------------------------------- the web chat pulls


def chat_token(client: TestClient) -> str:
    """The visitor's identity cookie."""
    return client.session.cookie_jar.filter_cookies(client.make_url("/chat"))["caunoi_chat"].value


def use_token(client: TestClient, token: str | None) -> None:
    """Act as the visitor holding `token` (None: a visitor with no cookie at all)."""
    client.session.cookie_jar.clear()
    if token is not None:
        client.session.cookie_jar.update_cookies({"caunoi_chat": token})


async def pull(client: TestClient) -> list[dict]:
    """POST /chat/api/updates, then acknowledge what came, as the page does."""
    response = await client.post("/chat/api/updates", json={})
    assert response.status == 200
    replies: list[dict] = (await response.json())["replies"]
    if replies:
        acked = await client.post("/chat/api/updates", json={"ack": [reply["id"] for reply in replies]})
        assert (await acked.json())["replies"] == []
    return replies


async def test_an_unacknowledged_web_chat_message_comes_again(settings, sessions, aiohttp_client: AiohttpClient) -> None:  # type: ignore[no-untyped-def]
    """A response lost on the way (no acknowledgement) does not lose the message."""
    from bot.app import create_app

    client = await aiohttp_client(create_app(settings))
    await client.post("/chat/api/messages", json={"text": "/menu"})
    async with sessions() as session:
        citizen = (await session.exec(select(Citizen).where(Citizen.channel == "webchat"))).one()
    message_id = await queue(sessions, citizen.channel_user_id, "thông báo họp", now=utc_now(), channel="webchat")
    first = (await (await client.post("/chat/api/updates", json={})).json())["replies"]
    again = (await (await client.post("/chat/api/updates", json={})).json())["replies"]
    assert [r["id"] for r in first] == [r["id"] for r in again] == [message_id]
    done = (await (await client.post("/chat/api/updates", json={"ack": [message_id, 999999]})).json())["replies"]
    assert done == [] and (await load(sessions, message_id)).status == OutboxStatus.sent


async def test_a_notice_photo_reaches_the_web_chat_through_a_signed_media_link(settings, sessions, aiohttp_client: AiohttpClient) -> None:  # type: ignore[no-untyped-def]
    """A photo the bot sends is a file of the data folder: the page gets a /media/ link it can show
    (same site, signed, expiring); a photo that is gone is left out rather than shown broken."""
    from bot.app import create_app

    photo = b"\xff\xd8\xff\xe0" + b"notice photo" * 50
    (settings.data_dir / "media" / "broadcasts").mkdir(parents=True)
    (settings.data_dir / "media" / "broadcasts" / "hop.jpg").write_bytes(photo)
    client = await aiohttp_client(create_app(settings))
    await client.post("/chat/api/messages", json={"text": "/menu"})
    citizen = await webchat_citizen(sessions)
    async with sessions() as session:
        for image in ("media/broadcasts/hop.jpg", "media/broadcasts/gone.jpg"):
            await outbox.enqueue(session, channel="webchat", chat_id=citizen.channel_user_id, now=utc_now(),
                                 payload={"text": "Họp thôn", "image": image}, priority=outbox.PRIORITY_BULK)
        await session.commit()
    shown, gone = (await (await client.post("/chat/api/updates", json={})).json())["replies"]
    assert shown["image"].startswith("/media/") and gone["image"] is None
    response = await client.get(shown["image"])
    assert response.status == 200 and await response.read() == photo
    assert (await client.get(shown["image"][:-3] + "xyz")).status == 404  # a changed link is nothing


async def webchat_citizen(sessions: SessionFactory) -> Citizen:
    """The most recent web chat citizen."""
    async with sessions() as session:
        found = await session.exec(select(Citizen).where(Citizen.channel == "webchat").order_by(col(Citizen.id).desc()))
        citizen = found.first()
    assert citizen is not None
    return citizen


async def test_the_web_chat_gets_its_queued_message_exactly_once_and_nobody_else_does(settings, sessions, aiohttp_client: AiohttpClient) -> None:  # type: ignore[no-untyped-def]
    """A pending webchat row is pulled by its visitor once; other visitors get nothing."""
    client = await aiohttp_client(create_app(settings))
    await client.post("/chat/api/messages", json={"text": "/menu"})
    mine = chat_token(client)
    citizen = await webchat_citizen(sessions)
    use_token(client, None)
    await client.post("/chat/api/messages", json={"text": "/menu"})
    other = chat_token(client)
    assert other != mine

    message_id = await queue(sessions, citizen.channel_user_id, "Trả lời của xã", now=utc_now(), channel="webchat",
                             citizen_id=citizen.id, priority=outbox.PRIORITY_REPLY)
    assert await pull(client) == []
    use_token(client, None)
    assert await pull(client) == []
    assert (await load(sessions, message_id)).status == OutboxStatus.pending

    use_token(client, mine)
    [reply] = await pull(client)
    assert reply == {"text": "Trả lời của xã", "buttons": [], "image": None, "id": message_id}
    assert await pull(client) == []
    stored = await load(sessions, message_id)
    assert stored.status == OutboxStatus.sent and stored.sent_at is not None
    use_token(client, other)
    assert await pull(client) == []


async def test_a_staff_reply_reaches_the_web_chat_citizen_with_the_tracking_code(settings, tg, sessions, aiohttp_client: AiohttpClient) -> None:  # type: ignore[no-untyped-def]
    """Web chat citizen sends feedback, an officer replies on Telegram, the web page pulls the reply."""
    client = await aiohttp_client(create_app(telegram_settings(settings, tg)))
    await (await client.get("/chat")).release()
    citizen = WebChatDriver(client)
    await citizen.send("/phananh")
    await citizen.press("Góp ý")
    await citizen.press("Vay vốn")
    await citizen.send("Cán bộ ngân hàng hướng dẫn rất tận tình.")
    await citizen.press("Bỏ qua")
    await citizen.press("Bỏ qua")
    await citizen.send("Hòa Phú")
    await citizen.press("Gửi ẩn danh")
    await citizen.press("Gửi")
    match = CODE.search(joined(citizen.last))
    assert match, joined(citizen.last)
    code = match.group()
    assert await pull(client) == []

    async with sessions() as session:
        staff = await staff_repo.create_staff(session, "canbo.hoaphu", "commune", "24175", None, utc_now())
        link = await staff_repo.new_link_code(session, staff, utc_now())
        await session.commit()
    officer = TelegramDriver(tg, user_id=7101)
    await officer.send(f"/link {link}")
    await officer.act(f"of:reply:{code}")
    await officer.send("Cảm ơn bà con đã góp ý, xã sẽ chuyển lời khen tới ngân hàng.")
    assert "Đã gửi trả lời" in officer.last[-1].text

    [reply] = await pull(client)
    assert code in reply["text"] and "Trả lời cho phản ánh" in reply["text"]
    assert "xã sẽ chuyển lời khen tới ngân hàng" in reply["text"]
    assert reply["buttons"] == [[{"label": "📋 Xem phản ánh", "action": f"tk:show:{code}"}]]
    assert await pull(client) == []
    assert not any("lời khen" in (s.text or "") for s in tg.calls("sendMessage") if str(s.chat_id) != "7101")
    async with sessions() as session:
        ticket = (await session.exec(select(Ticket).where(Ticket.code == code))).one()
    assert ticket.status == "answered"


async def test_updates_cannot_be_collected_from_another_site(settings, aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    """A cross-site form post or a plain GET never marks a visitor's messages as delivered."""
    from bot.app import create_app

    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/chat/api/updates")).status == 405
    form = await client.post("/chat/api/updates", data=b"x=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status == 415
    foreign = await client.post("/chat/api/updates", json={}, headers={"Origin": "https://evil.example"})
    assert foreign.status == 403


async def test_an_officer_who_blocked_the_bot_is_unlinked(sender, tg, sessions, clock) -> None:  # type: ignore[no-untyped-def]
    """A reminder to a blocked officer fails once and their chat link is removed, so no more are queued."""
    from storage.models import Staff

    async with sessions() as session:
        officer = await staff_repo.create_staff(session, "canbo.chan", "commune", "24169", None, T0)
        code = await staff_repo.new_link_code(session, officer, T0)
        await staff_repo.redeem_link_code(session, code, "telegram", "6099", T0)
        await session.commit()
    tg.block(6099)
    message_id = await queue(sessions, "6099", "nhắc việc", now=T0, priority=outbox.PRIORITY_REMINDER)
    await sender.drain_once()
    assert (await load(sessions, message_id)).reason == "blocked"
    async with sessions() as session:
        stored = (await session.exec(select(Staff).where(Staff.username == "canbo.chan"))).one()
        assert (stored.chat_channel, stored.chat_user_id) == (None, None)
        assert await staff_repo.linked_staff(session, utc_now(), timedelta(hours=12)) == []
