"""Zalo Official Account channel (OpenAPI v3): a signed webhook in, consultation messages out.

- Events come to POST /webhook/zalo-oa, signed `X-ZEvent-Signature: mac=<sha256(app id + raw body +
  timestamp + OA secret key)>`. A wrong or missing signature is refused (403) before anything is
  stored, and so is an event stamped more than MAX_AGE ago (Zalo delivers an unanswered event again
  for about an hour) or more than MAX_SKEW ahead. The event is stored (`zalo_inbox`) and Zalo gets
  its 200 at once (it wants one within 2 seconds); the event is handled from the record, a
  citizen's events in order, once even when Zalo delivers it again (see `inbox.py`).
- Replies go to /v3.0/oa/message/cs: texts of at most 2000 characters, buttons as numbered lists
  (`plain.py`), photos uploaded (/v2.0/oa/upload/image) and sent as an attachment. Zalo keeps an
  upload 7 days: each process keeps the attachment id with its upload time and uploads the photo
  again after UPLOAD_REFRESH, or when Zalo says it has expired (-100; the send is tried once more).
- The access token lasts about a day; the refresh token that renews it is single-use. `Tokens`
  keeps the pair in the database and refreshes it once for all processes (see its docstring).
- Zalo lets an OA send consultation messages for 7 days after the citizen's last interaction, the
  first 48 hours free and the rest charged: the outbox sender skips what falls outside the window
  (`reply_window`, ZALO_OA_REPLY_WINDOW_HOURS), with the reason `zalo_window`, and marks what it
  sends after 48 hours `zalo_charged`, so that a notice's charged messages are counted.

Zalo's error codes, and what the outbox sender makes of them: -216 and -220 (access token
invalid or expired) refresh the token and try once more; -213 (the user does not follow the OA)
and -227 (the account is locked or long inactive) make the citizen unreachable; -230 and -232 (no
interaction recent enough) skip the message as outside the window, -218 (the OA's quota of messages
to this user is used up) skips it as `zalo_quota`; -32 and HTTP 429 pause the channel a minute;
network trouble, HTTP 5xx and a refused refresh token are retried with backoff; anything else is
a permanent failure. A reply to an event that Zalo refuses for a while (network trouble, HTTP 5xx,
-32 or 429) goes out through the outbox with the ones after it; other refusals, a token refused
even after a refresh among them, are logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from bot.channels import background, remote_media
from bot.channels.base import Kind, Route, SendLimits
from bot.channels.inbox import DatabaseUnavailable
from bot.channels.plain import PlainChannel, as_dict, post_json
from bot.channels.uploads import Uploads, data_file
from bot.config import Settings
from bot.ordering import KeyedLocks
from bot.sender import RateLimited, SendBlocked, SendError, SendFailed, SendRetry, SendSkipped
from handlers.engine import Engine
from handlers.types import Attachment, Capabilities, Incoming, Location
from storage import zalo_oa as store
from storage.db import SessionFactory
from storage.outbox import ReplyWindow

log = logging.getLogger(__name__)

CHANNEL = store.CHANNEL
MAX_TEXT = 2000
CAPABILITIES = Capabilities(buttons=False, max_text=MAX_TEXT, images=True)
SIGNATURE_HEADER = "X-ZEvent-Signature"
MAX_BODY = 64 * 1024
MAX_AGE = timedelta(hours=24)  # Zalo's last redelivery comes about an hour after the event
MAX_SKEW = timedelta(minutes=5)  # an event stamped ahead of our clock by more than this is refused
FREE_WINDOW = timedelta(hours=48)  # consultation messages after this are charged by Zalo
WINDOW_REASON, CHARGED = "zalo_window", "zalo_charged"
RATE_LIMIT = 10.0
CHAT_RATE = 1.0
REQUEST_TIMEOUT = 20
TOKEN_MARGIN = timedelta(minutes=10)  # refresh this long before the access token ends
LEASE = timedelta(seconds=60)  # longer than one OAuth call may take (REQUEST_TIMEOUT)
LEASE_POLL = 0.2
CHECK_EVERY = 60.0
UPLOAD_MAX = 1_000_000  # Zalo refuses larger images
UPLOAD_REFRESH = timedelta(days=6)  # Zalo forgets an uploaded image after 7 days: upload it again a day before
UPLOAD_EXPIRED = -100  # what Zalo answers to a message whose attachment id it no longer knows
TEXT, IMAGE, LOCATION, AUDIO, FILE, STICKER, FOLLOW, UNFOLLOW = (
    "user_send_text",
    "user_send_image",
    "user_send_location",
    "user_send_audio",
    "user_send_file",
    "user_send_sticker",
    "follow",
    "unfollow",
)
EVENTS = frozenset({TEXT, IMAGE, LOCATION, AUDIO, FILE, STICKER, FOLLOW, UNFOLLOW})
TOKEN_ERRORS = frozenset({-216, -220})
BLOCKED = frozenset({-213, -227})
OUTSIDE_WINDOW = frozenset({-230, -232})
QUOTA = -218
APP_REFUSED = frozenset({-14002, -14004})  # OAuth: invalid app id, invalid secret key (answered with HTTP 200)
APP_SECRET_REFUSED = "app secret refused"  # nosec B105  # a health status, not a secret
RATE_ERRORS = frozenset({-32, 429})

# What each Zalo Official Account setting is and where it is found, for the start-up error (descriptions
# of the settings, not secrets: hence the nosec marks).
ZALO_OA_SETTINGS = {
    "ZALO_OA_APP_ID": "the Zalo app's id (developers.zalo.me, the app's settings)",
    "ZALO_OA_APP_SECRET": "the Zalo app's secret key (developers.zalo.me, the app's settings), which refreshes "  # nosec B105
    "the OA's access token; not ZALO_OA_SECRET_KEY, the OA secret key of the webhook settings",
    "ZALO_OA_SECRET_KEY": "the OA secret key (developers.zalo.me, the app, Official Account, the webhook settings), "  # nosec B105
    "which checks the webhook's signatures",
    "ZALO_OA_REFRESH_TOKEN": "the OA's first refresh token (developers.zalo.me, the app, Official Account)",  # nosec B105
}


class ZaloOAError(Exception):
    """A call to the Zalo OA API or its OAuth server failed."""


class ZaloOANetworkError(ZaloOAError):
    """Zalo could not be reached, or did not answer in time."""


class ZaloOAApiError(ZaloOAError):
    """Zalo answered `{"error": <not 0>, "message"}`, or an HTTP error (the code is then the status)."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


