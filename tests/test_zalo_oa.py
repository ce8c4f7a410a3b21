"""The Zalo Official Account channel end to end, through the fake Zalo OA platform and the whole app:
signed webhook events of every kind, answered within Zalo's 2 seconds and handled from the inbox
(once, in order, after a kill too), replies and notices in 2000-character parts, the reply window,
token refresh with rotation (in one process, across processes, and a process killed between
Zalo's answer and the commit)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa
from sqlmodel import select

from bot import keys
from bot.app import create_app
from bot.channels.inbox import Inbox
from bot.channels.zalo_oa import OAEvent, Tokens, parse_event, signature
from bot.config import ConfigError, Settings, load_settings
from bot.ordering import KeyedLocks
from handlers.engine import utc_now
from storage import broadcasts, outbox, zalo_inbox
from storage.db import create_engine, session_factory
from storage.holders import Holder
from storage.migrate import downgrade, upgrade
from storage.models import Citizen, OutboxMessage, StaffRole, Ticket, TicketAttachment, ZaloInboxRow, ZaloOAToken
from storage.types import UTCDateTime
from tests.browser import free_port
from tests.dashboard import add_staff, sign_in
from tests.drivers import ZaloOADriver, joined, photo_in_feedback
from tests.fakes.zalo_oa import APP_ID, INVALID_SECRET_KEY, REUSED_REFRESH, FakeZaloOA
from tests.test_crash import Database
from tests.zalo_notices import got_it_in_parts, queue_long_notice

ROOT = Path(__file__).resolve().parents[1]
CODE = re.compile(r"PA-[A-Z0-9]{6}")
JPEG = b"\xff\xd8\xff\xe0" + b"photo" * 200
M4A = b"\x00\x00\x00\x20ftypM4A " + b"voice" * 100


def oa_settings(settings: Settings, zalo: FakeZaloOA, **extra: object) -> Settings:
    """Settings pointing the bot at the fake Zalo OA platform, with a first pair of tokens."""
    return settings.model_copy(update=zalo.settings(**extra))


@pytest.fixture
async def zalo():  # type: ignore[no-untyped-def]
    """A fake Zalo OA platform on loopback."""
    async with FakeZaloOA() as fake:
        yield fake


@pytest.fixture
async def bot(settings, zalo, aiohttp_client):  # type: ignore[no-untyped-def]
    """The whole app with the Zalo OA channel on."""
    return await aiohttp_client(create_app(oa_settings(settings, zalo, quiet_hours="")))


def citizen_of(zalo: FakeZaloOA, bot, user_id: str = "8461920375521") -> ZaloOADriver:  # type: ignore[no-untyped-def]
    return ZaloOADriver(zalo, bot, bot.app[keys.SESSIONS], user_id=user_id)


async def add_citizens(  # type: ignore[no-untyped-def]
    sessions, zalo: FakeZaloOA, *people: tuple[str, bool, timedelta], now: datetime | None = None,
) -> None:
    """Consenting Zalo OA citizens of Ea Kao: (user id, subscribed, time since their last message),
    as the bot remembers them (at `now` by its clock) and as Zalo does (by the fake's)."""
    now = now or utc_now()
    async with sessions() as session:
        for user, subscribed, ago in people:
            zalo.interacted(user, seconds_ago=ago.total_seconds())
            session.add(Citizen(channel="zalo_oa", channel_user_id=user, area_code="24169", household_status="poor",
                                locale="vi", subscribed=subscribed, consent_at=now, created_at=now - ago,
                                last_seen_at=now - ago))
        await session.commit()


async def deliver(zalo: FakeZaloOA, bot, event: dict, **signed: object) -> int:  # type: ignore[no-untyped-def]
    """POST an event as Zalo does, then wait until the bot has handled what it stored; the status."""
    status = await zalo.post(bot, event, **signed)  # type: ignore[arg-type]
    await bot.app[keys.CHANNELS]["zalo_oa"].inbox.idle()
    return status


async def rows(sessions, model, *where):  # type: ignore[no-untyped-def]
    async with sessions() as session:
        return list((await session.exec(select(model).where(*where))).all())


async def wait_rows(sessions, model, *where, count: int = 1, timeout: float = 20):  # type: ignore[no-untyped-def]
    """Wait until at least `count` rows match."""
    deadline = time.monotonic() + timeout
    while len(found := await rows(sessions, model, *where)) < count:
        assert time.monotonic() < deadline, f"{len(found)} of {count} {model.__name__} rows"
        await asyncio.sleep(0.1)
    return found


# ----- the webhook -------------------------------------------------------------------------------


async def test_forged_missing_stale_or_future_signatures_are_refused_and_nothing_is_stored(bot, zalo, sessions) -> None:
    event = zalo.text_event("u-forged", "/start")
    raw = json.dumps(event).encode()
    assert await zalo.post(bot, event, signature="") == 403
    assert await zalo.post(bot, event, signature="mac=" + "0" * 64) == 403
    assert await zalo.post(bot, event, signature=zalo.sign(raw, event["timestamp"], secret_key="not-the-key")) == 403
    assert await zalo.post(bot, event, signature=zalo.sign(raw, event["timestamp"])[4:]) == 403  # no "mac="
    changed = {**event, "message": {**event["message"], "text": "/xoadulieu"}}
    assert await zalo.post(bot, changed, signature=zalo.sign(raw, event["timestamp"])) == 403  # signed another body
    now_ms = int(time.time() * 1000)
    for skew in (-25 * 3600_000, -7 * 24 * 3600_000, 6 * 60_000):  # older than a day, a week, from the future
        assert await zalo.post(bot, zalo.event("user_send_text", "u-forged", message={"text": "/start"},
                                                timestamp=now_ms + skew)) == 403
    assert zalo.sent == [] and zalo.oauth_calls == []
    assert await rows(sessions, Citizen) == [] and await rows(sessions, ZaloInboxRow) == []


async def test_malformed_truncated_or_oversized_bodies_are_400_or_413_never_500(bot, zalo, sessions) -> None:
    headers = {"X-ZEvent-Signature": "mac=" + "0" * 64}
    for raw in (b'{"event_name": "user_send_text", "timestamp": "17', b"\xff\xfe", b"[]", b'{"event_name": "follow"}'):
        response = await bot.post("/webhook/zalo-oa", data=raw, headers=headers)
        assert response.status == 400, raw
    for body in ({"event_name": "user_send_text", "timestamp": str(int(time.time() * 1000))},  # no sender
                 {**zalo.location_event("u-bad", 12.7, 108.0), "message": {"attachments": [{"type": "location", "payload": {}}]}}):
        assert await zalo.post(bot, body) == 400
    big = {**zalo.text_event("u-big", "x"), "padding": "x" * 70_000}
    assert await zalo.post(bot, big) == 413
    unknown = zalo.event("user_seen_message", "u-seen", message={"msg_ids": ["a"]})
    assert await zalo.post(bot, unknown) == 200  # an event the bot does not act on is acknowledged
    assert zalo.sent == [] and await rows(sessions, Citizen) == []


async def test_a_redelivered_event_is_handled_once(bot, zalo, sessions) -> None:
    event = zalo.text_event("u-twice", "chuan ngheo hien nay la bao nhieu")
    assert await deliver(zalo, bot, event) == 200
    answered = len(zalo.messages_to("u-twice"))
    assert answered >= 1 and "1.500.000" in zalo.messages_to("u-twice")[-1].text
    assert await asyncio.gather(zalo.post(bot, event), zalo.post(bot, event)) == [200, 200]
    await bot.app[keys.CHANNELS]["zalo_oa"].inbox.idle()
    assert len(zalo.messages_to("u-twice")) == answered
    [stored] = await rows(sessions, ZaloInboxRow)
    assert (stored.key, stored.channel, stored.chat_id) == (f"user_send_text:{event['message']['msg_id']}", "zalo_oa", "u-twice")
    assert stored.done_at is not None and stored.payload is None  # what the citizen wrote is not kept


async def test_the_webhook_answers_within_2_seconds_however_slow_the_sends_and_replies_keep_their_order(
    bot, zalo, sessions,
) -> None:
    zalo.send_delay = 5.0  # every message the bot sends takes Zalo 5 seconds
    first, second = zalo.text_event("u-slow", "/menu"), zalo.text_event("u-slow", "chuan ngheo la bao nhieu")
    answered = []
    for event in (first, second):
        began = time.monotonic()
        assert await zalo.post(bot, event) == 200
        answered.append(time.monotonic() - began)
    assert max(answered) < 2.0, answered  # Zalo delivers an event again when it waits longer
    stored = await rows(sessions, ZaloInboxRow)
    assert len(stored) == 2  # recorded before the answer
    replies = await zalo.wait_for_messages("u-slow", 2, timeout=30)
    assert "1.500.000" not in replies[0].text and "1.500.000" in replies[-1].text  # the citizen's order
    await bot.app[keys.CHANNELS]["zalo_oa"].inbox.idle()
    assert all(row.done_at is not None for row in await rows(sessions, ZaloInboxRow))


async def test_events_of_the_last_day_are_accepted_and_handled_once_older_or_future_ones_refused(bot, zalo, sessions) -> None:
    now_ms = int(time.time() * 1000)
    hour = 3600_000

    def stamped(user: str, offset_ms: int) -> dict:
        return zalo.event("user_send_text", user, message={"text": "chuan ngheo la bao nhieu"}, timestamp=now_ms + offset_ms)

    retried = stamped("u-retry", -hour)  # Zalo's last redelivery, about an hour late
    assert await deliver(zalo, bot, retried) == 200 and "1.500.000" in zalo.messages_to("u-retry")[-1].text
    assert await deliver(zalo, bot, retried) == 200 and len(zalo.messages_to("u-retry")) == 1
    assert await deliver(zalo, bot, stamped("u-day", -23 * hour - 50 * 60_000)) == 200
    assert await deliver(zalo, bot, stamped("u-ahead", 2 * 60_000)) == 200  # a clock a little ahead
    assert zalo.messages_to("u-day") and zalo.messages_to("u-ahead")
    for user, offset in (("u-old", -24 * hour - 10 * 60_000), ("u-future", 6 * 60_000)):
        assert await deliver(zalo, bot, stamped(user, offset)) == 403
        assert zalo.messages_to(user) == []
    assert {row.chat_id for row in await rows(sessions, ZaloInboxRow)} == {"u-retry", "u-day", "u-ahead"}


async def test_handled_keys_are_kept_three_days_then_pruned(settings, zalo, aiohttp_client, sessions) -> None:
    clock = FakeClock()
    configured = oa_settings(settings, zalo, quiet_hours="")
    first = await aiohttp_client(create_app(configured, clock=clock))
    event = zalo.text_event("u-keep", "/menu")
    assert await deliver(zalo, first, event) == 200
    [row] = await rows(sessions, ZaloInboxRow)
    async with sessions() as session:
        assert await zalo_inbox.prune(session, row.done_at + timedelta(days=2, hours=23)) == 0
        await session.rollback()
    await first.close()
    clock.now += timedelta(days=3, minutes=1)  # a restart that much later: the sweep at start-up prunes
    await aiohttp_client(create_app(configured, clock=clock))
    deadline = time.monotonic() + 10
    while await rows(sessions, ZaloInboxRow):
        assert time.monotonic() < deadline, "the key of an event handled 3 days ago was not pruned"
        await asyncio.sleep(0.05)


async def test_channel_off_answers_404(settings, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(settings))
    assert (await client.post("/webhook/zalo-oa", json={}, headers={"X-ZEvent-Signature": "mac=00"})).status == 404
    assert "zalo_oa" not in await (await client.get("/healthz")).json()


def test_events_are_validated_at_the_edge() -> None:
    body = {"app_id": "1", "event_name": "user_send_text", "timestamp": "1766619597466",
            "sender": {"id": "246845883529197922"}, "message": {"text": "xin chào", "msg_id": "m1"}}
    parsed = parse_event(body)
    assert parsed == OAEvent("user_send_text", "246845883529197922", "user_send_text:m1",
                             datetime(2025, 12, 24, 23, 39, 57, 466000, tzinfo=UTC), text="xin chào")
    follow = parse_event({"event_name": "follow", "timestamp": 1766619597466, "follower": {"id": 42}})
    assert follow is not None and (follow.user_id, follow.key) == ("42", "follow:42:1766619597466")
    assert parse_event({**body, "event_name": "oa_send_text"}) is None
    for bad in ({}, [], {**body, "timestamp": "soon"}, {**body, "sender": {}}, {**body, "message": None}):
        with pytest.raises(ValueError):
            parse_event(bad)
    assert signature("1", b"{}", "2", "k") == "mac=" + __import__("hashlib").sha256(b"1{}2k").hexdigest()


# ----- events ------------------------------------------------------------------------------------


async def test_follow_greets_and_a_numbered_choice_works(bot, zalo, sessions) -> None:
    citizen = citizen_of(zalo, bot)
    shown = await citizen.event(zalo.event("follow", citizen.user_id))
    assert "Xin chào bà con" in joined(shown) and "\n1. ✅ Đồng ý" in shown[-1].text
    await citizen.send("1")
    assert "ngôn ngữ nào" in citizen.last[-1].text
    [stored] = await rows(sessions, Citizen)
    assert (stored.channel, stored.channel_user_id) == ("zalo_oa", citizen.user_id) and stored.consent_at is not None


async def test_a_complaint_with_a_voice_message_a_photo_and_a_location(bot, zalo, sessions, settings) -> None:
    citizen = citizen_of(zalo, bot)
    await citizen.send("/phananh")
    await citizen.press("Khiếu nại")
    await citizen.press("Rà soát")
    await citizen.send_voice(M4A)
    assert "ảnh" in citizen.last[-1].text  # the voice message is the report's content; photos come next
    await citizen.send_photo(JPEG, caption="ảnh giấy tờ")
    assert "đã nhận 1 ảnh" in citizen.last[-1].text
    await citizen.press("Xong")
    await citizen.send_location(12.6797, 108.0433)
    await citizen.send("ea kao")
    await citizen.press("Ghi tên tôi")
    assert "tên" in citizen.last[-1].text  # Zalo OA gives no name: the staff would see "—", so it is asked
    await citizen.send("Y Bih")
    summary = citizen.last[-1].text
    assert "Ảnh: 1" in summary and "12.67970, 108.04330" in summary and "Người gửi: Y Bih" in summary
    await citizen.press("Gửi")
    code = CODE.search(joined(citizen.last))
    assert code, joined(citizen.last)

    [ticket] = await rows(sessions, Ticket, Ticket.code == code.group())
    assert ticket.reporter_name == "Y Bih" and "ảnh giấy tờ" in ticket.body  # the photo's caption is kept
    files = await rows(sessions, TicketAttachment, TicketAttachment.ticket_id == ticket.id)
    assert (ticket.kind, ticket.area_code, ticket.latitude, ticket.longitude) == ("complaint", "24169", 12.6797, 108.0433)
    kept = {file.kind: (settings.data_dir / file.path).read_bytes() for file in files}
    assert kept == {"photo": JPEG, "voice": M4A}
    assert {file.mime_type for file in files} == {"image/jpeg", "audio/mp4"}


async def test_voice_outside_a_flow_files_and_stickers_get_a_polite_answer(bot, zalo, sessions) -> None:
    citizen = citizen_of(zalo, bot, "u-media")
    [voice] = await citizen.send_voice(M4A)
    assert "Đã giữ tin nhắn thoại" in voice.text and "muốn gửi gì" in voice.text  # kept: a report begins with it
    await citizen.send("huy")
    [file] = await citizen.event(zalo.file_event(citizen.user_id))
    assert "chưa đọc được loại tin nhắn này" in file.text and "không dấu" in file.text
    [sticker] = await citizen.event(zalo.sticker_event(citizen.user_id))
    assert "nhãn dán" in sticker.text and "gõ câu hỏi bằng chữ" in sticker.text
    [stored] = await rows(sessions, Citizen)
    assert utc_now() - stored.last_seen_at < timedelta(seconds=30)


async def test_a_photo_too_large_is_refused_with_a_reason(settings, zalo, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(oa_settings(settings, zalo, media_max_bytes=500)))
    citizen = citizen_of(zalo, client)
    await photo_in_feedback(citizen, JPEG)
    assert "tệp này lớn quá" in joined(citizen.last)


async def test_unfollow_unsubscribes_and_makes_unreachable_and_a_notice_skips_them(bot, zalo, sessions) -> None:
    await add_citizens(sessions, zalo, ("u-leaves", True, timedelta(hours=1)), ("u-stays", True, timedelta(hours=1)))
    assert await deliver(zalo, bot, zalo.event("unfollow", "u-leaves")) == 200
    [gone] = await rows(sessions, Citizen, Citizen.channel_user_id == "u-leaves")
    assert gone.subscribed is False and gone.unreachable_at is not None
    assert zalo.messages_to("u-leaves") == []
    now = utc_now()
    async with sessions() as session:
        await broadcasts.create_broadcast(session, texts={"vi": "Họp thôn"}, target={"areas": ["24169"]},
                                          send_at=now, now=now, author="test")
        await session.commit()
    await zalo.wait_for_messages("u-stays", 1, timeout=20)
    assert zalo.messages_to("u-leaves") == []
    assert await deliver(zalo, bot, zalo.event("follow", "u-leaves")) == 200  # following again: reachable, greeted
    [back] = await rows(sessions, Citizen, Citizen.channel_user_id == "u-leaves")
    assert back.unreachable_at is None and "Xin chào bà con" in zalo.messages_to("u-leaves")[0].text


# ----- sending -----------------------------------------------------------------------------------


async def test_a_notice_reaches_oa_subscribers_in_parts_and_its_button_works_by_number(bot, zalo, sessions) -> None:
    await add_citizens(sessions, zalo, ("oa-a", True, timedelta(hours=2)), ("oa-b", True, timedelta(hours=47)),
                       ("oa-c", False, timedelta(hours=1)))
    await queue_long_notice(sessions)
    await got_it_in_parts(zalo, ("oa-a", "oa-b"))
    assert zalo.messages_to("oa-c") == []
    await citizen_of(zalo, bot, "oa-a").send("1")
    [stopped] = await rows(sessions, Citizen, Citizen.channel_user_id == "oa-a")
    assert stopped.subscribed is False


async def test_the_7_day_window_sends_late_messages_charged_skips_older_ones_and_the_notice_page_counts_both(
    settings, zalo, aiohttp_client, sessions,
) -> None:
    await add_citizens(sessions, zalo, ("in-48h", True, timedelta(hours=47, minutes=50)),
                       ("charged-1", True, timedelta(hours=48, minutes=5)), ("charged-2", True, timedelta(days=6)),
                       ("late-1", True, timedelta(days=7, minutes=5)), ("late-2", True, timedelta(days=9)))
    now = utc_now()
    async with sessions() as session:
        broadcast = await broadcasts.create_broadcast(session, texts={"vi": "Lịch rà soát"}, target={"areas": ["24169"]},
                                                      send_at=now, now=now, author="test")
        await session.commit()
        broadcast_id = broadcast.id
    client = await aiohttp_client(create_app(oa_settings(settings, zalo, quiet_hours="")))
    for user in ("in-48h", "charged-1", "charged-2"):
        await zalo.wait_for_messages(user, 1, timeout=20)
    assert [zalo.messages_to(user)[0].charged for user in ("in-48h", "charged-1", "charged-2")] == [False, True, True]
    skipped = await wait_rows(sessions, OutboxMessage, OutboxMessage.status == "skipped", count=2)
    assert {row.reason for row in skipped} == {"zalo_window"} and {row.attempts for row in skipped} == {0}
    assert zalo.messages_to("late-1") == zalo.messages_to("late-2") == []  # not even tried
    # The fake server has the message before the sender records it as sent.
    await wait_rows(sessions, OutboxMessage, OutboxMessage.status == "sent", count=3)
    async with sessions() as session:
        counts = await broadcasts.status_counts(session, broadcast_id)  # type: ignore[arg-type]
    assert (counts["sent"], counts["sent:zalo_charged"], counts["skipped"], counts["skipped:zalo_window"]) == (3, 2, 2, 2)

    await add_staff(sessions, "tinh", StaffRole.province)
    staff = await sign_in(client, "tinh")
    page = await staff.page(f"/admin/broadcasts/{broadcast_id}")
    assert "Không liên lạc được qua Zalo: 2 người (ngoài thời hạn Zalo cho phép nhắn tin" in page
    assert "ngoài thời hạn Zalo cho phép nhắn tin): 2" in page  # the reasons list names it too
    assert "Đã gửi qua Zalo và bị tính phí: 2 tin" in page  # next to it, the charged ones
    assert "zalo_charged" not in page  # a sent message is no reason "why some were not sent"


async def test_a_shorter_configured_window_skips_what_zalo_would_charge_and_zalos_own_refusal_skips_too(
    settings, zalo, aiohttp_client, sessions,
) -> None:
    await add_citizens(sessions, zalo, ("w-1", True, timedelta(hours=2)), ("w-3d", True, timedelta(days=3)),
                       ("w-stale", True, timedelta(hours=1)))
    zalo.last_interaction["w-stale"] = zalo.clock() - 8 * 24 * 3600  # Zalo knows better: 8 days ago
    now = utc_now()
    async with sessions() as session:
        await broadcasts.create_broadcast(session, texts={"vi": "Họp thôn"}, target={"areas": ["24169"]},
                                          send_at=now, now=now, author="test")
        await session.commit()
    await aiohttp_client(create_app(oa_settings(settings, zalo, quiet_hours="", zalo_oa_reply_window_hours=48)))
    await zalo.wait_for_messages("w-1", 1, timeout=20)
    skipped = await wait_rows(sessions, OutboxMessage, OutboxMessage.status == "skipped", count=2)
    assert {(row.chat_id, row.reason) for row in skipped} == {("w-3d", "zalo_window"), ("w-stale", "zalo_window")}
    [stale] = [row for row in skipped if row.chat_id == "w-stale"]
    assert stale.attempts == 1 and "-230" in (stale.error or "")  # tried: Zalo refused it with -230
    assert not any(sent.charged for sent in zalo.sent)


async def test_a_notice_photo_is_uploaded_once_and_sent_as_an_attachment(settings, zalo, aiohttp_client, sessions) -> None:
    (settings.data_dir / "notices").mkdir()
    (settings.data_dir / "notices" / "lich.jpg").write_bytes(JPEG)
    await add_citizens(sessions, zalo, ("p-1", True, timedelta(hours=1)), ("p-2", True, timedelta(hours=1)))
    now = utc_now()
    async with sessions() as session:
        await broadcasts.create_broadcast(session, texts={"vi": "Lịch họp thôn"}, target={}, send_at=now, now=now,
                                          author="test", image="notices/lich.jpg")
        await session.commit()
    await aiohttp_client(create_app(oa_settings(settings, zalo, quiet_hours="")))
    for user in ("p-1", "p-2"):
        [photo, *_rest] = await zalo.wait_for_messages(user, 1, timeout=20)
        [element] = photo.attachment["payload"]["elements"]  # type: ignore[index]
        assert photo.text.startswith("Lịch họp thôn") and zalo.uploads[element["attachment_id"]] == JPEG
    assert len(zalo.uploads) == 1


async def test_an_uploaded_photo_is_uploaded_again_before_zalo_forgets_it_after_7_days_or_when_it_did(
    settings, aiohttp_client, sessions,
) -> None:
    clock = FakeClock()
    (settings.data_dir / "notices").mkdir()
    (settings.data_dir / "notices" / "lich.jpg").write_bytes(JPEG)
    async with FakeZaloOA(clock=lambda: clock.now.timestamp()) as zalo:
        app = await aiohttp_client(create_app(oa_settings(settings, zalo, quiet_hours=""), clock=clock))

        async def notice(user: str) -> dict:
            """A notice with the photo to a citizen who wrote an hour ago; the attachment it went with."""
            await add_citizens(sessions, zalo, (user, True, timedelta(hours=1)), now=clock.now)
            async with sessions() as session:
                await broadcasts.create_broadcast(session, texts={"vi": "Lịch họp thôn"}, target={"areas": ["24169"]},
                                                  send_at=clock.now, now=clock.now, author="test", image="notices/lich.jpg")
                await session.commit()
            [photo] = await zalo.wait_for_messages(user, 1, timeout=20)
            [element] = photo.attachment["payload"]["elements"]  # type: ignore[index]
            async with sessions() as session:  # the next notice goes to the next citizen only
                [citizen] = (await session.exec(select(Citizen).where(Citizen.channel_user_id == user))).all()
                citizen.subscribed = False
                await session.commit()
            return element

        first = await notice("up-1")
        clock.now += timedelta(days=5)
        assert await notice("up-2") == first and len(zalo.uploads) == 1  # still known to Zalo: not uploaded again
        clock.now += timedelta(days=1, hours=1)  # six days on: uploaded again before Zalo forgets it (at 7)
        renewed = await notice("up-3")
        assert renewed != first and len(zalo.uploads) == 2 and zalo.expired_refusals == 0
        assert zalo.uploads[renewed["attachment_id"]] == JPEG

        zalo.expire_uploads()  # Zalo forgot it early: -100, uploaded again, the message sent once more
        again = await notice("up-4")
        assert again != renewed and len(zalo.uploads) == 3 and zalo.expired_refusals == 1
        await wait_rows(sessions, OutboxMessage, OutboxMessage.status == "sent", count=4)
        assert len(zalo.sent) == 4 and await rows(sessions, OutboxMessage, OutboxMessage.status != "sent") == []
        await app.close()


async def test_outbox_errors_are_mapped_for_the_sender(bot, zalo, sessions) -> None:
    await add_citizens(sessions, zalo, ("e-blocked", True, timedelta(hours=1)), ("e-busy", True, timedelta(hours=1)),
                       ("e-late", True, timedelta(hours=1)))
    citizens = {c.channel_user_id: c.id for c in await rows(sessions, Citizen)}

    async def queue(user: str) -> None:
        async with sessions() as session:
            await outbox.enqueue(session, channel="zalo_oa", chat_id=user, payload={"text": f"tin cho {user}"},
                                 now=utc_now(), citizen_id=citizens[user], priority=outbox.PRIORITY_REPLY)
            await session.commit()

    zalo.fail_next(-213)  # the user does not follow the OA
    await queue("e-blocked")
    [blocked] = await wait_rows(sessions, OutboxMessage, OutboxMessage.status == "failed")
    [citizen] = await rows(sessions, Citizen, Citizen.channel_user_id == "e-blocked")
    assert blocked.reason == "blocked" and citizen.unreachable_at is not None and citizen.subscribed is False

    zalo.fail_next(-1, http_status=500)
    await queue("e-busy")
    await zalo.wait_for_messages("e-busy", 1, timeout=20)  # retried after the backoff

    zalo.fail_next(-232)  # Zalo itself says the window is closed
    await queue("e-late")
    [late] = await wait_rows(sessions, OutboxMessage, OutboxMessage.status == "skipped")
    assert late.reason == "zalo_window" and late.chat_id == "e-late"


# ----- tokens ------------------------------------------------------------------------------------


async def stored_pair(sessions) -> ZaloOAToken:  # type: ignore[no-untyped-def]
    [pair] = await rows(sessions, ZaloOAToken)
    return pair


async def oauth(zalo: FakeZaloOA, refresh_token: str, *, secret_key: str | None = None) -> dict:
    """Spend a refresh token at the fake OAuth server directly (HTTP 200 whatever the outcome, as Zalo)."""
    async with aiohttp.ClientSession() as http, http.post(
        f"{zalo.base_url}/v4/oa/access_token", headers={"secret_key": secret_key or zalo.app_secret},
        data={"refresh_token": refresh_token, "app_id": zalo.app_id, "grant_type": "refresh_token"},
    ) as response:
        assert response.status == 200
        return await response.json()


async def test_an_invalid_access_token_is_refreshed_the_rotated_pair_stored_and_the_message_sent_again(
    settings, zalo, aiohttp_client, sessions,
) -> None:
    configured = oa_settings(settings, zalo, quiet_hours="")
    bot = await aiohttp_client(create_app(configured))
    first = await stored_pair(sessions)
    assert (first.access_token, first.refresh_token) == (configured.zalo_oa_access_token.get_secret_value(), configured.zalo_oa_refresh_token.get_secret_value())

    zalo.expire_access_tokens()
    attempts = zalo.send_attempts
    reply = await citizen_of(zalo, bot, "t-1").send("/menu")
    assert reply and zalo.send_attempts - attempts == len(reply) + 1  # refused with -216, then sent with the new token
    assert [call["refresh_token"] for call in zalo.oauth_calls] == [configured.zalo_oa_refresh_token.get_secret_value()]
    pair = await stored_pair(sessions)
    assert pair.access_token == zalo.messages_to("t-1")[0].access_token != first.access_token
    assert pair.refresh_token != first.refresh_token and pair.lease_until is None
    assert pair.expires_at is not None and timedelta(hours=24) < pair.expires_at - utc_now() <= timedelta(hours=25)
    assert (await oauth(zalo, first.refresh_token))["error"] == REUSED_REFRESH  # spent: single use

    zalo.fail_next(-216, times=5)  # a token Zalo keeps refusing: refreshed and retried once, not forever
    attempts, calls = zalo.send_attempts, len(zalo.oauth_calls)
    assert await deliver(zalo, bot, zalo.text_event("t-2", "/menu")) == 200
    assert (zalo.send_attempts - attempts, len(zalo.oauth_calls) - calls) == (2, 1)


def test_the_app_secret_and_the_oa_secret_key_are_two_settings_and_each_is_asked_for_by_name(tmp_path) -> None:
    old = {"ZALO_OA_APP_ID": APP_ID, "ZALO_OA_SECRET_KEY": "oa-secret-key-1", "ZALO_OA_REFRESH_TOKEN": "refresh-1"}
    env = {key: value for key, value in os.environ.items() if key.lower() not in Settings.model_fields}
    started = subprocess.run([sys.executable, "-m", "bot", "run"], cwd=tmp_path, capture_output=True, text=True,
                             env={**env, "PYTHONPATH": str(ROOT), **old}, timeout=60)
    assert started.returncode == 2 and started.stdout == ""
    [line] = started.stderr.splitlines()  # one line, naming the new variable and where its key is found
    assert line.startswith("configuration error: ZALO_OA_APP_SECRET: ") and "developers.zalo.me" in line
    assert "oa-secret-key-1" not in line and "refresh-1" not in line
    with pytest.raises(ConfigError, match="^configuration error: ZALO_OA_SECRET_KEY: .*webhook"):
        load_settings(_env_file=None, zalo_oa_app_id=APP_ID, zalo_oa_app_secret="app-secret-1",
                      zalo_oa_refresh_token="refresh-1")
    both = load_settings(_env_file=None, zalo_oa_app_id=APP_ID, zalo_oa_app_secret="app-secret-1",
                         zalo_oa_secret_key="oa-secret-key-1", zalo_oa_refresh_token="refresh-1")
    assert both.zalo_oa_enabled


async def test_the_refresh_sends_the_apps_secret_key_and_a_wrong_one_is_refused_as_zalo_does(
    settings, zalo, aiohttp_client, sessions, caplog,
) -> None:
    mixed_up = oa_settings(settings, zalo, zalo_oa_app_secret=zalo.secret_key)  # the OA's key where the app's belongs
    bot = await aiohttp_client(create_app(mixed_up))
    zalo.expire_access_tokens()
    assert await zalo.post(bot, zalo.text_event("s-1", "/menu")) == 200
    await zalo.wait_until(lambda: zalo.refused_secrets >= 1)
    answer = await oauth(zalo, mixed_up.zalo_oa_refresh_token.get_secret_value(), secret_key=zalo.secret_key)
    assert answer["error"] == INVALID_SECRET_KEY and answer["error_name"] == "Invalid secret key"
    assert "access_token" not in answer and "ref_doc" in answer  # Zalo's shape, with HTTP 200
    await zalo.wait_until(lambda: "ZALO_OA_APP_SECRET" in caplog.text, what=lambda: caplog.text[-2000:])
    assert (await (await bot.get("/healthz")).json())["zalo_oa"] == "app secret refused"
    assert zalo.refused_refreshes == 0 and zalo.sent == []
    assert mixed_up.zalo_oa_app_secret.get_secret_value() not in caplog.text
    await bot.close()

    right = mixed_up.model_copy(update={"zalo_oa_app_secret": zalo.app_secret})  # the stored refresh token is unspent
    fixed = await aiohttp_client(create_app(right))
    await citizen_of(zalo, fixed, "s-2").send("/menu")
    assert zalo.messages_to("s-2") and [call["refresh_token"] for call in zalo.oauth_calls][-1] == right.zalo_oa_refresh_token.get_secret_value()
    assert (await (await fixed.get("/healthz")).json())["zalo_oa"] == "ok"


async def test_a_restart_keeps_the_stored_pair_and_new_tokens_in_the_environment_replace_it(
    settings, zalo, aiohttp_client, sessions,
) -> None:
    configured = oa_settings(settings, zalo)
    first_app = await aiohttp_client(create_app(configured))
    zalo.expire_access_tokens()
    await citizen_of(zalo, first_app, "r-1").send("/menu")
    rotated = await stored_pair(sessions)
    await first_app.close()

    again = await aiohttp_client(create_app(configured))  # same environment: the stored successor is kept
    await citizen_of(zalo, again, "r-1").send("/menu")
    assert len(zalo.oauth_calls) == 1 and zalo.messages_to("r-1")[-1].access_token == rotated.access_token
    await again.close()

    renewed = oa_settings(settings, zalo)  # an administrator made a new pair
    third = await aiohttp_client(create_app(renewed))
    await citizen_of(zalo, third, "r-1").send("/menu")
    assert zalo.messages_to("r-1")[-1].access_token == renewed.zalo_oa_access_token.get_secret_value()
    assert (await stored_pair(sessions)).refresh_token == renewed.zalo_oa_refresh_token.get_secret_value()


async def test_concurrent_refreshes_make_one_call_to_zalo_in_one_process_and_across_processes(
    settings, zalo, aiohttp_client, sessions,
) -> None:
    configured = oa_settings(settings, zalo)
    bot = await aiohttp_client(create_app(configured))
    tokens = bot.app[keys.CHANNELS]["zalo_oa"].tokens
    stale = configured.zalo_oa_access_token.get_secret_value()
    zalo.expire_access_tokens()
    got = await asyncio.gather(*(tokens.refresh(stale) for _ in range(8)))
    assert len(set(got)) == 1 and len(zalo.oauth_calls) == 1

    # Two processes: each its own engine (its own connection) and its own in-process lock.
    stale = got[0]
    engines = [create_engine(settings.database_url) for _ in range(2)]
    async with aiohttp.ClientSession() as http:
        pair = [Tokens(session_factory(engine), configured, http, utc_now) for engine in engines]
        zalo.hold_oauth = asyncio.Event()  # keep the first call in flight while the other process asks
        first = asyncio.create_task(pair[0].refresh(stale))
        await zalo.wait_until(lambda: len(zalo.oauth_calls) == 2)
        second = asyncio.create_task(pair[1].refresh(stale))
        await asyncio.sleep(0.5)
        assert not second.done()  # waiting for the lease, not spending the same refresh token
        zalo.hold_oauth.set()
        assert await first == await second
    for engine in engines:
        await engine.dispose()
    assert len(zalo.oauth_calls) == 2 and zalo.refused_refreshes == 0


class FakeClock:
    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self) -> datetime:
        return self.now


