"""Self-test of the fake Telegram Bot API, driven by a real python-telegram-bot Application."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, TypeAlias

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.fakes.telegram import FakeTelegram, buttons

AnyApp: TypeAlias = Application[Any, Any, Any, Any, Any, Any]

USER = 4242
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    keyboard = InlineKeyboardMarkup(
        [[
            InlineKeyboardButton("Có", callback_data="yes"),
            InlineKeyboardButton("Không", callback_data="no"),
        ]]
    )
    assert update.effective_message is not None
    await update.effective_message.reply_text("Xin chào! Bạn cần hỗ trợ?", reply_markup=keyboard)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None and update.effective_message.text is not None
    await update.effective_message.reply_text(update.effective_message.text)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer("Đã nhận")
    await query.edit_message_text(f"Bạn chọn: {query.data}")


async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    assert message is not None and message.photo
    data = await (await message.photo[-1].get_file()).download_as_bytearray()
    await message.reply_text(f"Nhận ảnh {len(data)} byte: {message.caption}")


def build_app(fake: FakeTelegram, token: str | None = None) -> AnyApp:
    app = (
        ApplicationBuilder()
        .token(token or fake.token)
        .base_url(fake.base_url)
        .base_file_url(fake.base_file_url)
        .build()
    )
    app.add_handler(CommandHandler("start", on_start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
    app.add_handler(MessageHandler(filters.PHOTO, on_photo))
    app.add_handler(CallbackQueryHandler(on_button))
    return app


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as tg:
        yield tg


@pytest.fixture
async def app(fake: FakeTelegram) -> AsyncIterator[AnyApp]:
    application = build_app(fake)
    await application.initialize()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0, timeout=1)
    await application.start()
    try:
        yield application
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()


async def raw_call(
    fake: FakeTelegram, method: str, token: str | None = None, **params: object
) -> tuple[int, dict[str, Any]]:
    """POST a JSON body straight to the fake, bypassing PTB."""
    url = f"{fake.base_url}{token or fake.token}/{method}"
    async with aiohttp.ClientSession() as session, session.post(url, json=params) as response:
        body: dict[str, Any] = await response.json()
        return response.status, body


async def test_echo(fake: FakeTelegram, app: AnyApp) -> None:
    fake.user_sends(USER, "Tôi cần hỗ trợ vay vốn")
    (reply,) = await fake.wait_for_messages(USER, 1)
    assert reply.method == "sendMessage"
    assert reply.text == "Tôi cần hỗ trợ vay vốn"
    assert reply.result["from"]["username"] == "caunoi_test_bot"
    assert reply.result["chat"] == {"id": USER, "first_name": "Test", "type": "private"}


async def test_command_and_button(fake: FakeTelegram, app: AnyApp) -> None:
    fake.user_sends(USER, "/start")
    greeting = await fake.wait_for(lambda s: s.method == "sendMessage" and s.chat_id == USER)
    assert greeting.text == "Xin chào! Bạn cần hỗ trợ?"
    assert buttons(greeting) == [("Có", "yes"), ("Không", "no")]
    assert greeting.result["reply_markup"] == greeting.reply_markup

    fake.user_presses(USER, "yes")
    answer = await fake.wait_for(lambda s: s.method == "answerCallbackQuery")
    assert answer.text == "Đã nhận"
    assert answer.chat_id == USER
    edit = await fake.wait_for(lambda s: s.method == "editMessageText")
    assert edit.text == "Bạn chọn: yes"
    assert edit.params["message_id"] == greeting.result["message_id"]
    current = fake.last_message(USER)
    assert current is not None and current["text"] == "Bạn chọn: yes"
    assert "reply_markup" not in current
    assert [s.method for s in fake.messages_to(USER)] == ["sendMessage", "editMessageText"]


async def test_press_checks_button_exists(fake: FakeTelegram, app: AnyApp) -> None:
    with pytest.raises(ValueError, match="has not sent"):
        fake.user_presses(USER, "yes")
    fake.user_sends(USER, "/start")
    await fake.wait_for_messages(USER, 1)
    with pytest.raises(AssertionError, match="no button"):
        fake.user_presses(USER, "maybe")


async def test_user_photo_is_downloadable(fake: FakeTelegram, app: AnyApp) -> None:
    fake.user_sends_photo(USER, PNG, caption="giấy tờ")
    (reply,) = await fake.wait_for_messages(USER, 1)
    assert reply.text == f"Nhận ảnh {len(PNG)} byte: giấy tờ"
    assert fake.calls("getFile")


async def test_send_photo_upload_and_params(fake: FakeTelegram, app: AnyApp) -> None:
    message = await app.bot.send_photo(USER, photo=PNG, caption="ảnh", filename="a.png")
    (sent,) = fake.calls("sendPhoto")
    assert sent.params["photo"].data == PNG
    assert sent.params["photo"].filename == "a.png"
    assert sent.text == "ảnh"
    assert message.caption == "ảnh" and message.photo[-1].file_size == len(PNG)
    assert fake.file_bytes(message.photo[-1].file_id) == PNG

    by_id = await app.bot.send_photo(USER, photo=message.photo[-1].file_id)
    assert fake.calls("sendPhoto")[-1].params["photo"] == message.photo[-1].file_id
    assert by_id.photo[-1].file_id == message.photo[-1].file_id


async def test_param_decoding(fake: FakeTelegram, app: AnyApp) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="123")]])
    await app.bot.send_message(USER, "123", reply_markup=markup, disable_notification=True)
    sent = fake.calls("sendMessage")[-1]
    assert sent.params["text"] == "123"
    assert sent.params["chat_id"] == USER
    assert sent.params["disable_notification"] is True
    assert sent.reply_markup == {"inline_keyboard": [[{"text": "A", "callback_data": "123"}]]}

    status, body = await raw_call(fake, "sendMessage", chat_id=str(USER), text="true")
    assert status == 200 and body["result"]["text"] == "true"
    assert fake.calls("sendMessage")[-1].chat_id == USER


async def test_real_api_errors(fake: FakeTelegram, app: AnyApp) -> None:
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await app.bot.send_message(USER, "x" * 4097)
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="x" * 65)]])
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await app.bot.send_message(USER, "hi", reply_markup=too_long)
    message = await app.bot.send_message(USER, "hi")
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await app.bot.edit_message_text("hi", chat_id=USER, message_id=message.message_id)
    fake.block(USER)
    with pytest.raises(Forbidden, match="blocked"):
        await app.bot.send_message(USER, "hi")
    assert len(fake.failed) == 4


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_fail_next(fake: FakeTelegram, app: AnyApp) -> None:
    fake.fail_next("sendMessage", 429, retry_after=1)
    with pytest.raises(RetryAfter) as refused:
        await app.bot.send_message(USER, "một")
    assert refused.value.retry_after in (1, timedelta(seconds=1))  # a timedelta once PTB_TIMEDELTA is set
    assert (await app.bot.send_message(USER, "hai")).text == "hai"
    fake.fail_next("sendMessage", 403, times=2)
    for _ in range(2):
        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await app.bot.send_message(USER, "ba")
    await app.bot.send_message(USER, "bốn")
    assert [s.text for s in fake.messages_to(USER)] == ["hai", "bốn"]


async def test_wrong_token_and_unknown_method(fake: FakeTelegram) -> None:
    assert await raw_call(fake, "getMe", token="999:WRONG") == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    assert await raw_call(fake, "noSuchMethod") == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
    app = build_app(fake, token="999:WRONG")
    with pytest.raises(InvalidToken):
        await app.initialize()
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        assert (await bot.get_me()).username == "caunoi_test_bot"


async def test_long_poll_semantics(fake: FakeTelegram) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(raw_call(fake, "getUpdates", timeout=3))
    await asyncio.sleep(0.1)
    update = fake.user_sends(USER, "xin chào")
    status, body = await poll
    assert status == 200 and body["result"] == [update]
    assert time.monotonic() - started < 1

    assert fake.pending_updates == 1
    _, body = await raw_call(fake, "getUpdates", offset=update["update_id"] + 1, timeout=0)
    assert body["result"] == [] and fake.pending_updates == 0

    first, second = fake.user_sends(USER, "1"), fake.user_sends(USER, "2")
    _, body = await raw_call(fake, "getUpdates", limit=1)
    assert body["result"] == [first]
    _, body = await raw_call(fake, "getUpdates", offset=-1)
    assert body["result"] == [second] and fake.pending_updates == 1


async def test_max_poll_wait_and_stop_end_long_polls() -> None:
    async with FakeTelegram(max_poll_wait=0.2) as fake:
        started = time.monotonic()
        assert (await raw_call(fake, "getUpdates", timeout=30))[1]["result"] == []
        assert time.monotonic() - started < 1

    fake = FakeTelegram()
    await fake.start()
    poll = asyncio.create_task(raw_call(fake, "getUpdates", timeout=30))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await fake.stop()
    assert (await poll)[1]["result"] == []
    assert time.monotonic() - started < 1


async def test_webhook(fake: FakeTelegram) -> None:
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        await bot.set_webhook(
            "https://example.org/tg",
            secret_token="s3cret",
            allowed_updates=["message", "callback_query"],
        )
        assert fake.webhook is not None and fake.webhook.secret_token == "s3cret"
        assert fake.webhook.allowed_updates == ["message", "callback_query"]
        info = await bot.get_webhook_info()
        assert info.url == "https://example.org/tg"
        assert info.allowed_updates == ("message", "callback_query")
        with pytest.raises(Conflict):
            await bot.get_updates()
        update = fake.make_message_update(USER, "/start thamso")
        assert update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
        assert fake.pending_updates == 0
        assert await bot.delete_webhook()
        assert fake.webhook is None and (await bot.get_webhook_info()).url == ""


async def test_commands(fake: FakeTelegram) -> None:
    from telegram import BotCommand, BotCommandScopeAllPrivateChats

    async with Bot(fake.token, base_url=fake.base_url) as bot:
        await bot.set_my_commands([BotCommand("start", "Bắt đầu")], language_code="vi")
        await bot.set_my_commands(
            [BotCommand("help", "Help")], scope=BotCommandScopeAllPrivateChats(), language_code="en"
        )
        assert fake.my_commands("vi") == [{"command": "start", "description": "Bắt đầu"}]
        assert fake.my_commands("en", {"type": "all_private_chats"})[0]["command"] == "help"
        assert [c.command for c in await bot.get_my_commands(language_code="vi")] == ["start"]
        assert await bot.get_my_commands() == ()
        await bot.delete_my_commands(language_code="vi")
        assert fake.my_commands("vi") == []
        with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
            await bot.set_my_commands([BotCommand("Bad-Name", "x")])
        assert await bot.send_chat_action(USER, "typing")
        assert await bot.close() and await bot.log_out()


async def test_app_stops_quickly_during_long_poll(fake: FakeTelegram) -> None:
    application = build_app(fake)
    await application.initialize()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0, timeout=30)
    await application.start()
    fake.user_sends(USER, "ping")
    await fake.wait_for_messages(USER, 1)
    await asyncio.sleep(0.2)  # let the next long poll start and hang
    started = time.monotonic()
    await application.updater.stop()
    await application.stop()
    await application.shutdown()
    assert time.monotonic() - started < 1.5
    assert fake.pending_updates == 0  # the final getUpdates confirmed everything


async def test_wait_for_reports_what_was_sent(fake: FakeTelegram, app: AnyApp) -> None:
    await app.bot.send_message(USER, "thứ gì đó")
    with pytest.raises(AssertionError, match="thứ gì đó"):
        await fake.wait_for(lambda s: s.text == "khác", timeout=0.2)


async def test_press_on_older_message(fake: FakeTelegram, app: AnyApp) -> None:
    fake.user_sends(USER, "/start")
    fake.user_sends(USER, "/start")
    first, second = await fake.wait_for_messages(USER, 2)
    mark = fake.mark()
    update = fake.user_presses(USER, "no", message=first.result)
    assert update["callback_query"]["message"]["message_id"] == first.result["message_id"]
    edit = await fake.wait_for(lambda s: s.method == "editMessageText", start=mark)
    assert edit.params["message_id"] == first.result["message_id"] != second.result["message_id"]


async def test_attach_uri_and_custom_method(fake: FakeTelegram) -> None:
    from telegram import InputMediaPhoto

    fake.set_method("sendMediaGroup", lambda params: [])
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        await bot.send_media_group(USER, [InputMediaPhoto(PNG), InputMediaPhoto(b"second")])
    (sent,) = fake.calls("sendmediagroup")
    assert [item["media"].data for item in sent.params["media"]] == [PNG, b"second"]


async def test_post_to_webhook(fake: FakeTelegram) -> None:
    received: list[dict[str, Any]] = []
    fake.set_method("hook", received.append)
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        await bot.set_webhook(f"{fake.base_url}{fake.token}/hook", secret_token="s3cret")
    update = fake.make_message_update(USER, "qua webhook")
    assert await fake.post_to_webhook(update) == 200
    assert received == [update]