class TokenRefused(ZaloOAError):
    """The OAuth server refused the refresh (the stored refresh token, or the app's id or secret key):
    new tokens, or the right app secret, must be set by hand."""


# ----- events ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OAEvent:
    """One webhook event, validated: who, what, when, and the key that names it for redelivery."""

    event: str
    user_id: str
    key: str
    sent_at: datetime
    text: str | None = None
    url: str | None = None
    location: Location | None = None


def parse_event(body: object) -> OAEvent | None:
    """A webhook body as an event; None for events the bot ignores (the OA's own messages, "seen",
    …). Raise ValueError for a body that is no event."""
    if not isinstance(body, dict) or not isinstance(body.get("event_name"), str):
        raise ValueError("not a Zalo OA event")
    name = body["event_name"]
    sent_at = event_time(body.get("timestamp"))
    if sent_at is None:
        raise ValueError("event without a timestamp")
    if name not in EVENTS:
        return None
    person = body.get("follower") if name in (FOLLOW, UNFOLLOW) else body.get("sender")
    user_id = _id(person.get("id")) if isinstance(person, dict) else None
    if user_id is None:
        raise ValueError("event without a user")
    message = as_dict(body.get("message"))
    if name not in (FOLLOW, UNFOLLOW) and not message:
        raise ValueError("event without a message")
    msg_id = _id(message.get("msg_id"))
    key = f"{name}:{msg_id}" if msg_id else f"{name}:{user_id}:{body['timestamp']}"
    payload = _first_payload(message)
    text = message.get("text") if isinstance(message.get("text"), str) and message.get("text") else None
    url = payload.get("url")
    return OAEvent(
        event=name,
        user_id=user_id,
        key=key[:200],
        sent_at=sent_at,
        text=text,
        url=url if isinstance(url, str) and url.startswith(("https://", "http://")) else None,
        location=_location(payload) if name == LOCATION else None,
    )


def event_time(value: object) -> datetime | None:
    """An event's `timestamp` (milliseconds since the epoch, as a string or a number)."""
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).isdigit():
        return None
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def signature(app_id: str, raw: bytes, timestamp: str, secret_key: str) -> str:
    """The header value Zalo sends: `mac=` and sha256 of app id, raw body, timestamp, OA secret key."""
    return "mac=" + hashlib.sha256(app_id.encode() + raw + timestamp.encode() + secret_key.encode()).hexdigest()