async def test_the_access_token_is_refreshed_before_it_ends(settings, zalo, aiohttp_client, sessions) -> None:
    clock = FakeClock()
    configured = oa_settings(settings, zalo)
    bot = await aiohttp_client(create_app(configured, clock=clock))
    tokens = bot.app[keys.CHANNELS]["zalo_oa"].tokens
    assert await tokens.current() == configured.zalo_oa_access_token.get_secret_value()  # expiry unknown: used until Zalo refuses it
    zalo.expire_access_tokens()
    fresh = await tokens.refresh(configured.zalo_oa_access_token.get_secret_value())
    clock.now += timedelta(hours=24, minutes=55)  # 25 h tokens: 5 minutes left, within the margin
    assert len(zalo.oauth_calls) == 1
    renewed = await tokens.current()
    assert renewed != fresh and len(zalo.oauth_calls) == 2
    assert await tokens.current() == renewed and len(zalo.oauth_calls) == 2


# ----- a killed process --------------------------------------------------------------------------


class BotRun:
    """`python -m bot run` as a child process with the Zalo OA channel; each start logs to its own file."""

    def __init__(self, workdir: Path, settings: Settings) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.env = {key: value for key, value in os.environ.items() if key.lower() not in Settings.model_fields}
        self.env |= {
            "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "INFO",
            "DATABASE_URL": settings.database_url, "DATA_DIR": str(settings.data_dir), "SECRET_KEY": "k" * 40,
            "WEB_HOST": "127.0.0.1", "WEB_PORT": str(self.port), "QUIET_HOURS": "", "ADMIN_PASSWORD": "x" * 16,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.logs: list[Path] = []

    async def start(self, zalo_env: dict[str, object], *options: str) -> dict:
        """Start with these Zalo OA settings (and `run` options); wait for /healthz and return it."""
        env = {**self.env, **{name.upper(): str(value) for name, value in zalo_env.items()}}
        log = self.workdir / f"run-{len(self.logs) + 1}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "bot", "run", *options], cwd=self.workdir, env=env,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        return await self.health(timeout=30)

    async def health(self, timeout: float = 5) -> dict:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                assert self.proc is not None and self.proc.poll() is None, self.output()
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/healthz") as response:
                        if response.status == 200:
                            return await response.json()
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"not healthy within {timeout} s\n{self.output()}")

    async def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        while self.proc.poll() is None:
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            while self.proc.poll() is None:
                await asyncio.sleep(0.05)

    def output(self) -> str:
        return self.logs[-1].read_text(errors="replace")[-6000:] if self.logs else ""

    async def post(self, zalo: FakeZaloOA, event: dict) -> tuple[int, float]:
        """Deliver an event to the running bot's webhook as Zalo does: (status, seconds to the answer)."""
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{self.port}") as http:
            began = time.monotonic()
            status = await zalo.post(http, event)
            return status, time.monotonic() - began


