"""Telegram channel on python-telegram-bot: long polling, or webhook on our own aiohttp server.

Updates come in through the inbox table (`bot.channels.telegram_receiver`), not PTB's Updater."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import re
import uuid
from collections.abc import Awaitable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import web
from telegram import (
    BotCommand,
    BotCommandScopeDefault,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, ApplicationBuilder, BaseUpdateProcessor, ContextTypes, TypeHandler

from bot.channels.base import Kind, Route, SendLimits, token_key, webhook_secret_rules
from bot.channels.handled import DATABASE_ERRORS
from bot.channels.telegram_http import AiohttpRequest
from bot.channels.telegram_receiver import DatabaseUnavailable, Receiver
from bot.channels.unsent import send_in_turn
from bot.channels.uploads import Uploads, data_file
from bot.config import Settings
from bot.ordering import KeyedLocks
from bot.sender import RateLimited, SendBlocked, SendError, SendFailed, SendRetry
from handlers.engine import Engine
from handlers.render import split_text
from handlers.types import Attachment, Capabilities, Incoming, Location, Reply
from storage.files import private_dir, private_file

log = logging.getLogger(__name__)
# python-telegram-bot 22 gives durations such as `RetryAfter.retry_after` as a timedelta once this is
# set, and warns at every read until then; the code here reads either.
os.environ.setdefault("PTB_TIMEDELTA", "true")

CHANNEL = "telegram"
CAPABILITIES = Capabilities(buttons=True, max_text=4096, images=True)
CAPTION_LIMIT = 1024
# Telegram shows a button's label on one line and cuts what does not fit; handlers give whole labels
# (other channels show them whole), so longer ones are shortened here, at a word, with "…".
BUTTON_LABEL_LIMIT = 60
ACCEPTED = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "audio/ogg": ".ogg",
    "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a",
    "audio/x-m4a": ".m4a",
}
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # nosec B105  # a header name, not a secret
SEND_CONNECTIONS = 256  # python-telegram-bot's own default for its httpx client
WEBHOOK_WAIT = 10.0  # a webhook answer waits this long for the handling (it is stored before anyway)
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
COMMANDS = {
    "vi": [
        ("menu", "Menu chính"),
        ("trogiup", "Trợ giúp và các lệnh"),
        ("caidat", "Cài đặt: ngôn ngữ, xã/phường, tình trạng hộ"),
        ("dangky", "Nhận thông báo"),
        ("huydangky", "Ngừng nhận thông báo"),
        ("huy", "Thoát thao tác đang làm"),
        ("xoadulieu", "Xoá dữ liệu của tôi"),
    ],
    "en": [
        ("menu", "Main menu"),
        ("help", "Help and commands"),
        ("settings", "Settings: language, commune, household"),
        ("subscribe", "Receive notices"),
        ("unsubscribe", "Stop notices"),
        ("cancel", "Leave what you are doing"),
        ("deletemydata", "Delete my data"),
    ],
}


class PerCitizenProcessor(BaseUpdateProcessor):
    """Runs updates of different citizens concurrently and those of one citizen in order."""

    def __init__(self, max_concurrent_updates: int, locks: KeyedLocks) -> None:
        super().__init__(max_concurrent_updates)
        self.locks = locks

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Wait for the citizen's earlier updates, then process this one."""
        user = update.effective_user if isinstance(update, Update) else None
        async with self.locks.hold((CHANNEL, user.id if user else None)):
            await coroutine

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to free."""


def to_incoming(update: Update) -> Incoming | None:
    """The neutral form of a Telegram update, or None for what the bot ignores (groups, edits)."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None or chat.type != chat.PRIVATE or user.is_bot:
        return None
    incoming = partial(
        Incoming,
        channel=CHANNEL,
        user_id=str(user.id),
        display_name=user.full_name,
        language_hint=user.language_code,
    )
    if update.callback_query is not None:
        return incoming(action=update.callback_query.data or "")
    message = update.message
    if message is None:
        return None
    return incoming(
        text=message.text or message.caption,
        attachments=_attachments(message),
        location=Location(message.location.latitude, message.location.longitude) if message.location else None,
        message_id=str(message.message_id),
    )


