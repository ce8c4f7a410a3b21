"""Platform outages: the fake Telegram and Zalo Bot API servers answer 500s, close connections
without an answer, or (Telegram) leave requests unanswered until the bot gives up, for a while.

Messages citizens send meanwhile are not lost (Telegram keeps them until the next offset confirms
them; Zalo until a getUpdates returns them), each is answered once and in order when the platform is
back; outbox messages are retried; replies Telegram or Zalo (Bot API and Official Account) refused
for a while go out through the outbox, and those refused for good do not; and the bot recovers by
itself, with no restart.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.app import create_app
from bot.channels import zalo_bot
from bot.sender import MAX_ATTEMPTS, Sender, SendRetry
from handlers.engine import utc_now
from storage import outbox
from storage.models import OutboxMessage, OutboxStatus
from tests.conftest import telegram_settings
from tests.drivers import TelegramDriver, ZaloBotDriver, ZaloOADriver, joined, numbered_buttons
from tests.waiting import until

NOTICE = "Thông báo: họp dân tại nhà văn hoá thôn lúc 8 giờ sáng thứ Bảy."
RECOVERY = 45.0  # generous: after a long outage the bot's backoff may wait up to 30 s before its next try


def numbers(texts: list[str | None]) -> list[str]:
    """"07" from each answer to the unknown command /lenh07; "notice" for the notice."""
    return ["notice" if text == NOTICE else (text or "").split("lệnh /lenh")[1].split(".")[0] for text in texts]


async def queue_notice(sessions, channel: str, chat_id: str) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        await outbox.enqueue(session, channel=channel, chat_id=chat_id, payload={"text": NOTICE}, now=utc_now(),
                             priority=outbox.PRIORITY_REPLY)
        await session.commit()


async def outbox_rows(sessions, timeout: float = 10.0) -> list[tuple[str, str, int]]:  # type: ignore[no-untyped-def]
    """The outbox once the sender has recorded what it sent: the server has a message just before its row says so."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with sessions() as session:
            found = [(m.chat_id, m.status, m.attempts) for m in (await session.exec(select(OutboxMessage))).all()]
        if all(status == "sent" for _, status, _ in found) or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("kind", ["500", "reset", "timeout"])
async def test_telegram_outage_loses_nothing_and_the_bot_recovers_by_itself(kind, settings, tg, aiohttp_client, sessions) -> None:
    await aiohttp_client(create_app(telegram_settings(settings, tg)))
    await TelegramDriver(tg, user_id=701).send("/lenh00")

    tg.outage(kind)
    await until(lambda: "getUpdates" in tg.outage_hits, "a poll during the outage")  # not one begun before it
    for user, number in ((701, 1), (702, 1), (701, 2)):
        tg.user_sends(user, f"/lenh{number:02d}")
    await queue_notice(sessions, "telegram", "703")
    await until(
        lambda: tg.outage_hits.count("getUpdates") >= 2 and "sendMessage" in tg.outage_hits
        and (kind != "timeout" or "getUpdates" in tg.outage_abandoned),
        "failed polls and a failed delivery",
    )
    assert tg.pending_updates == 3, "messages sent during the outage were dropped"
    tg.restore()

    await tg.wait_for_messages(701, 3, timeout=RECOVERY)
    await tg.wait_for_messages(702, 1, timeout=RECOVERY)
    await tg.wait_for_messages(703, 1, timeout=RECOVERY)
    await asyncio.sleep(0.5)
    assert numbers([s.text for s in tg.messages_to(701)]) == ["00", "01", "02"]
    assert numbers([s.text for s in tg.messages_to(702)]) == ["01"]
    assert numbers([s.text for s in tg.messages_to(703)]) == ["notice"]
    [(chat, status, attempts)] = await outbox_rows(sessions)
    assert (chat, status) == ("703", "sent") and attempts >= 2, (chat, status, attempts)