async def queue_reply(sessions, zalo: FakeZaloOA, user: str) -> None:  # type: ignore[no-untyped-def]
    """A staff reply to a citizen who wrote an hour ago, waiting in the outbox."""
    await add_citizens(sessions, zalo, (user, True, timedelta(hours=1)))
    [citizen] = await rows(sessions, Citizen, Citizen.channel_user_id == user)
    async with sessions() as session:
        await outbox.enqueue(session, channel="zalo_oa", chat_id=user, payload={"text": "Dạ, cán bộ xã trả lời"},
                             now=utc_now(), citizen_id=citizen.id, priority=outbox.PRIORITY_REPLY)
        await session.commit()


async def test_killed_between_zalos_answer_and_the_commit_the_next_start_says_what_to_do(
    settings, zalo, sessions, tmp_path,
) -> None:
    await queue_reply(sessions, zalo, "k-1")
    run = BotRun(tmp_path, settings)
    first_env = zalo.settings()
    zalo.expire_access_tokens()  # the first send gets -216 and refreshes
    zalo.hold_oauth = asyncio.Event()
    try:
        await run.start(first_env)
        await asyncio.wait_for(zalo.rotated.wait(), 20)  # Zalo has spent the refresh token and made a new pair…
        await run.kill()  # …and the process dies before it could store it
        await Database(settings.database_url).holders_gone()
        pair = await stored_pair(sessions)
        assert (pair.access_token, pair.refresh_token) == (first_env["zalo_oa_access_token"], first_env["zalo_oa_refresh_token"])
        zalo.hold_oauth.set()

        health = await run.start(first_env)  # the stored refresh token is spent: refused, and said so
        await zalo.wait_until(lambda: zalo.refused_refreshes >= 1, timeout=20)
        health = await run.health()
        assert health["zalo_oa"] == "token refused", health
        log = run.output()
        assert "Zalo refused the stored refresh token" in log and "ZALO_OA_REFRESH_TOKEN" in log
        assert first_env["zalo_oa_refresh_token"] not in log and first_env["zalo_oa_access_token"] not in log
        assert zalo.messages_to("k-1") == []
        await run.stop()

        renewed = zalo.settings()  # new tokens from Zalo for Developers, in the environment
        await run.start(renewed)
        [reply] = await zalo.wait_for_messages("k-1", 1, timeout=30)
        assert reply.text == "Dạ, cán bộ xã trả lời" and (await run.health())["zalo_oa"] == "ok"
        assert "new tokens in the environment replace the stored pair" in run.output()
    finally:
        await run.stop()