def _attachments(message: Message) -> tuple[Attachment, ...]:
    """Files in a message, largest photo size only."""
    found: list[Attachment] = []
    if message.photo:
        photo = message.photo[-1]
        found.append(Attachment("photo", photo.file_id, "image/jpeg", photo.file_size))
    for kind in ("voice", "audio", "document", "video", "video_note", "sticker"):
        media = getattr(message, kind)
        if media is not None:
            found.append(Attachment(kind, media.file_id, getattr(media, "mime_type", None), media.file_size))
    return tuple(found)


def sender_error(error: TelegramError) -> SendError:
    """The outbox sender's kind of a Bot API error: 429 waits, "blocked by the user" is unreachable,
    network trouble is retried, a bad request (a subclass of NetworkError here) and the rest are permanent."""
    if isinstance(error, RetryAfter):
        wait = error.retry_after
        return RateLimited(wait.total_seconds() if isinstance(wait, timedelta) else float(wait), str(error))
    if isinstance(error, Forbidden):
        return SendBlocked(str(error))
    if isinstance(error, BadRequest):
        return SendFailed(str(error))
    if isinstance(error, NetworkError):
        return SendRetry(str(error))
    return SendFailed(str(error))


def _for_a_while(error: Exception) -> bool:
    """Whether Telegram refused a reply only for a while (an outage, a timeout, 429)."""
    return isinstance(error, NetworkError | RetryAfter) and not isinstance(error, BadRequest)


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """Inline keyboard for a reply's buttons."""
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(button_label(b.label), callback_data=b.action) for b in row] for row in reply.buttons]
    )


def button_label(label: str) -> str:
    """A label that fits a keyboard button: at most BUTTON_LABEL_LIMIT characters, cut at a word."""
    if len(label) <= BUTTON_LABEL_LIMIT:
        return label
    cut = label[: BUTTON_LABEL_LIMIT - 1]
    space = cut.rfind(" ")
    if space > BUTTON_LABEL_LIMIT // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:–-") + "…"


