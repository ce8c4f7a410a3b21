"""The bot's python-telegram-bot requests on aiohttp's client: calls, uploads and downloads reach the
fake Bot API as the library's own httpx client sends them, and every way a request can fail becomes
the library's TimedOut or NetworkError, so retries and outage handling stay the same."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, NetworkError, TimedOut

from bot.channels.telegram_http import AiohttpRequest
from tests.fakes.telegram import FakeTelegram


async def started(request: AiohttpRequest, tg: FakeTelegram) -> Bot:
    bot = Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url, request=request, get_updates_request=AiohttpRequest())
    await bot.initialize()
    return bot


async def test_calls_uploads_and_downloads_reach_the_bot_api(tg: FakeTelegram, tmp_path) -> None:
    bot = await started(AiohttpRequest(4), tg)
    try:
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("Có ích", callback_data="faq:up:1")]])
        message = await bot.send_message(42, "Dạ, chuẩn nghèo là 1.500.000 đồng/người/tháng", reply_markup=markup)
        assert message.text == "Dạ, chuẩn nghèo là 1.500.000 đồng/người/tháng" and message.chat.id == 42
        photo = await bot.send_photo(42, b"\x89PNG fake bytes", caption="Áp phích", reply_markup=markup)
        [sent_text, sent_photo] = tg.sent[-2:]
        assert sent_text.reply_markup == markup.to_dict() and sent_text.params["chat_id"] == 42
        assert sent_photo.params["photo"].data == b"\x89PNG fake bytes" and sent_photo.params["caption"] == "Áp phích"
        assert photo.photo and sent_photo.reply_markup == markup.to_dict()
        stored = tg.add_file(b"voice bytes", kind="voice", ext="ogg")
        file = await bot.get_file(stored["file_id"])
        assert await file.download_as_bytearray() == bytearray(b"voice bytes")
        with pytest.raises(BadRequest):  # the API's own errors still come through as before
            await bot.send_message(42, "x" * 5000)
    finally:
        await bot.shutdown()


@pytest.mark.parametrize(("kind", "error"), [("500", NetworkError), ("reset", NetworkError), ("timeout", TimedOut)])
async def test_each_kind_of_outage_is_the_error_the_library_retries_on(tg: FakeTelegram, kind: str, error: type) -> None:
    bot = await started(AiohttpRequest(4, read_timeout=0.3), tg)
    try:
        tg.outage(kind)
        with pytest.raises(error):
            await bot.send_message(42, "xin chào")
        tg.restore()
        assert (await bot.send_message(42, "xin chào")).text == "xin chào"
    finally:
        tg.restore()
        await bot.shutdown()


class SilentServer:
    """A server that accepts requests and never answers, counting what reaches it."""

    def __init__(self) -> None:
        self.received = 0
        self.url = ""


@pytest.fixture
async def silent_server() -> AsyncIterator[SilentServer]:
    server = SilentServer()

    async def hang(request: web.Request) -> web.Response:
        server.received += 1
        await asyncio.sleep(3600)
        return web.Response()

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hang)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.url = f"http://127.0.0.1:{port}"
    yield server
    await runner.cleanup()


async def test_a_full_pool_times_out_without_sending_and_a_silent_server_after_the_read_timeout(
    silent_server: SilentServer,
) -> None:
    # The read timeout is far longer than pool + connect (0.4 s), so the waiting request cannot get
    # the connection back from the first one before its own wait ends, however busy the machine is.
    request = AiohttpRequest(1, read_timeout=3.0, pool_timeout=0.2, connect_timeout=0.2)
    await request.initialize()
    try:
        first = asyncio.create_task(request.post(f"{silent_server.url}/botX/sendMessage"))
        for _ in range(200):  # until the first request holds the only connection
            if silent_server.received:
                break
            await asyncio.sleep(0.01)
        assert silent_server.received == 1
        started_at = time.monotonic()
        with pytest.raises(TimedOut):
            await request.post(f"{silent_server.url}/botX/sendMessage")  # no free connection
        assert time.monotonic() - started_at < 2.5, "waited for the first request's read timeout"
        assert silent_server.received == 1 and not first.done()  # the second was never sent
        with pytest.raises(TimedOut):
            await first
    finally:
        await request.shutdown()


async def test_an_unreachable_server_is_a_network_error_and_an_unstarted_client_says_so() -> None:
    request = AiohttpRequest(connect_timeout=1.0)
    with pytest.raises(NetworkError, match="not initialized"):
        await request.post("http://127.0.0.1:9/botX/getMe")
    await request.initialize()
    try:
        with pytest.raises(NetworkError):
            await request.post("http://127.0.0.1:9/botX/getMe")  # port 9: nothing listens
    finally:
        await request.shutdown()
