"""Telegram-specific behaviour: webhook mode, restarts, commands, per-citizen ordering."""

from __future__ import annotations

from sqlmodel import select

from bot.app import create_app
from storage.models import Citizen
from tests.conftest import telegram_settings
from tests.drivers import TelegramDriver, joined

WEBHOOK_URL = "https://bot.example.invalid/webhook/telegram"
SECRET = "s3cret-Token_1"


async def test_webhook_mode_registers_and_processes_with_the_right_secret(settings, tg, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(
        create_app(telegram_settings(settings, tg, telegram_webhook_url=WEBHOOK_URL, telegram_webhook_secret=SECRET))
    )
    assert tg.webhook is not None and tg.webhook.url == WEBHOOK_URL and tg.webhook.secret_token == SECRET
    assert not tg.calls("getUpdates")

    update = tg.make_message_update(77, "/start")
    response = await client.post("/webhook/telegram", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert response.status == 200
    replies = tg.messages_to(77)
    assert len(replies) == 2 and "Xin chào bà con" in replies[0].text


async def test_webhook_with_wrong_or_missing_secret_is_refused_and_nothing_processed(
    settings, tg, aiohttp_client, sessions
) -> None:
    client = await aiohttp_client(
        create_app(telegram_settings(settings, tg, telegram_webhook_url=WEBHOOK_URL, telegram_webhook_secret=SECRET))
    )
    update = tg.make_message_update(78, "/start")
    for headers in ({"X-Telegram-Bot-Api-Secret-Token": "wrong"}, {}, {"X-Telegram-Bot-Api-Secret-Token": SECRET + "x"}):
        response = await client.post("/webhook/telegram", json=update, headers=headers)
        assert response.status == 403
    malformed = await client.post(
        "/webhook/telegram", data=b"{not json", headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    )
    assert malformed.status == 400
    assert tg.messages_to(78) == []
    async with sessions() as session:
        assert (await session.exec(select(Citizen))).all() == []


async def test_webhook_route_is_404_in_polling_mode_and_without_telegram(settings, tg, aiohttp_client) -> None:
    polling = await aiohttp_client(create_app(telegram_settings(settings, tg)))
    assert (await polling.post("/webhook/telegram", json={})).status == 404
    web_only = await aiohttp_client(create_app(settings))
    assert (await web_only.post("/webhook/telegram", json={})).status == 404


async def test_restart_in_the_middle_of_onboarding_continues_where_it_was(settings, tg, aiohttp_client, sessions) -> None:
    driver = TelegramDriver(tg)
    first = await aiohttp_client(create_app(telegram_settings(settings, tg)))
    await driver.send("/start")
    await driver.press("Đồng ý")
    assert "ngôn ngữ nào" in driver.last[-1].text
    await first.close()

    await aiohttp_client(create_app(telegram_settings(settings, tg)))
    await driver.press("Tiếng Việt")
    assert "xã/phường nào" in driver.last[-1].text
    await driver.send("Ea Kao")
    assert "đã lưu: phường Ea Kao" in joined(driver.last)
    async with sessions() as session:
        citizen = (await session.exec(select(Citizen))).one()
    assert citizen.consent_at is not None and citizen.area_code == "24169"
    assert sum("Xin chào bà con" in s.text for s in tg.messages_to(driver.user_id)) == 1


async def test_commands_are_registered_in_vietnamese_and_english(settings, tg, aiohttp_client) -> None:
    await aiohttp_client(create_app(telegram_settings(settings, tg)))
    vietnamese = {c["command"] for c in tg.my_commands("")}
    english = {c["command"] for c in tg.my_commands("en")}
    assert {"menu", "trogiup", "caidat", "dangky", "huydangky", "huy", "xoadulieu"} <= vietnamese
    assert {"menu", "help", "settings", "subscribe", "unsubscribe", "cancel", "deletemydata"} <= english


async def test_messages_of_one_citizen_are_answered_in_order(settings, tg, aiohttp_client) -> None:
    await aiohttp_client(create_app(telegram_settings(settings, tg, flood_burst=0)))  # 25 at once: flood control would hold replies
    commands = [f"/lenh{i:02d}" for i in range(25)]
    for command in commands:
        tg.user_sends(501, command)
        tg.user_sends(502, command)
    for chat in (501, 502):
        await tg.wait_for_messages(chat, len(commands), timeout=20)
        seen = [s.text.split("lệnh ")[1].split(".")[0] for s in tg.messages_to(chat)]
        assert seen == commands


async def test_group_chats_and_edits_are_ignored(settings, tg, aiohttp_client) -> None:
    await aiohttp_client(create_app(telegram_settings(settings, tg)))
    group = tg.make_message_update(900, "/start")
    group["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "Xóm"}
    tg.push_update(group)
    tg.user_sends(901, "/menu")
    await tg.wait_for_messages(901, 1)
    assert tg.messages_to(-100123) == []


async def test_a_photo_sent_first_is_kept_and_a_report_begins(settings, tg, aiohttp_client) -> None:
    await aiohttp_client(create_app(telegram_settings(settings, tg)))
    tg.user_sends_photo(903, b"\xff\xd8\xff fake jpeg")
    [reply] = await tg.wait_for_messages(903, 1)
    assert "Đã giữ 1 ảnh cho phản ánh" in reply.text and "muốn gửi gì" in reply.text
    assert list((settings.data_dir / "media").rglob("*.jpg"))


async def test_very_long_message_is_read_up_to_the_limit_with_a_note(settings, tg, aiohttp_client) -> None:
    await aiohttp_client(create_app(telegram_settings(settings, tg)))
    driver = TelegramDriver(tg, user_id=904)
    update = tg.make_message_update(904, "a" * 4096)
    update["message"]["text"] = "ă" * 5000
    start = tg.mark()
    tg.push_update(update)
    await tg.wait_for(lambda s: str(s.chat_id) == "904" and "4096" in (s.text or ""), start=start)
    await driver.send("/menu")
    assert driver.last


async def test_vietnamese_is_used_until_the_citizen_picks_english(settings, tg, aiohttp_client) -> None:
    await aiohttp_client(create_app(telegram_settings(settings, tg)))
    driver = TelegramDriver(tg, user_id=905, language_code="en")
    await driver.send("/start")
    assert "Xin chào bà con" in driver.last[0].text
    await driver.press("Đồng ý")
    await driver.press("English")
    assert "Which commune or ward" in driver.last[-1].text
