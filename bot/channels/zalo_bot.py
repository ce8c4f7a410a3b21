"""Zalo Bot API channel: long polling or a webhook on our aiohttp server, with a small aiohttp client.

The API looks like Telegram's (`<base><token>/<method>`, JSON in, `{"ok", "result"}` out), but
getUpdates returns one update per call and answers HTTP 408 when nothing came; texts are at most
2000 characters; there are no inline keyboards, so buttons are numbered (see `plain.py`); photos
are sent by URL, so stored ones go out as expiring links of our own server (`bot/media_links.py`).
In webhook mode an update is stored (`zalo_inbox`) and answered at once, then handled from the
record (see `inbox.py`); one stamped more than MAX_AGE ago or MAX_SKEW ahead is refused.
A reply Zalo refuses for a while (network trouble, 408, 5xx, 429) goes out through the outbox with
the ones after it, so that an outage does not swallow what the bot answered; other refusals are logged.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from bot.channels import background
from bot.channels.base import Kind, Route, SendLimits, token_key, webhook_secret_rules
from bot.channels.inbox import DatabaseUnavailable
from bot.channels.plain import PlainChannel, as_dict, post_json
from bot.config import Settings
from bot.media_links import MediaLinks
from bot.ordering import KeyedLocks
from bot.sender import RateLimited, SendBlocked, SendError, SendFailed, SendRetry
from handlers.engine import Engine
from handlers.types import Attachment, Capabilities, Incoming

log = logging.getLogger(__name__)

CHANNEL = "zalo_bot"
MAX_TEXT = 2000
CAPABILITIES = Capabilities(buttons=False, max_text=MAX_TEXT, images=True)
SECRET_HEADER = "X-Bot-Api-Secret-Token"  # nosec B105  # a header name, not a secret
POLL_TIMEOUT = 30
REQUEST_TIMEOUT = 20
EMPTY_POLL = 408
RATE_LIMIT = 20.0
CHAT_RATE = 1.0
STOP_GRACE = 10.0
MAX_AGE = timedelta(hours=24)  # an update stamped longer ago is refused (a redelivery comes sooner)
MAX_SKEW = timedelta(minutes=5)  # an update stamped ahead of our clock by more than this is refused
MAX_BACKOFF = 60.0
TEXT, IMAGE, STICKER, UNSUPPORTED = (
    "message.text.received",
    "message.image.received",
    "message.sticker.received",
    "message.unsupported.received",
)


class ZaloError(Exception):
    """A call to the Zalo Bot API failed."""


class ZaloNetworkError(ZaloError):
    """Zalo could not be reached, or did not answer in time."""


class ZaloApiError(ZaloError):
    """Zalo answered `{"ok": false, "error_code", "description"}` (or an HTTP error)."""

    def __init__(self, code: int, description: str, retry_after: float | None = None) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.retry_after = retry_after


class ZaloBotApi:
    """The Bot API methods the bot uses; every method is a POST with a JSON body."""

    def __init__(self, base_url: URL, token: str, session: aiohttp.ClientSession) -> None:
        self.base = f"{base_url}{token}/"  # the token is part of the last path segment (…/bot<token>/)
        self.session = session

    async def call(self, method: str, params: dict[str, Any] | None = None, *, wait: float = REQUEST_TIMEOUT) -> Any:
        """Call a method and return its `result`; raise ZaloNetworkError or ZaloApiError."""
        try:
            status, body = await post_json(self.session, self.base + method, timeout=wait, json=params or {})
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ZaloNetworkError(f"{method}: {exc.__class__.__name__}: {exc}") from exc
        if isinstance(body, dict) and body.get("ok") is True and status < 400:
            return body.get("result")
        body = as_dict(body)
        error_code = body.get("error_code")
        code = error_code if isinstance(error_code, int) else status
        parameters = as_dict(body.get("parameters"))
        retry_after = parameters.get("retry_after")
        raise ZaloApiError(
            code,
            str(body.get("description") or f"HTTP {status}"),
            float(retry_after) if isinstance(retry_after, int | float) else None,
        )

    async def next_update(self, timeout: int) -> dict | None:
        """One update by long polling, or None when none came in `timeout` seconds (HTTP 408)."""
        try:
            result = await self.call("getUpdates", {"timeout": str(timeout)}, wait=timeout + REQUEST_TIMEOUT)
        except ZaloApiError as exc:
            if exc.code == EMPTY_POLL:
                return None
            raise
        return result if isinstance(result, dict) and result else None


@dataclass(frozen=True)
class ZaloMessage:
    """One event of a citizen, validated: what they sent, who they are, where to answer."""

    event: str
    user_id: str
    chat_id: str
    display_name: str | None = None
    text: str | None = None
    photo_url: str | None = None
    message_id: str | None = None
    sent_at: datetime | None = None


def parse_update(body: object) -> ZaloMessage | None:
    """An update, flat `{event_name, message}` or wrapped `{ok, result: {…}}`; None for what the
    bot ignores (group chats, other bots, other events). Raise ValueError when it is no update."""
    if isinstance(body, dict) and isinstance(body.get("result"), dict) and "event_name" not in body:
        body = body["result"]
    if not isinstance(body, dict) or not isinstance(body.get("event_name"), str):
        raise ValueError("not a Zalo Bot API update")
    message = body.get("message")
    if not isinstance(message, dict):
        raise ValueError("update without a message")
    sender = as_dict(message.get("from"))
    chat = as_dict(message.get("chat"))
    user_id, chat_id = _id(sender.get("id")), _id(chat.get("id")) or _id(sender.get("id"))
    if not user_id or not chat_id:
        raise ValueError("update without a sender")
    event = body["event_name"]
    if not event.startswith("message.") or sender.get("is_bot") is True:
        return None
    if str(chat.get("chat_type") or "PRIVATE").upper() != "PRIVATE":
        return None
    if event not in (TEXT, IMAGE, STICKER):
        event = UNSUPPORTED  # a kind of message added later (links, files…): the polite "cannot read" answer
    photo = message.get("photo_url") or message.get("photo")
    date = message.get("date")
    return ZaloMessage(
        event=event,
        user_id=user_id,
        chat_id=chat_id,
        display_name=_text(sender.get("display_name") or sender.get("name") or sender.get("first_name")),
        text=_text(message.get("text") if event == TEXT else message.get("caption")),
        photo_url=photo if isinstance(photo, str) and photo.startswith(("https://", "http://")) else None,
        message_id=_id(message.get("message_id")),
        # Zalo gives milliseconds since the epoch.
        sent_at=datetime.fromtimestamp(date / 1000, UTC) if isinstance(date, int | float) and date > 0 else None,
    )


def _id(value: object) -> str | None:
    """Ids are strings on Zalo; accept numbers too, never anything else."""
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        return None
    return str(value).strip()[:64]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def sender_error(error: Exception) -> SendError:
    """The error kind the outbox sender understands: 429 waits, 403 means the citizen cannot be
    reached, network trouble, 408 and 5xx are retried, anything else is permanent."""
    if isinstance(error, ZaloNetworkError):
        return SendRetry(str(error))
    assert isinstance(error, ZaloApiError)
    if error.code == 429:
        return RateLimited(max(1.0, error.retry_after or 5.0), str(error))
    if error.code == 403:
        return SendBlocked(error.description)
    if error.code == EMPTY_POLL or error.code >= 500:
        return SendRetry(str(error))
    return SendFailed(str(error))


def _for_a_while(error: Exception) -> bool:
    """Whether Zalo refused a reply only for a while (network trouble, 408, 5xx, 429)."""
    return isinstance(error, ZaloError) and isinstance(sender_error(error), SendRetry | RateLimited)


class ZaloBotChannel(PlainChannel):
    """The Zalo Bot API adapter: updates to `Incoming`, the engine, replies back as plain text."""

    name = CHANNEL
    capabilities = CAPABILITIES
    errors = ZaloError
    send_limits = SendLimits(RATE_LIMIT, CHAT_RATE)
    sender_error = staticmethod(sender_error)
    for_a_while = staticmethod(_for_a_while)

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        locks: KeyedLocks,
        links: MediaLinks,
        clock: Callable[[], datetime],
    ) -> None:
        super().__init__(settings, engine, locks, clock, settings.zalo_bot_base_url)
        self.links = links
        self.webhook = settings.zalo_bot_webhook_url is not None
        self.poll_timeout = POLL_TIMEOUT
        self.api: ZaloBotApi | None = None
        self._poller: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(settings.max_concurrent_updates)

    async def start(self, *, receive: bool = True) -> None:
        """Check the token, then register the webhook or delete it and start polling. Waits while
        Zalo is unreachable; a refused token stops start-up. Without `receive` (a process of the
        other role receives) only sending is set up."""
        self._http = aiohttp.ClientSession()
        self.api = ZaloBotApi(
            self.settings.zalo_bot_base_url, self.settings.zalo_bot_token.get_secret_value(), self._http
        )
        try:
            me = await self._persist("getMe")
            name = (me.get("account_name") or me.get("id")) if isinstance(me, dict) else None
            if not receive:
                log.info("Zalo Bot API: sending only as %s (another process receives)", name)
                return
            if self.webhook:
                await self._persist(
                    "setWebhook",
                    {
                        "url": str(self.settings.zalo_bot_webhook_url),
                        "secret_token": self.settings.zalo_bot_webhook_secret.get_secret_value(),
                    },
                )
                self._receiving = True
                self.inbox.start()
                log.info("Zalo Bot API: webhook mode as %s", name)
                return
            info = await self._persist("getWebhookInfo")
            if isinstance(info, dict) and info.get("url"):
                await self._persist("deleteWebhook")
                log.info("Zalo Bot API: deleted the webhook %s to poll instead", info.get("url"))
        except BaseException:
            await self._http.close()
            raise
        self._poller = asyncio.create_task(self._poll(), name="zalo_bot:poll")
        log.info("Zalo Bot API: long polling as %s", name)

    async def _persist(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Call a method until Zalo answers it (network trouble and 5xx are waited out)."""
        assert self.api is not None
        delay = 1.0
        while True:
            try:
                return await self.api.call(method, params)
            except ZaloError as exc:
                if isinstance(exc, ZaloApiError) and exc.code < 500:
                    raise
                log.warning("Zalo Bot API unreachable (%s); retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)

    async def _stop_tasks(self) -> None:
        """Stop polling, let the updates being handled finish (briefly)."""
        await background.cancel(self._poller)
        await background.finish(self._tasks, STOP_GRACE)

    async def _poll(self) -> None:
        """Fetch updates one by one until cancelled; back off while Zalo fails, never give up."""
        assert self.api is not None
        delay = 1.0
        while True:
            try:
                body = await self.api.next_update(self.poll_timeout)
            except ZaloError as exc:
                log.warning("Zalo Bot API: getUpdates failed (%s); retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            delay = 1.0
            if body is None:
                continue
            try:
                message = parse_update(body)
            except ValueError as exc:
                log.warning("Zalo Bot API: ignored a malformed update (%s)", exc)
                continue
            if message is not None:
                await self._slots.acquire()
                task = asyncio.create_task(self._process_slot(message), name="zalo_bot:update")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _process_slot(self, message: ZaloMessage) -> None:
        try:
            await self.process(message)
        finally:
            self._slots.release()

    async def handle_webhook(self, request: web.Request) -> web.Response:
        """POST /webhook/zalo-bot: check the secret and the update's age, store it and answer; the
        update is handled from the record (503 when it cannot be stored, so that Zalo sends it again)."""
        if not self.webhook:
            raise web.HTTPNotFound()
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.settings.zalo_bot_webhook_secret.get_secret_value().encode()):
            log.warning("Zalo Bot API webhook: wrong secret token from %s", request.remote)
            raise web.HTTPForbidden()
        try:
            body = await request.json()
            message = parse_update(body)
        except ValueError:
            raise web.HTTPBadRequest(text="malformed update") from None
        if message is None:
            return web.json_response({"ok": True})
        now = self.clock()
        if message.sent_at is not None and not now - MAX_AGE <= message.sent_at <= now + MAX_SKEW:
            log.warning(
                "Zalo Bot API webhook: refused an update stamped %s (too old or in the future)",
                message.sent_at.isoformat(),
            )
            raise web.HTTPForbidden()
        # A redelivery, or the same update reaching another process, is only acknowledged; an update
        # without an id cannot be recognised again, and is kept under a key of its own.
        key = f"{CHANNEL}:{message.message_id or 'unnamed-' + secrets.token_hex(8)}"
        try:
            await self.inbox.accept(key, message.user_id, body)
        except DatabaseUnavailable:
            raise web.HTTPServiceUnavailable(text="update not stored; send it again") from None
        return web.json_response({"ok": True})

    async def _from_record(self, body: dict) -> None:
        """Handle a stored update (the inbox holds the citizen's lock)."""
        message = parse_update(body)
        if message is not None:
            await self._handle(message)

    async def process(self, message: ZaloMessage) -> None:
        """Handle one polled update and send the replies, after the citizen's earlier updates."""
        async with self.locks.hold((CHANNEL, message.user_id)):
            await self._handle(message)

    async def _handle(self, message: ZaloMessage) -> None:
        """Handle one update, the citizen's lock held; what Zalo refuses for a while goes out through
        the outbox, other failures to answer are logged."""
        try:
            if message.event in (TEXT, IMAGE) and (message.text or message.photo_url):
                typing = asyncio.create_task(self._typing(message.chat_id))
                replies = await self.engine.handle(await self._incoming(message), CAPABILITIES)
                await typing
                await self.answer(message.chat_id, replies, update_key=message.message_id or None)
            else:
                await self.answer_unreadable(
                    message.chat_id,
                    message.user_id,
                    sticker=message.event == STICKER,
                    update_key=message.message_id or None,
                )
        except ZaloError as exc:
            log.warning("Zalo Bot API: could not answer %s: %s", message.user_id, exc)
        except Exception:
            log.exception("Zalo Bot API: update %s of %s failed", message.message_id, message.user_id)

    async def _incoming(self, message: ZaloMessage) -> Incoming:
        """The neutral message; a typed number or label of an offered choice becomes its action."""
        incoming = partial(
            Incoming,
            channel=CHANNEL,
            user_id=message.user_id,
            display_name=message.display_name,
            message_id=message.message_id,
        )
        if message.text and not message.photo_url:
            action = await self.typed_choice(message.user_id, message.text)
            if action is not None:
                return incoming(action=action)
        attachments = (Attachment("photo", message.photo_url),) if message.photo_url else ()
        return incoming(text=message.text, attachments=attachments, fetch=self._download if attachments else None)

    async def _typing(self, chat_id: str) -> None:
        """Show "typing…" while the engine works; it does not matter if this fails."""
        assert self.api is not None
        try:
            await self.api.call("sendChatAction", {"chat_id": chat_id, "action": "typing"})
        except ZaloError as exc:
            log.debug("Zalo Bot API: sendChatAction failed: %s", exc)

    def health(self) -> dict[str, str]:
        """Nothing to say in /healthz."""
        return {}

    async def _send_text(self, chat_id: str, text: str) -> None:
        assert self.api is not None
        await self.api.call("sendMessage", {"chat_id": chat_id, "text": text})

    async def _send_image(self, chat_id: str, image: str, caption: str) -> bool:
        """A photo by its URL, or a stored one through an expiring link of ours; False without a
        public address."""
        assert self.api is not None
        url = image if image.startswith(("https://", "http://")) else self.links.url_for(image, self.clock())
        if url is None:
            return False
        await self.api.call(
            "sendPhoto", {"chat_id": chat_id, "photo": url, **({"caption": caption} if caption else {})}
        )
        return True


def _check(settings: Settings) -> Iterator[str]:
    """ZALO_BOT_*: the token as Zalo Bot Creator gives it; a webhook secret Zalo takes, and one with a webhook."""
    token = settings.zalo_bot_token.get_secret_value()
    if token and not re.fullmatch(r"[^\s/:]+:[^\s/]+", token):
        yield "ZALO_BOT_TOKEN: does not look like a Zalo bot token (bot id:key, from Zalo Bot Creator)"
    yield from webhook_secret_rules(
        "ZALO_BOT", settings.zalo_bot_webhook_url, settings.zalo_bot_webhook_secret, shortest=8
    )


KIND = Kind(
    CHANNEL,
    lambda parts: ZaloBotChannel(parts.settings, parts.engine, parts.locks, parts.links, parts.clock),
    enabled=lambda settings: settings.zalo_bot_enabled,
    routes=(Route("POST", "/webhook/zalo-bot", "zalo-bot-webhook", "handle_webhook"),),
    secrets=lambda settings: token_key(settings.zalo_bot_token),
    check=_check,
)