def _first_payload(message: dict) -> dict:
    attachments = message.get("attachments")
    first = attachments[0] if isinstance(attachments, list) and attachments else None
    payload = first.get("payload") if isinstance(first, dict) else None
    return payload if isinstance(payload, dict) else {}


def _location(payload: dict) -> Location:
    coordinates = as_dict(payload.get("coordinates"))
    try:
        latitude, longitude = float(coordinates["latitude"]), float(coordinates["longitude"])
    except (KeyError, TypeError, ValueError):
        raise ValueError("location without coordinates") from None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ValueError("coordinates out of range")
    return Location(latitude, longitude)


def _id(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        return None
    return str(value).strip()[:64]


# ----- tokens ------------------------------------------------------------------------------------


class Tokens:
    """The OA's access token, refreshed before it ends and whenever Zalo calls it invalid.

    The refresh token is single-use and every refresh returns a new pair, so a refresh must happen
    once for all processes and its result must never be lost: one refresh at a time in this process
    (an asyncio lock) and across processes (a lease on the stored pair, taken by a conditional
    update); after waiting, the pair is read again, and when someone else refreshed it meanwhile
    that pair is used. The new pair is committed to the database before it is returned for use. If
    the process dies between Zalo's answer and that commit, the stored refresh token is already
    spent: the next refresh is refused, which is logged with what to do (set a new pair in the
    environment, which then replaces the stored one).
    """

    def __init__(
        self,
        sessions: SessionFactory,
        settings: Settings,
        http: aiohttp.ClientSession,
        clock: Callable[[], datetime],
        *,
        lease: timedelta = LEASE,
        margin: timedelta = TOKEN_MARGIN,
    ) -> None:
        self.sessions = sessions
        self.app_id = settings.zalo_oa_app_id
        self.app_secret = (
            settings.zalo_oa_app_secret.get_secret_value()
        )  # the app's secret key, not the OA secret key of the webhook
        self.url = settings.zalo_oauth_base / "v4/oa/access_token"
        self.http = http
        self.clock = clock
        self.lease = lease
        self.margin = margin
        self.refused: str | None = None
        self._lock = asyncio.Lock()

    async def seed(self, access_token: str, refresh_token: str, *, only_process: bool) -> str:
        """Store the environment's first pair, unless the database already holds its successor."""
        async with self.sessions() as session:
            outcome = await store.seed_pair(
                session, self.app_id, access_token, refresh_token, self.clock(), clear_lease=only_process
            )
            await session.commit()
        if outcome == "replaced":
            log.info("Zalo OA: new tokens in the environment replace the stored pair")
        return outcome

    async def current(self) -> str:
        """An access token to use now (refreshed first when it ends soon or is not known)."""
        async with self.sessions() as session:
            row = await store.load_pair(session, self.app_id)
        if row is None:
            raise TokenRefused("no Zalo OA tokens are stored")
        if not row.access_token or (row.expires_at is not None and row.expires_at - self.margin <= self.clock()):
            return await self.refresh(row.access_token)
        return row.access_token

    async def refresh(self, stale: str | None) -> str:
        """Replace the access token `stale` (None: whichever is due) and return the one to use."""
        async with self._lock:
            while True:
                async with self.sessions() as session:
                    row = await store.load_pair(session, self.app_id)
                now = self.clock()
                if row is None:
                    raise TokenRefused("no Zalo OA tokens are stored")
                due = not row.access_token or (row.expires_at is not None and row.expires_at - self.margin <= now)
                if row.access_token != stale and not due:
                    return row.access_token  # refreshed meanwhile (by this process or another)
                async with self.sessions() as session:
                    taken = await store.take_lease(session, self.app_id, row.refresh_token, now, now + self.lease)
                    await session.commit()
                if taken:
                    break
                await asyncio.sleep(LEASE_POLL)  # another process is refreshing: wait for its pair
            spent = row.refresh_token
            try:
                access, refresh, expires_at = await self._exchange(spent)
            except BaseException:
                async with self.sessions() as session:
                    await store.end_lease(session, self.app_id)
                    await session.commit()
                raise
            async with self.sessions() as session:
                saved = await store.save_refreshed(
                    session, self.app_id, spent, access, refresh, expires_at, self.clock()
                )
                await session.commit()
            if not saved:
                raise TokenRefused("the stored Zalo OA tokens changed during a refresh")
            self.refused = None
            log.info("Zalo OA: access token refreshed; the new pair is stored")
            return access

    async def _exchange(self, refresh_token: str) -> tuple[str, str, datetime | None]:
        """Spend the refresh token at Zalo's OAuth server for a new pair."""
        form = {"refresh_token": refresh_token, "app_id": self.app_id, "grant_type": "refresh_token"}
        try:
            status, body = await post_json(
                self.http, self.url, timeout=REQUEST_TIMEOUT, data=form, headers={"secret_key": self.app_secret}
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ZaloOANetworkError(f"access_token: {exc.__class__.__name__}") from exc
        body = as_dict(body)
        access, refresh = body.get("access_token"), body.get("refresh_token")
        if status < 400 and isinstance(access, str) and access and isinstance(refresh, str) and refresh:
            seconds = body.get("expires_in")
            expires = (
                self.clock() + timedelta(seconds=int(seconds))
                if isinstance(seconds, str | int) and str(seconds).isdigit()
                else None
            )
            return access, refresh, expires
        if status >= 500:
            raise ZaloOANetworkError(f"access_token: HTTP {status}")
        reason = str(body.get("error_name") or body.get("error_description") or body.get("message") or f"HTTP {status}")
        code = body.get("error", status)
        if code in APP_REFUSED:
            self.refused = APP_SECRET_REFUSED
            log.error(
                "Zalo OA: Zalo refused the app id or the app's secret key (%s: %s); the refresh token is not spent. "
                "Set ZALO_OA_APP_SECRET to the secret key of the Zalo app (developers.zalo.me, the app's settings; "
                "not the OA secret key of the webhook settings, which is ZALO_OA_SECRET_KEY) and restart.",
                code,
                reason,
            )
            raise TokenRefused(f"{code}: {reason}")
        self.refused = f"{code}: {reason}"
        log.error(
            "Zalo OA: Zalo refused the stored refresh token (%s). The channel cannot send until it has a "
            "new pair: create one for the OA in Zalo for Developers, set ZALO_OA_ACCESS_TOKEN and "
            "ZALO_OA_REFRESH_TOKEN to it and restart (a pair in the environment that differs from the "
            "one first stored replaces the stored pair).",
            self.refused,
        )
        raise TokenRefused(self.refused)


# ----- the API -----------------------------------------------------------------------------------


class ZaloOAApi:
    """The OpenAPI calls the bot makes, each with the current access token; a token Zalo calls
    invalid is refreshed and the call made once more."""

    def __init__(self, base_url: URL, http: aiohttp.ClientSession, tokens: Tokens) -> None:
        self.base = base_url
        self.http = http
        self.tokens = tokens

    async def post(self, path: str, build: Callable[[], dict[str, Any]]) -> dict:
        """POST `path` with the request arguments `build()` makes (made afresh for a retry); return
        the answer's `data`, or raise ZaloOAError."""
        token = await self.tokens.current()
        try:
            return await self._once(path, token, build)
        except ZaloOAApiError as exc:
            if exc.code not in TOKEN_ERRORS:
                raise
        token = await self.tokens.refresh(token)
        return await self._once(path, token, build)

    async def _once(self, path: str, token: str, build: Callable[[], dict[str, Any]]) -> dict:
        try:
            status, body = await post_json(
                self.http,
                self.base / path.lstrip("/"),
                timeout=REQUEST_TIMEOUT,
                headers={"access_token": token},
                **build(),
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ZaloOANetworkError(f"{path}: {exc.__class__.__name__}: {exc}") from exc
        if isinstance(body, dict) and body.get("error") == 0 and status < 400:
            data = body.get("data")
            return data if isinstance(data, dict) else {}
        body = as_dict(body)
        error = body.get("error")
        code = status if status >= 400 or not isinstance(error, int) or not error else error
        raise ZaloOAApiError(code, str(body.get("message") or f"HTTP {status}"))

    async def send(self, user_id: str, message: dict) -> dict:
        """A consultation message (`{"text"}`, or with an attachment)."""
        body = {"recipient": {"user_id": user_id}, "message": message}
        return await self.post("/v3.0/oa/message/cs", lambda: {"json": body})

    async def upload_image(self, data: bytes, filename: str, mime: str) -> str:
        """Upload a photo; its attachment id."""

        def build() -> dict[str, Any]:
            form = aiohttp.FormData()
            form.add_field("file", data, filename=filename, content_type=mime)
            return {"data": form}

        answer = await self.post("/v2.0/oa/upload/image", build)
        attachment_id = answer.get("attachment_id")
        if not isinstance(attachment_id, str) or not attachment_id:
            raise ZaloOAApiError(0, "upload answered without an attachment id")
        return attachment_id


def reply_window(settings: Settings) -> ReplyWindow:
    """How long after a citizen's last interaction the OA may write to them (ZALO_OA_REPLY_WINDOW_HOURS,
    Zalo's 7 days by default), and from when it is charged for it."""
    return ReplyWindow(
        timedelta(hours=settings.zalo_oa_reply_window_hours), WINDOW_REASON, free=FREE_WINDOW, charged=CHARGED
    )


def sender_error(error: Exception) -> SendError:
    """The outbox sender's kind of a Zalo OA error (the mapping is in the module docstring)."""
    if isinstance(error, ZaloOANetworkError | TokenRefused):
        return SendRetry(str(error))
    assert isinstance(error, ZaloOAApiError)
    if error.code in RATE_ERRORS:
        return RateLimited(60.0, str(error))
    if error.code in BLOCKED:
        return SendBlocked(str(error))
    if error.code in OUTSIDE_WINDOW:
        return SendSkipped(WINDOW_REASON, str(error))
    if error.code == QUOTA:
        return SendSkipped("zalo_quota", str(error))
    if error.code in TOKEN_ERRORS or error.code >= 500:
        return SendRetry(str(error))
    return SendFailed(str(error))


def temporary(error: Exception) -> bool:
    """Whether Zalo refused only for a while (network trouble, HTTP 5xx, rate limits), so that a reply
    can go out later through the outbox. Narrower than what the sender retries: a token Zalo refuses
    even after a refresh needs new tokens set by hand, so the reply is not kept for hours."""
    if isinstance(error, ZaloOANetworkError):
        return True
    return isinstance(error, ZaloOAApiError) and (error.code in RATE_ERRORS or error.code >= 500)


# ----- the channel -------------------------------------------------------------------------------


class ZaloOAChannel(PlainChannel):
    """The Official Account adapter: webhook events to `Incoming`, the engine, replies as messages."""

    name = CHANNEL
    capabilities = CAPABILITIES
    errors = ZaloOAError
    webhook = True  # events come only to the webhook
    sender_error = staticmethod(sender_error)
    for_a_while = staticmethod(temporary)

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        locks: KeyedLocks,
        clock: Callable[[], datetime],
        *,
        check_every: float = CHECK_EVERY,
    ) -> None:
        super().__init__(settings, engine, locks, clock, settings.zalo_oa_api_base)
        self.check_every = check_every
        self.send_limits = SendLimits(RATE_LIMIT, CHAT_RATE, reply_window(settings))
        self.tokens: Tokens | None = None
        self.api: ZaloOAApi | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._uploads = Uploads(clock, UPLOAD_REFRESH)  # image -> attachment id

    @property
    def status(self) -> str:
        """ "ok", or why the channel cannot send (for /healthz): "token refused" or "app secret refused"."""
        refused = self.tokens.refused if self.tokens is not None else None
        return "ok" if not refused else refused if refused == APP_SECRET_REFUSED else "token refused"

    async def start(self, *, receive: bool = True) -> None:
        """Store the first tokens (or keep their stored successor), then keep them fresh; with
        `receive` (a process serving the webhook), handle the events stored and not handled yet."""
        self._http = aiohttp.ClientSession()
        self.tokens = Tokens(self.engine.sessions, self.settings, self._http, self.clock)
        self.api = ZaloOAApi(self.settings.zalo_oa_api_base, self._http, self.tokens)
        try:
            outcome = await self.tokens.seed(
                self.settings.zalo_oa_access_token.get_secret_value(),
                self.settings.zalo_oa_refresh_token.get_secret_value(),
                only_process=self.settings.is_sqlite,
            )
        except BaseException:
            await self._http.close()
            raise
        self._keeper = asyncio.create_task(self._keep_fresh(), name="zalo_oa:tokens")
        if receive:
            self._receiving = True
            self.inbox.start()
        log.info("Zalo OA: webhook at /webhook/zalo-oa (tokens %s)", outcome)

    async def _stop_tasks(self) -> None:
        """Stop refreshing the tokens."""
        await background.cancel(self._keeper)

    async def _keep_fresh(self) -> None:
        """Refresh the access token before it ends, until cancelled. Waits
        before the first check: stopping right after start must not cancel it mid-query (sends
        refresh a token that is due themselves)."""
        assert self.tokens is not None
        while True:
            await asyncio.sleep(self.check_every)
            try:
                await self.tokens.current()
            except ZaloOAError as exc:
                log.warning("Zalo OA: could not refresh the access token: %s", exc)
            except Exception:
                log.exception("Zalo OA: token upkeep failed")

    # ----- in -----

    async def handle_webhook(self, request: web.Request) -> web.Response:
        """POST /webhook/zalo-oa: check size, signature and age, store the event and answer; the event
        is handled from the record (503 when it cannot be stored, so that Zalo delivers it again)."""
        given = request.headers.get(SIGNATURE_HEADER, "")
        if not given.startswith("mac="):
            log.warning("Zalo OA webhook: no signature, from %s", request.remote)
            raise web.HTTPForbidden()
        raw = await _body(request)
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise web.HTTPBadRequest(text="malformed event") from None
        timestamp = body.get("timestamp") if isinstance(body, dict) else None
        sent_at = event_time(timestamp)
        if sent_at is None:
            raise web.HTTPBadRequest(text="event without a timestamp")
        expected = signature(
            self.settings.zalo_oa_app_id, raw, str(timestamp), self.settings.zalo_oa_secret_key.get_secret_value()
        )
        if not hmac.compare_digest(given.encode(), expected.encode()):
            log.warning("Zalo OA webhook: wrong signature, from %s", request.remote)
            raise web.HTTPForbidden()
        now = self.clock()
        if not now - MAX_AGE <= sent_at <= now + MAX_SKEW:
            log.warning("Zalo OA webhook: refused an event stamped %s (too old or in the future)", sent_at.isoformat())
            raise web.HTTPForbidden()
        try:
            event = parse_event(body)
        except ValueError:
            raise web.HTTPBadRequest(text="malformed event") from None
        if event is not None:
            try:
                await self.inbox.accept(event.key, event.user_id, body)
            except DatabaseUnavailable:
                raise web.HTTPServiceUnavailable(text="event not stored; deliver it again") from None
        return web.json_response({"error": 0})

    async def _from_record(self, body: dict) -> None:
        """Handle a stored event (the inbox holds the citizen's lock)."""
        event = parse_event(body)
        if event is not None:
            await self.process(event)

    async def process(self, event: OAEvent) -> None:
        """Turn an event into replies and send them, the citizen's lock held; what Zalo refuses for a
        while goes out through the outbox, other failures to send are logged."""
        try:
            if event.event in (FOLLOW, UNFOLLOW, FILE, STICKER) or (event.event in (IMAGE, AUDIO) and not event.url):
                await self._noted(event)
                if event.event in (FILE, STICKER, IMAGE, AUDIO):
                    await self.answer_unreadable(
                        event.user_id, event.user_id, sticker=event.event == STICKER, update_key=event.key
                    )
                if event.event != FOLLOW:
                    return
            replies = await self.engine.handle(await self._incoming(event), CAPABILITIES)
            await self.answer(event.user_id, replies, update_key=event.key)
        except ZaloOAError as exc:
            log.warning("Zalo OA: could not answer %s: %s", event.user_id, exc)

    async def _noted(self, event: OAEvent) -> None:
        """Record an event the engine does not see (following, unfollowing, files, stickers)."""
        async with self.engine.sessions() as session:
            await store.interacted(session, event.user_id, self.clock(), unfollowed=event.event == UNFOLLOW)
            await session.commit()
        if event.event == UNFOLLOW:
            log.info("Zalo OA: a citizen unfollowed the OA; unsubscribed and unreachable")

    async def _incoming(self, event: OAEvent) -> Incoming:
        """The neutral message; a typed number or label of an offered choice becomes its action."""
        incoming = partial(Incoming, channel=CHANNEL, user_id=event.user_id, message_id=event.key)
        if event.event == FOLLOW:
            return incoming(text="/start")
        if event.event == TEXT and event.text:
            action = await self.typed_choice(event.user_id, event.text)
            if action is not None:
                return incoming(action=action)
            return incoming(text=event.text)
        if event.event == LOCATION:
            return incoming(location=event.location)
        kind = "photo" if event.event == IMAGE else "voice"
        return incoming(text=event.text, attachments=(Attachment(kind, event.url or ""),), fetch=self._download)

    # ----- out -----

    def health(self) -> dict[str, str]:
        """Whether the channel can send (`status`)."""
        return {"zalo_oa": self.status}

    async def _send_text(self, chat_id: str, text: str) -> None:
        assert self.api is not None
        await self.api.send(chat_id, {"text": text})

    async def _send_image(self, chat_id: str, image: str, caption: str) -> bool:
        """A photo by URL, or a stored one uploaded once (again when Zalo has forgotten the upload:
        the send is tried once more); False when it is no photo that can be sent."""
        assert self.api is not None
        element = await self._image_element(image)
        if element is None:
            return False
        try:
            await self.api.send(chat_id, _media_message(caption, element))
        except ZaloOAApiError as exc:
            if exc.code != UPLOAD_EXPIRED or "attachment_id" not in element:
                raise
            log.info("Zalo OA: Zalo no longer knows the upload of %r (%s); uploading it again", image, exc)
            element = await self._image_element(image, expired=element["attachment_id"])
            if element is None:
                raise
            await self.api.send(chat_id, _media_message(caption, element))
        return True

    async def _image_element(self, image: str, *, expired: str | None = None) -> dict | None:
        """The media element of a photo: its URL, or the attachment id of a stored photo, uploaded once
        and again when the upload is UPLOAD_REFRESH old or is the `expired` one Zalo refused."""
        if image.startswith(("https://", "http://")):
            return {"media_type": "image", "url": image}
        attachment_id = await self._uploads.get(image, lambda: self._upload(image), expired=expired)
        return {"media_type": "image", "attachment_id": attachment_id} if attachment_id is not None else None

    async def _upload(self, image: str) -> str | None:
        """Upload a photo of the data folder; None for a file that is not one, or is over 1 MB."""
        assert self.api is not None
        path = data_file(self.settings.data_dir, image)
        found = remote_media.sniff(path.read_bytes()[:16], "photo") if path is not None else None
        if path is None or found is None or path.stat().st_size > UPLOAD_MAX:
            log.warning("Zalo OA: image %r is not a photo of DATA_DIR under 1 MB; sending the text alone", image)
            return None
        return await self.api.upload_image(path.read_bytes(), path.name, found[0])


def _media_message(caption: str, element: dict) -> dict:
    """A consultation message with one photo, and its caption when there is one."""
    attachment = {"type": "template", "payload": {"template_type": "media", "elements": [element]}}
    return {**({"text": caption} if caption else {}), "attachment": attachment}


async def _body(request: web.Request) -> bytes:
    """The raw body, refused (413) past MAX_BODY without reading more."""
    if (request.content_length or 0) > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length or 0)
    data = bytearray()
    async for chunk in request.content.iter_chunked(16 * 1024):
        data += chunk
        if len(data) > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=len(data))
    return bytes(data)