async def test_a_reply_telegram_refuses_goes_out_through_the_outbox_when_it_is_back(settings, tg, aiohttp_client, sessions) -> None:
    await aiohttp_client(create_app(telegram_settings(settings, tg)))
    tg.outage("500", methods={"sendMessage"})
    tg.user_sends(711, "/lenh05")
    await until(lambda: "sendMessage" in tg.outage_hits, "the reply to fail")
    await until(lambda: tg.pending_updates == 0, "the message to be confirmed")
    tg.restore()

    await tg.wait_for_messages(711, 1, timeout=RECOVERY)
    await asyncio.sleep(0.5)
    assert numbers([s.text for s in tg.messages_to(711)]) == ["05"]
    assert [(chat, status) for chat, status, _ in await outbox_rows(sessions)] == [("711", "sent")]


@pytest.mark.parametrize("kind", ["500", "reset"])
async def test_zalo_bot_outage_loses_nothing_and_the_bot_recovers_by_itself(kind, settings, aiohttp_client, sessions) -> None:
    driver = await ZaloBotDriver.start(settings, aiohttp_client)
    zalo = driver.zalo
    await driver.send("/lenh00")

    zalo.outage(kind)
    await until(lambda: "getUpdates" in zalo.outage_hits, "a poll during the outage")  # not one begun before it
    for user, number in (("z1", 1), ("z2", 1), ("z1", 2)):
        zalo.user_sends(user, f"/lenh{number:02d}")
    await queue_notice(sessions, zalo_bot.CHANNEL, "z3")
    await until(lambda: zalo.outage_hits.count("getUpdates") >= 2 and "sendMessage" in zalo.outage_hits,
                "failed polls and a failed delivery")
    zalo.restore()

    await zalo.wait_for_messages("z1", 2, timeout=RECOVERY)
    await zalo.wait_for_messages("z2", 1, timeout=RECOVERY)
    await zalo.wait_for_messages("z3", 1, timeout=RECOVERY)
    await asyncio.sleep(0.5)
    assert numbers([s.text for s in zalo.messages_to("z1")]) == ["01", "02"]
    assert numbers([s.text for s in zalo.messages_to("z2")]) == ["01"]
    assert numbers([s.text for s in zalo.messages_to("z3")]) == ["notice"]
    [(chat, status, attempts)] = await outbox_rows(sessions)
    assert (chat, status) == ("z3", "sent") and attempts >= 2, (chat, status, attempts)


CONSENT = [("✅ Đồng ý", "1"), ("Không, tôi chỉ hỏi đáp", "2")]


