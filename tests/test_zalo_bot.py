"""The Zalo Bot API channel end to end, through the fake Zalo server and the whole app: polling and
webhook (answered within 2 seconds, handled from the inbox: once, in order, after a kill too, only
updates of the last day), numbered choices, photos both ways, 2000-character parts, notices from
the outbox."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web
from sqlmodel import select

from bot.app import create_app
from bot.channels.plain import text_parts
from bot.channels.zalo_bot import parse_update
from bot.media_links import MediaLinks
from handlers.engine import utc_now
from handlers.render import number_choices
from handlers.types import Button, Reply
from storage import broadcasts
from storage.models import Citizen, OutboxMessage, Ticket, TicketAttachment, ZaloInboxRow
from tests.drivers import ZaloBotDriver, joined, photo_in_feedback, zalo_bot_settings
from tests.fakes.zalo_bot import FakeZaloBot
from tests.zalo_notices import LONG_NOTICE, got_it_in_parts, queue_long_notice

CODE = re.compile(r"PA-[A-Z0-9]{6}")
JPEG = b"\xff\xd8\xff\xe0" + b"photo" * 200
WEBHOOK_URL = "https://bot.example.invalid/webhook/zalo-bot"
SECRET = "s3cret-Token_1"


@pytest.fixture
async def bot(settings, zalo, aiohttp_client):  # type: ignore[no-untyped-def]
    """The whole app polling the fake Zalo server."""
    return await aiohttp_client(create_app(zalo_bot_settings(settings, zalo, quiet_hours="")))


def citizen_driver(zalo: FakeZaloBot, bot, user_id: str = "zalo-user-1") -> ZaloBotDriver:  # type: ignore[no-untyped-def]
    from bot import keys

    return ZaloBotDriver(zalo, bot.app[keys.SESSIONS], user_id=user_id)


async def test_onboarding_by_numbers_and_by_labels_typed_without_diacritics(bot, zalo, sessions) -> None:
    citizen = citizen_driver(zalo, bot)
    await citizen.send("/start")
    assert "Xin chào bà con" in joined(citizen.last)
    consent = citizen.last[-1].text
    assert "\n1. ✅ Đồng ý\n2. Không, tôi chỉ hỏi đáp" in consent and "(Bà con gõ số để chọn.)" in consent
    assert ("✅ Đồng ý", "consent:yes") in citizen.last[-1].buttons
    await citizen.send("dong y")
    assert "ngôn ngữ nào" in citizen.last[-1].text
    await citizen.send("tieng viet")
    assert "xã/phường nào" in citizen.last[-1].text
    await citizen.send("ea kao")
    await citizen.send("2")
    assert "đã cài đặt xong" in citizen.last[-1].text

    async with sessions() as session:
        stored = (await session.exec(select(Citizen))).one()
    assert (stored.channel, stored.channel_user_id) == ("zalo_bot", "zalo-user-1")
    assert (stored.area_code, stored.household_status, stored.subscribed) == ("24169", "near_poor", True)
    assert zalo.calls("sendChatAction") and zalo.calls("sendChatAction")[0].params["action"] == "typing"


async def test_a_question_without_diacritics_is_answered_with_its_source(bot, zalo) -> None:
    shown = await citizen_driver(zalo, bot).send("chuan ngheo hien nay la bao nhieu")
    assert "1.500.000" in joined(shown) and "Nguồn: Nghị định 07/2021/NĐ-CP (27/01/2021)" in joined(shown)


async def test_a_complaint_with_a_photo_keeps_the_photo_on_the_ticket(bot, zalo, sessions, settings) -> None:
    citizen = citizen_driver(zalo, bot)
    await citizen.send("/phananh")
    await citizen.press("Khiếu nại")
    await citizen.press("Rà soát")
    await citizen.send("Nhà tôi thiếu 3 chỉ số nhưng không được đưa vào danh sách hộ nghèo.")
    await citizen.send_photo(JPEG, caption="ảnh giấy tờ")
    assert "đã nhận 1 ảnh" in citizen.last[-1].text
    await citizen.press("Xong")
    await citizen.press("Bỏ qua")
    await citizen.send("ea kao")
    await citizen.press("Ghi tên tôi")
    assert "Ảnh: 1" in citizen.last[-1].text
    await citizen.press("Gửi")
    code = CODE.search(joined(citizen.last))
    assert code, joined(citizen.last)

    async with sessions() as session:
        ticket = (await session.exec(select(Ticket).where(Ticket.code == code.group()))).one()
        [photo] = (await session.exec(select(TicketAttachment).where(TicketAttachment.ticket_id == ticket.id))).all()
    assert (ticket.kind, ticket.area_code) == ("complaint", "24169")
    assert (settings.data_dir / photo.path).read_bytes() == JPEG


async def test_a_photo_too_large_or_not_a_photo_is_refused_with_a_reason(settings, zalo, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(zalo_bot_settings(settings, zalo, media_max_bytes=500)))
    citizen = citizen_driver(zalo, client)
    await photo_in_feedback(citizen, JPEG)
    assert "tệp này lớn quá" in joined(citizen.last)
    await citizen.send_photo(b"GIF89a not a photo we keep")
    assert "JPEG, PNG" in joined(citizen.last)


async def test_sticker_and_unsupported_messages_are_answered_politely(bot, zalo) -> None:
    zalo.user_sends_sticker("zalo-user-2")
    [reply] = await zalo.wait_for_messages("zalo-user-2", 1)
    assert "nhãn dán" in reply.text and "gõ câu hỏi bằng chữ" in reply.text
    zalo.user_sends_unsupported("zalo-user-2")
    replies = await zalo.wait_for_messages("zalo-user-2", 2)
    assert "chưa đọc được loại tin nhắn này" in replies[1].text and "không dấu" in replies[1].text
    zalo.push_update(zalo.make_update("message.link.received", "zalo-user-2"))  # a kind added after this was written
    replies = await zalo.wait_for_messages("zalo-user-2", 3)
    assert "chưa đọc được loại tin nhắn này" in replies[2].text


async def test_a_notice_reaches_zalo_subscribers_in_parts_and_its_button_works_by_number(bot, zalo, sessions) -> None:
    now = utc_now()
    async with sessions() as session:
        for user, subscribed in (("zalo-a", True), ("zalo-b", True), ("zalo-c", False)):
            session.add(Citizen(channel="zalo_bot", channel_user_id=user, area_code="24169", household_status="poor",
                                locale="vi", subscribed=subscribed, consent_at=now, created_at=now, last_seen_at=now))
        await session.commit()
    await queue_long_notice(sessions)

    await got_it_in_parts(zalo, ("zalo-a", "zalo-b"))
    assert zalo.messages_to("zalo-c") == []

    citizen = citizen_driver(zalo, bot, "zalo-a")
    await citizen.send("1")
    assert "không nhận thông báo nữa" in joined(citizen.last)
    async with sessions() as session:
        stored = (await session.exec(select(Citizen).where(Citizen.channel_user_id == "zalo-a"))).one()
    assert stored.subscribed is False


async def test_a_notice_with_a_stored_photo_goes_as_an_expiring_link(settings, zalo, aiohttp_client, sessions) -> None:
    image = settings.data_dir / "notices" / "lich-hop.jpg"
    image.parent.mkdir(parents=True)
    image.write_bytes(JPEG)
    now = utc_now()
    async with sessions() as session:
        session.add(Citizen(channel="zalo_bot", channel_user_id="zalo-p", area_code="24169", locale="vi",
                            subscribed=True, consent_at=now, created_at=now, last_seen_at=now))
        await broadcasts.create_broadcast(session, texts={"vi": "Lịch họp thôn"}, target={}, send_at=now, now=now,
                                          author="test", image="notices/lich-hop.jpg")
        await session.commit()
    client = await aiohttp_client(create_app(zalo_bot_settings(
        settings, zalo, quiet_hours="", public_base_url="https://caunoi.example.gov.vn")))
    [photo, *_rest] = await zalo.wait_for_messages("zalo-p", 1, timeout=20)
    assert photo.method == "sendPhoto" and photo.params["caption"].startswith("Lịch họp thôn")
    link = urlsplit(photo.params["photo"])
    assert link.netloc == "caunoi.example.gov.vn" and link.path.startswith("/media/") and "lich-hop" not in link.path
    served = await client.get(link.path)
    assert served.status == 200 and await served.read() == JPEG and served.headers["Content-Type"] == "image/jpeg"
    token = link.path.removeprefix("/media/")
    for forged in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "x.y", token.split(".")[0]):
        assert (await client.get(f"/media/{forged}")).status == 404


async def test_without_a_public_address_the_photo_becomes_a_note(settings, zalo, aiohttp_client, sessions) -> None:
    (settings.data_dir / "anh.jpg").write_bytes(JPEG)
    now = utc_now()
    async with sessions() as session:
        session.add(Citizen(channel="zalo_bot", channel_user_id="zalo-n", locale="vi", subscribed=True,
                            consent_at=now, created_at=now, last_seen_at=now))
        await broadcasts.create_broadcast(session, texts={"vi": "Có ảnh"}, target={}, send_at=now, now=now,
                                          author="test", image="anh.jpg")
        await session.commit()
    await aiohttp_client(create_app(zalo_bot_settings(settings, zalo, quiet_hours="")))
    [message] = await zalo.wait_for_messages("zalo-n", 1, timeout=20)
    assert message.method == "sendMessage" and "Có ảnh" in message.text and "chưa hiển thị được" in message.text


def test_media_links_expire_and_stay_inside_the_data_folder(tmp_path) -> None:
    (tmp_path / "a.jpg").write_bytes(JPEG)
    (tmp_path / "secret.txt").write_text("no")
    links = MediaLinks("key", tmp_path, "https://x.example")
    now = utc_now()
    token = links.token("a.jpg", now + timedelta(minutes=5))
    assert links.resolve(token, now) == (tmp_path / "a.jpg").resolve()
    assert links.resolve(token, now + timedelta(minutes=6)) is None
    assert MediaLinks("other key", tmp_path, "").resolve(token, now) is None
    assert links.resolve(links.token("secret.txt", now + timedelta(minutes=5)), now) is None
    assert links.resolve(links.token("../a.jpg", now + timedelta(minutes=5)), now) is None
    assert links.url_for("missing.jpg", now) is None and MediaLinks("key", tmp_path, "").url_for("a.jpg", now) is None


async def test_outbox_errors_are_mapped_for_the_sender(bot, zalo, sessions) -> None:
    now = utc_now()
    async with sessions() as session:
        for user in ("zalo-busy", "zalo-gone"):
            session.add(Citizen(channel="zalo_bot", channel_user_id=user, area_code="24169", locale="vi",
                                subscribed=True, consent_at=now, created_at=now, last_seen_at=now))
        await session.commit()
    zalo.fail_next("sendMessage", 429, "Too Many Requests", retry_after=1)
    async with sessions() as session:
        await broadcasts.create_broadcast(session, texts={"vi": "Thông báo"}, target={"areas": ["24169"]},
                                          send_at=now, now=now, author="test")
        await session.commit()
    await zalo.wait_for_messages("zalo-busy", 1, timeout=20)
    await zalo.wait_for_messages("zalo-gone", 1, timeout=20)
    assert len([call for call in zalo.calls_made if call[0] == "sendMessage"]) == 3  # one refused with 429, then both

    zalo.fail_next("sendMessage", 403, "Forbidden: the user blocked the bot", times=5)
    async with sessions() as session:
        await broadcasts.create_broadcast(session, texts={"vi": "Thông báo 2"}, target={"areas": ["24169"]},
                                          send_at=now, now=now, author="test")
        await session.commit()
    for _ in range(100):
        async with sessions() as session:
            rows = (await session.exec(select(OutboxMessage).where(OutboxMessage.status == "failed"))).all()
        if rows:
            break
        await asyncio.sleep(0.2)
    async with sessions() as session:
        blocked = (await session.exec(select(Citizen).where(Citizen.unreachable_at.is_not(None)))).all()  # type: ignore[union-attr]
    assert blocked and all(not citizen.subscribed for citizen in blocked)


async def test_empty_polls_and_network_errors_are_not_errors(settings, zalo, aiohttp_client, caplog) -> None:
    caplog.set_level(logging.INFO)
    zalo.drop_next("getUpdates")
    await aiohttp_client(create_app(zalo_bot_settings(settings, zalo)))
    for _ in range(50):
        if zalo.empty_polls >= 3:
            break
        await asyncio.sleep(0.1)
    assert zalo.empty_polls >= 3
    zalo.user_sends("zalo-user-3", "/menu")
    await zalo.wait_for_messages("zalo-user-3", 1)
    zalo_logs = [r for r in caplog.records if r.name.startswith("bot.channels.zalo_bot")]
    assert not [r for r in zalo_logs if r.levelno >= logging.ERROR]
    warnings = [r.getMessage() for r in zalo_logs if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "getUpdates failed" in warnings[0], warnings


async def test_polling_deletes_a_webhook_left_from_before(settings, zalo, aiohttp_client) -> None:
    zalo.webhook = {"url": WEBHOOK_URL, "secret_token": SECRET}
    await aiohttp_client(create_app(zalo_bot_settings(settings, zalo)))
    assert zalo.webhook is None and zalo.calls("deleteWebhook")
    zalo.user_sends("zalo-user-4", "/menu")
    await zalo.wait_for_messages("zalo-user-4", 1)


async def delivered(client, update: dict) -> int:  # type: ignore[no-untyped-def]
    """POST an update to the webhook as Zalo does, then wait until the bot has handled what it stored."""
    from bot import keys

    response = await client.post("/webhook/zalo-bot", json=update, headers={"X-Bot-Api-Secret-Token": SECRET})
    await client.app[keys.CHANNELS]["zalo_bot"].inbox.idle()
    return response.status


@pytest.fixture
async def webhook(settings, zalo, aiohttp_client):  # type: ignore[no-untyped-def]
    """The whole app with the Zalo Bot API channel in webhook mode."""
    return await aiohttp_client(create_app(zalo_bot_settings(
        settings, zalo, zalo_bot_webhook_url=WEBHOOK_URL, zalo_bot_webhook_secret=SECRET)))


async def test_webhook_mode_handles_both_body_shapes(webhook, zalo) -> None:
    assert zalo.webhook == {"url": WEBHOOK_URL, "secret_token": SECRET} and not zalo.calls("getUpdates")
    flat = zalo.make_update("message.text.received", "zalo-w1", text="/start")
    assert await delivered(webhook, flat) == 200
    assert "Xin chào bà con" in zalo.messages_to("zalo-w1")[0].text

    wrapped = zalo.make_update("message.text.received", "zalo-w2", text="chuan ngheo la bao nhieu", wrapped=True)
    assert await delivered(webhook, wrapped) == 200 and "1.500.000" in zalo.messages_to("zalo-w2")[-1].text


async def test_the_webhook_answers_within_2_seconds_however_slow_the_sends_and_replies_keep_their_order(
    webhook, zalo, sessions,
) -> None:
    zalo.slow("sendMessage", 5.0)  # every message the bot sends takes Zalo 5 seconds
    answered = []
    for text in ("/menu", "chuan ngheo la bao nhieu"):
        began = asyncio.get_running_loop().time()
        response = await webhook.post("/webhook/zalo-bot", json=zalo.make_update("message.text.received", "zalo-slow", text=text),
                                      headers={"X-Bot-Api-Secret-Token": SECRET})
        assert response.status == 200
        answered.append(asyncio.get_running_loop().time() - began)
    assert max(answered) < 2.0, answered
    async with sessions() as session:
        assert len((await session.exec(select(ZaloInboxRow))).all()) == 2  # recorded before the answer
    replies = await zalo.wait_for_messages("zalo-slow", 2, timeout=30)
    assert "1.500.000" not in replies[0].text and "1.500.000" in replies[-1].text


async def test_webhook_updates_of_the_last_day_are_handled_once_older_or_future_ones_refused(webhook, zalo) -> None:
    hour = 3600_000

    def stamped(user: str, offset_ms: int) -> dict:
        update = zalo.make_update("message.text.received", user, text="chuan ngheo la bao nhieu")
        update["message"]["date"] += offset_ms
        return update

    late = stamped("zalo-late", -hour)
    assert await delivered(webhook, late) == 200 and "1.500.000" in zalo.messages_to("zalo-late")[-1].text
    assert await delivered(webhook, late) == 200 and len(zalo.messages_to("zalo-late")) == 1  # sent again: once
    assert await delivered(webhook, stamped("zalo-day", -23 * hour)) == 200 and zalo.messages_to("zalo-day")
    for user, offset in (("zalo-old", -25 * hour), ("zalo-future", 6 * 60_000)):
        assert await delivered(webhook, stamped(user, offset)) == 403
        assert zalo.messages_to(user) == []


async def test_a_redelivered_webhook_event_is_answered_once(webhook, zalo, sessions) -> None:
    update = zalo.make_update("message.text.received", "zalo-w9", text="chuan ngheo la bao nhieu")
    assert await delivered(webhook, update) == 200
    assert await delivered(webhook, update) == 200
    assert await asyncio.gather(*(delivered(webhook, update) for _ in range(3))) == [200] * 3
    assert len(zalo.messages_to("zalo-w9")) == 1
    other = zalo.make_update("message.text.received", "zalo-w9", text="/menu")
    assert await delivered(webhook, other) == 200
    assert len(zalo.messages_to("zalo-w9")) == 2
    async with sessions() as session:
        stored = (await session.exec(select(ZaloInboxRow).order_by(ZaloInboxRow.id))).all()
    assert [(row.key, row.channel, row.chat_id) for row in stored] == [
        (f"zalo_bot:{update['message']['message_id']}", "zalo_bot", "zalo-w9"),
        (f"zalo_bot:{other['message']['message_id']}", "zalo_bot", "zalo-w9")]
    assert all(row.done_at is not None and row.payload is None for row in stored)


async def test_webhook_with_a_wrong_secret_or_body_is_refused_and_nothing_processed(settings, zalo, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(create_app(zalo_bot_settings(
        settings, zalo, zalo_bot_webhook_url=WEBHOOK_URL, zalo_bot_webhook_secret=SECRET)))
    update = zalo.make_update("message.text.received", "zalo-w3", text="/start")
    for headers in ({"X-Bot-Api-Secret-Token": "wrong-secret"}, {}, {"X-Bot-Api-Secret-Token": SECRET + "x"}):
        assert (await client.post("/webhook/zalo-bot", json=update, headers=headers)).status == 403
    for body in (b"{not json", b'{"ok": true}', b"[]"):
        response = await client.post("/webhook/zalo-bot", data=body, headers={"X-Bot-Api-Secret-Token": SECRET})
        assert response.status == 400
    assert zalo.messages_to("zalo-w3") == []
    async with sessions() as session:
        assert (await session.exec(select(Citizen))).all() == []


async def test_webhook_route_is_404_when_off_or_polling(settings, zalo, aiohttp_client) -> None:
    polling = await aiohttp_client(create_app(zalo_bot_settings(settings, zalo)))
    assert (await polling.post("/webhook/zalo-bot", json={}, headers={"X-Bot-Api-Secret-Token": SECRET})).status == 404
    off = await aiohttp_client(create_app(settings))
    assert (await off.post("/webhook/zalo-bot", json={})).status == 404


def test_updates_are_validated_at_the_edge() -> None:
    message = {"from": {"id": "u1", "display_name": "Chị Hoa"}, "chat": {"id": "u1", "chat_type": "PRIVATE"},
               "text": "xin chào", "message_id": "m1", "date": 1766619597466}
    parsed = parse_update({"event_name": "message.text.received", "message": message})
    assert parsed is not None and (parsed.user_id, parsed.text, parsed.display_name) == ("u1", "xin chào", "Chị Hoa")
    assert parsed.sent_at is not None and parsed.sent_at.year == 2025
    assert parse_update({"ok": True, "result": {"event_name": "message.text.received", "message": message}}) == parsed
    group = {**message, "chat": {"id": "g1", "chat_type": "GROUP"}}
    assert parse_update({"event_name": "message.text.received", "message": group}) is None
    assert parse_update({"event_name": "user.follow", "message": message}) is None
    for bad in ({}, {"event_name": "message.text.received"}, {"event_name": "x", "message": {"from": {}}}, []):
        with pytest.raises(ValueError):
            parse_update(bad)


def test_plain_rendering_numbers_from_any_start_and_splits_at_2000() -> None:
    reply = Reply("Tin", buttons=((Button("A", "a"),), (Button("B", "b"),)))
    assert number_choices(reply, "Gõ số để chọn.", first=3).text == "Tin\n\n3. A\n4. B\n\n(Gõ số để chọn.)"
    parts = text_parts(LONG_NOTICE, 2000)
    assert len(parts) == 3 and all(len(p) <= 2000 and p.endswith(".") for p in parts)


async def test_start_up_waits_for_zalo_and_stops_on_a_refused_token(settings, zalo, aiohttp_client) -> None:
    from bot.channels.zalo_bot import ZaloApiError

    zalo.drop_next("getMe")
    zalo.fail_next("getWebhookInfo", 502, "Bad Gateway")
    await aiohttp_client(create_app(zalo_bot_settings(settings, zalo)))
    zalo.user_sends("zalo-user-5", "/menu")
    await zalo.wait_for_messages("zalo-user-5", 1, timeout=15)
    refused = web.AppRunner(create_app(zalo_bot_settings(settings, zalo, zalo_bot_token="1:wrong-token")))
    try:
        with pytest.raises(ZaloApiError, match="401"):
            await refused.setup()
    finally:
        await refused.cleanup()  # what `python -m bot run` does after a failed start: the database is let go


async def test_killed_with_webhook_updates_stored_but_not_handled_the_next_start_handles_them_once(
    settings, zalo, tmp_path,
) -> None:
    import os
    import socket

    from bot.config import Settings
    from tests.test_crash import ROOT, BotProcess, Database

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {key: value for key, value in os.environ.items() if key.lower() not in Settings.model_fields}
    env.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", DATABASE_URL=settings.database_url,
               DATA_DIR=str(settings.data_dir), SECRET_KEY="k" * 40, WEB_HOST="127.0.0.1", WEB_PORT=str(port),
               ZALO_BOT_TOKEN=zalo.token, ZALO_BOT_BASE_URL=zalo.base_url, ZALO_BOT_WEBHOOK_URL=WEBHOOK_URL,
               ZALO_BOT_WEBHOOK_SECRET=SECRET, LOG_LEVEL="INFO")
    bot = BotProcess(tmp_path, env, port, healthy='"status": "ok"', name="zalo-bot")
    db, user = Database(settings.database_url), "zalo-k1"
    first = zalo.make_update("message.text.received", user, text="/menu")
    second = zalo.make_update("message.text.received", user, text="chuan ngheo la bao nhieu")
    keys = [f"zalo_bot:{update['message']['message_id']}" for update in (first, second)]

    async def post(update: dict) -> tuple[int, float]:
        async with aiohttp.ClientSession() as http:
            began = asyncio.get_running_loop().time()
            async with http.post(f"http://127.0.0.1:{port}/webhook/zalo-bot", json=update,
                                 headers={"X-Bot-Api-Secret-Token": SECRET}) as response:
                return response.status, asyncio.get_running_loop().time() - began

    try:
        await bot.start()
        held = zalo.hold("sendMessage")  # Zalo keeps the reply to the first update waiting…
        status, took = await post(first)
        assert status == 200 and took < 2.0, took
        await asyncio.wait_for(held.wait(), 20)
        status, took = await post(second)  # …and the second waits behind it, answered all the same
        assert status == 200 and took < 2.0, took
        stored = await db.query("SELECT key, done_at IS NULL, payload IS NOT NULL FROM zalo_inbox ORDER BY id")
        assert stored == [(keys[0], 1, 1), (keys[1], 1, 1)], stored
        await bot.kill()
        await db.holders_gone()
        zalo.release("sendMessage")  # the dead process's call reaches nobody: nothing was delivered
        await asyncio.sleep(0.2)
        assert zalo.messages_to(user) == []

        await bot.start()
        await zalo.wait_for_messages(user, 2, timeout=30)
        await asyncio.sleep(1.5)  # anything sent twice would come now
        texts = [sent.text or "" for sent in zalo.messages_to(user)]
        assert len(texts) == 2 and "1.500.000" not in texts[0] and "1.500.000" in texts[1], texts
        done = await db.query("SELECT key, done_at IS NOT NULL, payload IS NULL FROM zalo_inbox ORDER BY id")
        assert done == [(keys[0], 1, 1), (keys[1], 1, 1)], done
        assert (await post(second))[0] == 200  # Zalo sends it again: only acknowledged
        await asyncio.sleep(1.0)
        assert len(zalo.messages_to(user)) == 2
    finally:
        bot.kill_now()