async def test_killed_after_the_new_pair_was_stored_the_next_start_uses_it(settings, zalo, sessions, tmp_path) -> None:
    await queue_reply(sessions, zalo, "k-2")
    run = BotRun(tmp_path, settings)
    env = zalo.settings()
    zalo.expire_access_tokens()
    zalo.hold_sends = asyncio.Event()
    try:
        await run.start(env)
        await asyncio.wait_for(zalo.send_held.wait(), 20)  # refreshed, stored, and sending with the new token
        await run.kill()
        await Database(settings.database_url).holders_gone()
        pair = await stored_pair(sessions)
        stored = (pair.access_token, pair.refresh_token)
        assert stored != (env["zalo_oa_access_token"], env["zalo_oa_refresh_token"]) and len(zalo.oauth_calls) == 1
        zalo.hold_sends.set()
        await run.start(env)
        [reply] = await zalo.wait_for_messages("k-2", 1, timeout=30)
        assert reply.access_token == stored[0] and len(zalo.oauth_calls) == 1 and zalo.refused_refreshes == 0
    finally:
        await run.stop()


async def test_killed_with_events_stored_but_not_handled_the_next_start_handles_them_once(
    settings, zalo, sessions, tmp_path,
) -> None:
    run, db, user = BotRun(tmp_path, settings), Database(settings.database_url), "k-3"
    env = zalo.settings()
    first, second = zalo.text_event(user, "/menu"), zalo.text_event(user, "chuan ngheo la bao nhieu")
    keys_ = [f"user_send_text:{event['message']['msg_id']}" for event in (first, second)]
    try:
        await run.start(env)
        zalo.hold_sends = asyncio.Event()  # Zalo keeps the reply to the first event waiting…
        status, took = await run.post(zalo, first)
        assert status == 200 and took < 2.0, took
        await asyncio.wait_for(zalo.send_held.wait(), 20)
        status, took = await run.post(zalo, second)  # …and the second waits behind it, answered all the same
        assert status == 200 and took < 2.0, took
        stored = await db.query("SELECT key, done_at IS NULL, payload IS NOT NULL FROM zalo_inbox ORDER BY id")
        assert stored == [(keys_[0], 1, 1), (keys_[1], 1, 1)], stored
        await run.kill()
        await db.holders_gone()
        zalo.hold_sends.set()  # the dead process's send reaches nobody: nothing was delivered
        zalo.hold_sends = None
        await asyncio.sleep(0.2)
        assert zalo.sent == []

        await run.start(env)
        await zalo.wait_for_messages(user, 2, timeout=30)
        await asyncio.sleep(1.5)  # anything sent twice would come now
        texts = [sent.text or "" for sent in zalo.messages_to(user)]
        assert len([t for t in texts if "1.500.000" in t]) == 1 and "1.500.000" in texts[-1], texts
        assert len(texts) == 2, texts  # the menu, then the answer: each once, in the citizen's order
        done = await db.query("SELECT key, done_at IS NOT NULL, payload IS NULL FROM zalo_inbox ORDER BY id")
        assert done == [(keys_[0], 1, 1), (keys_[1], 1, 1)], done
        assert "2 event(s) received but not handled before" in run.output()
        assert (await run.post(zalo, second))[0] == 200  # Zalo delivers it again: only acknowledged
        await asyncio.sleep(1.0)
        assert len(zalo.messages_to(user)) == 2
    finally:
        await run.stop()