async def queued(sessions, count: int, timeout: float = 10.0) -> list[str | None]:  # type: ignore[no-untyped-def]
    """The dedupe keys of the outbox once it holds `count` messages."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with sessions() as session:
            keys = [m.dedupe_key for m in (await session.exec(select(OutboxMessage).order_by(OutboxMessage.id))).all()]
        if len(keys) >= count:
            return keys
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{len(keys)} of {count} messages queued in the outbox")
        await asyncio.sleep(0.05)


def assert_welcome_once(texts: list[str | None]) -> None:
    """/start's two replies, each once, the consent's choices numbered once. Not necessarily in order:
    a queued reply the outbox must retry goes out after the next one."""
    assert len(texts) == 2, texts
    [greeting] = [text for text in texts if "Xin chào bà con" in (text or "")]
    [consent] = [text or "" for text in texts if text is not greeting]
    assert numbered_buttons(consent) == CONSENT and consent.count("(Bà con gõ số để chọn.)") == 1, consent


async def test_a_reply_zalo_bot_refuses_goes_out_through_the_outbox_when_it_is_back(settings, aiohttp_client, sessions) -> None:
    driver = await ZaloBotDriver.start(settings, aiohttp_client)
    zalo, citizen = driver.zalo, ZaloBotDriver(driver.zalo, driver.sessions, user_id="z11")
    zalo.outage("500", methods={"sendMessage"})
    update = zalo.user_sends("z11", "/start")
    message_id = update["message"]["message_id"]
    assert await queued(sessions, 2) == [f"zalo_bot:reply:{message_id}:0", f"zalo_bot:reply:{message_id}:1"]
    await until(lambda: zalo.outage_hits.count("sendMessage") >= 2, "the outbox to try during the outage too")
    assert zalo.messages_to("z11") == []
    zalo.restore()

    await zalo.wait_for_messages("z11", 2, timeout=RECOVERY)
    await asyncio.sleep(0.5)
    assert_welcome_once([s.text for s in zalo.messages_to("z11")])
    assert [(chat, status) for chat, status, _ in await outbox_rows(sessions)] == [("z11", "sent"), ("z11", "sent")]
    await citizen.send("1")  # the queued reply's first choice, by its number
    assert "ngôn ngữ nào" in joined(citizen.last)


async def test_a_reply_zalo_bot_refuses_for_good_is_not_queued(settings, aiohttp_client, sessions) -> None:
    driver = await ZaloBotDriver.start(settings, aiohttp_client)
    zalo = driver.zalo
    zalo.fail_next("sendMessage", 403, "Forbidden: the user blocked the bot")
    zalo.user_sends("z12", "/lenh07")
    await until(lambda: any(method == "sendMessage" for method, _ in zalo.calls_made), "the refused reply")
    # The citizen's next message is handled only after the first one, under the same lock.
    await ZaloBotDriver(zalo, driver.sessions, user_id="z12").send("/lenh08")
    await asyncio.sleep(0.5)
    assert numbers([s.text for s in zalo.messages_to("z12")]) == ["08"]
    assert await outbox_rows(sessions) == []


async def test_a_reply_zalo_oa_refuses_goes_out_through_the_outbox_when_it_is_back(settings, aiohttp_client, sessions) -> None:
    citizen = await ZaloOADriver.start(settings, aiohttp_client)
    zalo, user = citizen.zalo, citizen.user_id
    zalo.outage(500)
    event = zalo.text_event(user, "/start")
    assert await zalo.post(citizen.client, event) == 200  # answered once handled
    key = f"user_send_text:{event['message']['msg_id']}"
    assert await queued(sessions, 2) == [f"zalo_oa:reply:{key}:0", f"zalo_oa:reply:{key}:1"]
    await zalo.wait_until(lambda: zalo.outage_hits >= 2, what=lambda: "the outbox to try during the outage too")
    assert zalo.messages_to(user) == []
    zalo.restore()

    await zalo.wait_for_messages(user, 2, timeout=RECOVERY)
    await asyncio.sleep(0.5)
    assert_welcome_once([s.text for s in zalo.messages_to(user)])
    assert [(chat, status) for chat, status, _ in await outbox_rows(sessions)] == [(user, "sent"), (user, "sent")]
    await citizen.send("1")  # the queued reply's first choice, by its number
    assert "ngôn ngữ nào" in joined(citizen.last)


async def test_a_reply_zalo_oa_refuses_for_good_is_not_queued(settings, aiohttp_client, sessions) -> None:
    citizen = await ZaloOADriver.start(settings, aiohttp_client)
    zalo = citizen.zalo
    zalo.fail_next(-213)  # the user does not follow the OA
    assert await citizen.send("/lenh07") == []  # answered once handled
    assert zalo.send_attempts == 1
    assert await outbox_rows(sessions) == []


async def test_the_outbox_keeps_retrying_through_an_outage_of_hours(sessions) -> None:
    now = [utc_now()]
    tries: list[object] = []

    async def platform_down(chat_id: str, replies: list) -> None:  # type: ignore[type-arg]
        tries.append(now[0])
        raise SendRetry("502 Bad Gateway")

    sender = Sender(sessions, "telegram", platform_down, lambda: now[0], per_chat=1000.0)
    await queue_notice(sessions, "telegram", "721")
    now[0] = began = utc_now()
    while True:
        assert await sender.drain_once() == 1
        async with sessions() as session:
            [message] = (await session.exec(select(OutboxMessage))).all()
        if message.status != OutboxStatus.pending:
            break
        now[0] = message.next_attempt_at
    assert (message.status, message.attempts, len(tries)) == (OutboxStatus.failed, MAX_ATTEMPTS, MAX_ATTEMPTS)
    assert now[0] - began > timedelta(hours=3), f"gave up after {now[0] - began} of failures"