class TelegramChannel:
    """The Telegram adapter: converts updates to `Incoming`, runs the engine, sends the replies."""

    name = CHANNEL
    capabilities = CAPABILITIES

    def __init__(self, settings: Settings, engine: Engine, locks: KeyedLocks) -> None:
        self.settings = settings
        self.engine = engine
        self.webhook = settings.telegram_webhook_url is not None
        self.send_limits = SendLimits(settings.telegram_rate_limit, settings.telegram_chat_rate)
        builder = (
            ApplicationBuilder()
            .token(settings.telegram_bot_token.get_secret_value())
            .base_url(str(settings.telegram_base_url))
            .concurrent_updates(PerCitizenProcessor(settings.max_concurrent_updates, locks))
            .request(AiohttpRequest(SEND_CONNECTIONS))
            .get_updates_request(AiohttpRequest(1))
        )
        if settings.telegram_base_file_url is not None:
            builder = builder.base_file_url(str(settings.telegram_base_file_url))
        self.application: Application = builder.updater(None).build()
        self.receiver = Receiver(
            self.application,
            engine.sessions,
            engine.clock,
            poll_timeout=settings.telegram_poll_timeout,
            allowed_updates=ALLOWED_UPDATES,
        )
        self._file_ids = Uploads(engine.clock)
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self.application.add_error_handler(self._on_error)

    async def start(self, *, receive: bool = True) -> None:
        """Connect and set up (retrying while Telegram is unreachable or failing), start receiving.
        Without `receive` (a process of the other role receives) only sending is set up: the
        webhook is neither set nor removed, and nothing is polled."""
        delay = 1.0
        while True:
            try:
                await self._set_up(receive=receive)
                break
            except InvalidToken:
                raise
            except (NetworkError, RetryAfter) as exc:
                log.warning("Telegram unreachable (%s); retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60)
        await self.application.start()
        if receive:
            self.receiver.start(polling=not self.webhook)

    async def _set_up(self, *, receive: bool) -> None:
        """Initialise, register the commands, and set the webhook or remove it."""
        await self.application.initialize()
        bot = self.application.bot
        for language, commands in COMMANDS.items():
            await bot.set_my_commands(
                [BotCommand(name, text) for name, text in commands],
                scope=BotCommandScopeDefault(),
                language_code=None if language == "vi" else language,
            )
        if not receive:
            log.info("Telegram: sending only as @%s (another process receives)", bot.username)
        elif self.webhook:
            await bot.set_webhook(
                str(self.settings.telegram_webhook_url),
                secret_token=self.settings.telegram_webhook_secret.get_secret_value(),
                allowed_updates=ALLOWED_UPDATES,
            )
            log.info("Telegram: webhook mode as @%s", bot.username)
        else:
            await bot.delete_webhook()
            log.info("Telegram: long polling as @%s", bot.username)

    async def stop(self) -> None:
        """Stop receiving, let the updates being handled finish, and close the connection pool."""
        await self.receiver.stop()
        if self.application.running:
            await self.application.stop()
        with contextlib.suppress(*DATABASE_ERRORS):
            await self.receiver.flush()
        await self.application.shutdown()

    async def handle_webhook(self, request: web.Request) -> web.Response:
        """POST /webhook/telegram: check the secret, store the update, then answer once it is handled
        (or after WEBHOOK_WAIT; it is handled anyway). 503 while the database is unavailable, so that
        Telegram delivers it again; a redelivered update is answered without handling it again."""
        if not self.webhook:
            raise web.HTTPNotFound()
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.settings.telegram_webhook_secret.get_secret_value().encode()):
            log.warning("Telegram webhook: wrong secret token from %s", request.remote)
            raise web.HTTPForbidden()
        try:
            body = await request.json(loads=json.loads)
            if not isinstance(body, dict) or not isinstance(body.get("update_id"), int):
                raise ValueError("not an update")
            update = Update.de_json(body, self.application.bot)
        except (ValueError, TypeError, KeyError, AttributeError):
            raise web.HTTPBadRequest(text="malformed update") from None
        try:
            handling = await self.receiver.accept(update, body)
        except DatabaseUnavailable:
            raise web.HTTPServiceUnavailable(text="database unavailable") from None
        if handling is not None:
            await asyncio.wait({handling}, timeout=WEBHOOK_WAIT)
        return web.Response(text="ok")

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Answer a button press at once, then handle the update and send the replies."""
        incoming, chat = to_incoming(update), update.effective_chat
        if incoming is None or chat is None:  # no chat: to_incoming gave None already
            return
        if incoming.attachments:
            incoming = replace(incoming, fetch=self._download)
        if update.callback_query is not None:
            try:
                await update.callback_query.answer()
            except TelegramError as exc:  # an old press: still handle it, the menu answers "expired"
                log.debug("could not answer callback query: %s", exc)
        replies = await self.engine.handle(incoming, CAPABILITIES)
        chat_id = chat.id
        await send_in_turn(
            self.engine.sessions,
            channel=CHANNEL,
            chat_id=str(chat_id),
            replies=replies,
            update_key=str(update.update_id),
            send=lambda reply: self.reply(chat_id, [reply]),
            for_a_while=_for_a_while,
            clock=self.engine.clock,
        )

    async def _download(self, attachments: tuple[Attachment, ...]) -> tuple[Attachment, ...]:
        """Keep the photos and voice messages citizens send (Telegram file ids are bot-specific),
        after checking size and type; say why for anything refused."""
        kept = []
        for attachment in attachments:
            extension = ACCEPTED.get(attachment.mime_type or "")
            if extension is None:
                kept.append(replace(attachment, problem="type"))
            elif (attachment.size or 0) > self.settings.media_max_bytes:
                kept.append(replace(attachment, problem="too_large"))
            else:
                relative = Path("media") / f"{datetime.now(UTC):%Y/%m}" / f"{uuid.uuid4().hex}{extension}"
                target = self.settings.data_dir / relative
                private_dir(target.parent)
                private_file(target)  # 0600 before the download writes into it
                file = await self.application.bot.get_file(attachment.file_id)
                await file.download_to_drive(target)
                kept.append(replace(attachment, path=str(relative), size=target.stat().st_size))
        return tuple(kept)

    def health(self) -> dict[str, str]:
        """How Telegram's updates come in."""
        return {"telegram": "webhook" if self.webhook else "polling"}

    async def deliver(self, chat_id: int | str, replies: list[Reply]) -> None:
        """Send an outbox message; errors are given the kinds the outbox sender knows."""
        try:
            await self.reply(chat_id, replies)
        except TelegramError as exc:
            raise sender_error(exc) from exc

    async def reply(self, chat_id: int | str, replies: list[Reply]) -> None:
        """Send replies in order; long texts are split, the keyboard goes on the last part."""
        bot = self.application.bot
        for reply in replies:
            markup = keyboard(reply)
            if reply.image:
                await self._send_photo(chat_id, reply, markup)
                continue
            parts = split_text(reply.text, CAPABILITIES.max_text) or [""]
            for index, part in enumerate(parts):
                last = index == len(parts) - 1
                await bot.send_message(chat_id, part, reply_markup=markup if last else None)

    async def _send_photo(self, chat_id: int | str, reply: Reply, markup: InlineKeyboardMarkup | None) -> None:
        """A photo by URL, or a file of the data folder: uploaded once (others wait for that upload),
        then sent by the file id Telegram gave it."""
        image = reply.image or ""
        if image.startswith(("http://", "https://")):
            await self._photo_message(chat_id, reply, markup, image)
            return
        uploaded: list[Message] = []  # the message the upload was, when this call made it

        async def upload() -> str | None:
            path = data_file(self.settings.data_dir, image)
            if path is None:
                log.warning("image %r is not a file of DATA_DIR; sending the text alone", image)
                await self.reply(chat_id, [Reply(reply.text, buttons=reply.buttons)])
                return None
            sent = await self._photo_message(chat_id, reply, markup, path.read_bytes())
            uploaded.append(sent)
            return sent.photo[-1].file_id if sent.photo else None

        file_id = await self._file_ids.get(image, upload)
        if file_id is not None and not uploaded:
            await self._photo_message(chat_id, reply, markup, file_id)

    async def _photo_message(
        self, chat_id: int | str, reply: Reply, markup: InlineKeyboardMarkup | None, photo: object
    ) -> Message:
        """Send the photo with as much of the text as fits its caption, and the rest after it."""
        caption, rest = reply.text[:CAPTION_LIMIT], reply.text[CAPTION_LIMIT:]
        sent = await self.application.bot.send_photo(
            chat_id, photo, caption=caption, reply_markup=None if rest else markup
        )
        if rest:
            await self.reply(chat_id, [Reply(rest, buttons=reply.buttons)])
        return sent

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log errors from python-telegram-bot with the update they came from."""
        error = context.error
        update_id = update.update_id if isinstance(update, Update) else None
        if isinstance(error, Forbidden):
            log.warning("Telegram: cannot reach the citizen (update %s): %s", update_id, error)
        elif isinstance(error, TelegramError):
            log.error("Telegram error on update %s: %s", update_id, error)
        else:
            log.error("Unhandled error on update %s", update_id, exc_info=error)


def _check(settings: Settings) -> Iterator[str]:
    """TELEGRAM_*: the token as @BotFather gives it; a webhook secret Telegram takes, and one with a webhook."""
    token = settings.telegram_bot_token.get_secret_value()
    if token and not re.fullmatch(r"\d+:[A-Za-z0-9_-]+", token):
        yield "TELEGRAM_BOT_TOKEN: does not look like a bot token from @BotFather (digits:letters)"
    yield from webhook_secret_rules(
        "TELEGRAM", settings.telegram_webhook_url, settings.telegram_webhook_secret, shortest=1
    )


KIND = Kind(
    CHANNEL,
    lambda parts: TelegramChannel(parts.settings, parts.engine, parts.locks),
    enabled=lambda settings: settings.telegram_enabled,
    routes=(Route("POST", "/webhook/telegram", "telegram-webhook", "handle_webhook"),),
    secrets=lambda settings: token_key(settings.telegram_bot_token),
    check=_check,
    health_off={"telegram": "off"},
    off_note="TELEGRAM_BOT_TOKEN not set: Telegram is off, web chat only",
)