async def test_two_web_processes_handle_one_citizens_events_in_the_order_they_were_recorded(
    settings, zalo, tmp_path,
) -> None:
    """Behind the proxy, two `--role web` processes on PostgreSQL each get one of a citizen's two
    events at the same moment: the second waits until the first is handled, wherever it is."""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("SQLite runs one process")
    runs = [BotRun(tmp_path / name, settings) for name in ("a", "b")]
    user = "order-1"
    first, second = zalo.text_event(user, "/menu"), zalo.text_event(user, "chuan ngheo la bao nhieu")
    env = zalo.settings()
    try:
        for run in runs:
            run.workdir.mkdir()
            await run.start(env, "--role", "web")
        zalo.hold_sends = asyncio.Event()  # the first process's reply to the first event hangs…
        assert (await runs[0].post(zalo, first))[0] == 200
        await asyncio.wait_for(zalo.send_held.wait(), 20)
        assert (await runs[1].post(zalo, second))[0] == 200  # …when the second event reaches the other one
        await asyncio.sleep(1.5)
        assert zalo.send_attempts == 1, runs[1].output()  # the second process waits: nothing handled, nothing sent
        zalo.hold_sends.set()
        zalo.hold_sends = None
        await zalo.wait_for_messages(user, 2, timeout=30)
        texts = [sent.text or "" for sent in zalo.messages_to(user)]
        assert "1.500.000" not in texts[0] and "1.500.000" in texts[1], texts  # the menu, then the answer
        assert "waits for 1 earlier event(s) of its chat handled elsewhere" in runs[1].output()
    finally:
        for run in runs:
            await run.stop()