def _check(settings: Settings) -> Iterator[str]:
    """ZALO_OA_*: the app's numeric id; the four settings the channel needs all set, or none."""
    if settings.zalo_oa_app_id and not settings.zalo_oa_app_id.isdigit():
        given = settings.zalo_oa_app_id[:60]
        yield f"ZALO_OA_APP_ID: must be the Zalo app's numeric id (Zalo for Developers) (got {given!r})"
    needed = {
        "ZALO_OA_APP_ID": settings.zalo_oa_app_id,
        "ZALO_OA_APP_SECRET": settings.zalo_oa_app_secret,
        "ZALO_OA_SECRET_KEY": settings.zalo_oa_secret_key,
        "ZALO_OA_REFRESH_TOKEN": settings.zalo_oa_refresh_token,
    }
    missing = [name for name, value in needed.items() if not value]
    if missing and len(missing) < len(needed):
        yield f"{missing[0]}: required with the other Zalo Official Account settings: {ZALO_OA_SETTINGS[missing[0]]}"


KIND = Kind(
    CHANNEL,
    lambda parts: ZaloOAChannel(parts.settings, parts.engine, parts.locks, parts.clock),
    enabled=lambda settings: settings.zalo_oa_enabled,
    routes=(Route("POST", "/webhook/zalo-oa", "zalo-oa-webhook", "handle_webhook"),),
    check=_check,
)