async def test_storage_contract_one_chats_events_wait_for_its_earlier_ones_in_another_process(db_url, settings) -> None:
    """On SQLite and (with TEST_POSTGRES_URL) PostgreSQL: two inboxes — each its own engine, lease
    holder and locks, as two processes — share the record. A chat's event waits for the chat's
    earlier event the other one handles, then runs; another chat's event is not held up."""
    engines = [create_engine(db_url) for _ in range(2)]
    holders = [Holder(engine) for engine in engines]
    for holder in holders:
        await holder.start()
    factories = [session_factory(engine, holder.info) for engine, holder in zip(engines, holders, strict=True)]
    seen: list[str] = []
    slow = asyncio.Event()

    async def handle(payload: dict) -> None:
        seen.append(f"start {payload['k']}")
        if payload["k"] == "m1":
            await slow.wait()
        seen.append(f"end {payload['k']}")

    inboxes = [Inbox(factory, "zalo_oa", handle, KeyedLocks(), utc_now, parallel=4, sweep_every=3600)
               for factory in factories]
    try:
        assert await inboxes[0].accept("m1", "u1", {"k": "m1"})
        assert await inboxes[1].accept("m2", "u1", {"k": "m2"})
        assert await inboxes[1].accept("other", "u2", {"k": "other"})
        assert await inboxes[0].accept("m3", "u1", {"k": "m3"})
        for _ in range(100):
            if "end other" in seen:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        assert seen == ["start m1", "start other", "end other"], seen  # m2 waits for m1, m3 for m2
        slow.set()
        for _ in range(200):
            if len(seen) == 8:
                break
            await asyncio.sleep(0.02)
        assert [step for step in seen if "other" not in step] == [
            "start m1", "end m1", "start m2", "end m2", "start m3", "end m3"], seen
        for inbox in inboxes:
            await inbox.idle()
        async with factories[0]() as session:
            assert await zalo_inbox.earlier_not_done(session, "zalo_oa", "u1", "m3") == []
    finally:
        slow.set()
        for inbox in inboxes:
            await inbox.stop()
        for holder in holders:
            await holder.stop()
        for engine in engines:
            await engine.dispose()


async def test_migration_0016_moves_the_keys_of_events_received_into_the_inbox_and_back(blank_url: str) -> None:
    """Keys zalo_oa_event held before the upgrade are still recognised after it (as handled events),
    and after going back; an event stored and not handled when going back keeps its key only."""
    old_events = sa.table("zalo_oa_event", sa.column("key", sa.String), sa.column("received_at", UTCDateTime()),
                          sa.column("handled_at", UTCDateTime()))
    inbox = sa.table("zalo_inbox", sa.column("key", sa.String), sa.column("channel", sa.String),
                     sa.column("chat_id", sa.String), sa.column("payload", sa.JSON), sa.column("received_at", UTCDateTime()),
                     sa.column("done_at", UTCDateTime()))
    t0 = datetime(2026, 12, 9, 8, 0, tzinfo=UTC)
    engine = create_engine(blank_url)

    async def run(statement):  # type: ignore[no-untyped-def]
        async with engine.begin() as connection:
            result = await connection.execute(statement)
            return [tuple(row) for row in result.all()] if result.returns_rows else []

    try:
        await asyncio.to_thread(upgrade, blank_url, "0015")
        await run(old_events.insert().values([
            {"key": "user_send_text:m1", "received_at": t0, "handled_at": t0 + timedelta(seconds=1)},
            {"key": "zalo_bot:b1", "received_at": t0, "handled_at": None},  # its process died while handling it
        ]))
        await engine.dispose()
        await asyncio.to_thread(upgrade, blank_url, "0016")
        moved = await run(sa.select(inbox.c.key, inbox.c.channel, inbox.c.payload, inbox.c.done_at).order_by(inbox.c.key))
        assert moved == [("user_send_text:m1", "zalo_oa", None, t0 + timedelta(seconds=1)), ("zalo_bot:b1", "zalo_bot", None, t0)]
        await run(inbox.insert().values(key="user_send_text:m2", channel="zalo_oa", chat_id="u1", payload={"x": 1},
                                        received_at=t0))
        await engine.dispose()
        await asyncio.to_thread(downgrade, blank_url, "0015")
        back = await run(sa.select(old_events.c.key, old_events.c.handled_at).order_by(old_events.c.key))
        assert back == [("user_send_text:m1", t0 + timedelta(seconds=1)), ("user_send_text:m2", t0), ("zalo_bot:b1", t0)]
        await engine.dispose()
        await asyncio.to_thread(upgrade, blank_url)
        assert len(await run(sa.select(inbox.c.key))) == 3
    finally:
        await engine.dispose()


async def test_storage_contract_one_refresh_and_one_handling_across_processes(db_url, settings, zalo) -> None:
    """On SQLite and (with TEST_POSTGRES_URL) PostgreSQL: two processes — each its own engine, lock
    and lease holder — refresh once between them; store a redelivered event once between them; leave
    an event the other one is handling alone while it runs and take it up once it is gone; keep a
    handled key three days."""
    configured = oa_settings(settings, zalo, database_url=db_url)
    engines = [create_engine(db_url) for _ in range(2)]
    holders = [Holder(engine) for engine in engines]
    for holder in holders:
        await holder.start()
    factories = [session_factory(engine, holder.info) for engine, holder in zip(engines, holders, strict=True)]
    try:
        async with aiohttp.ClientSession() as http:
            pair = [Tokens(factory, configured, http, utc_now) for factory in factories]
            await pair[0].seed(configured.zalo_oa_access_token.get_secret_value(), configured.zalo_oa_refresh_token.get_secret_value(), only_process=False)
            assert await pair[1].seed(configured.zalo_oa_access_token.get_secret_value(), configured.zalo_oa_refresh_token.get_secret_value(),
                                      only_process=False) == "kept"
            got = await asyncio.gather(*(tokens.refresh(configured.zalo_oa_access_token.get_secret_value()) for tokens in pair * 3))
        assert len(set(got)) == 1 and len(zalo.oauth_calls) == 1

        now = utc_now()

        async def take(factory, key: str, at: datetime) -> bool:  # type: ignore[no-untyped-def]
            async with factory() as session:
                taken = await zalo_inbox.take(session, key=key, channel="zalo_oa", chat_id="u1", payload={"k": key}, now=at)
                await session.commit()
                return taken

        async def left_over(factory, at: datetime) -> list[str]:  # type: ignore[no-untyped-def]
            async with factory() as session:
                found = await zalo_inbox.unfinished(session, "zalo_oa", at, starting=False)
                await session.commit()
                return [row.key for row in found]

        assert sorted(await asyncio.gather(*(take(factory, "user_send_text:m1", now) for factory in factories * 2))) == [
            False, False, False, True]
        later = now + zalo_inbox.LEASE + timedelta(seconds=1)  # the lease has run out
        if db_url.startswith("postgresql"):
            assert await left_over(factories[1], later) == []  # its holder runs: it may just be slow
            holding = await stored_holder(factories[0])
            owner = next(i for i, holder in enumerate(holders) if holder.number == holding)
            await holders[owner].stop()  # that process ends, its lock with it
            assert await left_over(factories[1 - owner], now) == ["user_send_text:m1"]  # taken at once
        else:
            assert await left_over(factories[1], now) == []  # one process: only a lease run out is free
            assert await left_over(factories[1], later) == ["user_send_text:m1"]
        assert await left_over(factories[0], later) == []  # taken: now the other process's
        async with factories[1]() as session:
            await zalo_inbox.mark_done(session, ["user_send_text:m1"], now)
            await session.commit()
        assert not await take(factories[0], "user_send_text:m1", later)  # a redelivery: only acknowledged
        async with factories[0]() as session:
            assert await zalo_inbox.prune(session, now + timedelta(days=2, hours=23)) == 0
            assert await zalo_inbox.prune(session, now + timedelta(days=3, seconds=1)) == 1
            await session.commit()
    finally:
        for holder in holders:
            await holder.stop()
        for engine in engines:
            await engine.dispose()


async def stored_holder(factory) -> int | None:  # type: ignore[no-untyped-def]
    async with factory() as session:
        [row] = (await session.exec(select(ZaloInboxRow))).all()
        return row.holder
