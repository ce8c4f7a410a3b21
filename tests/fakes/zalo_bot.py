"""A fake Zalo Bot API server for tests, on 127.0.0.1 with an ephemeral port.

Point the bot at it (`ZALO_BOT_BASE_URL=fake.base_url`, `ZALO_BOT_TOKEN=fake.token`) and drive it
the way a Zalo user would, then assert on what the bot sent back::

    async with FakeZaloBot() as zalo:
        zalo.user_sends("u1", "xin chao")
        [reply] = await zalo.wait_for_messages("u1", 1)

Like the real API every method is `POST <base><token>/<method>` with a JSON body, answered with
`{"ok": true, "result": …}` or `{"ok": false, "error_code", "description"}`; a wrong token gets 401.
`getUpdates` is a long poll that returns ONE update per call and, when none comes within
`max_poll_wait` (or the `timeout` asked, if shorter), answers HTTP 408; it is refused while a
webhook is set. `sendMessage` refuses texts outside 1–2000 characters, `sendPhoto` needs a photo
URL. Photos users send are served by the fake itself (`/files/<name>`), so the bot can download them.
Faults: `fail_next(method, code, …)` answers the next calls of a method with an error, and
`drop_next(method)` closes the connection without an answer (a network error); `outage(kind)` makes
every call (or some methods') fail until `restore()`: 500s, or connections closed without an answer.
`slow(method, seconds)` answers a method's calls late, and `hold(method)` keeps them waiting until
`release(method)` (a process can be killed meanwhile: a held call whose caller is gone delivers nothing).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer

DEFAULT_TOKEN = "2718281828:fake-zalo-bot-key"
MAX_TEXT = 2000


@dataclass
class Sent:
    """One call the bot made (recorded once answered successfully)."""

    method: str
    chat_id: str | None
    text: str | None
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


@dataclass
class Failure:
    code: int
    description: str
    times: int
    retry_after: float | None = None
    drop: bool = False


class FakeZaloBot(LoopbackServer):
    """The fake server and its record of everything the bot did."""

    def __init__(self, *, token: str = DEFAULT_TOKEN, max_poll_wait: float = 0.5) -> None:
        super().__init__()
        self.token = token
        self.max_poll_wait = max_poll_wait
        self.sent: list[Sent] = []
        self.calls_made: list[tuple[str, dict[str, Any]]] = []
        self.webhook: dict[str, str] | None = None
        self.empty_polls = 0
        self.files: dict[str, bytes] = {}
        self._updates: deque[dict] = deque()
        self._new_update = asyncio.Event()
        self._failures: dict[str, Failure] = {}
        self._outage: tuple[str, frozenset[str] | None] | None = None
        self._delays: dict[str, float] = {}
        self._holds: dict[str, tuple[asyncio.Event, asyncio.Event]] = {}
        self.outage_hits: list[str] = []
        self._ids = itertools.count(1)

    # ----- lifecycle -----

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._dispatch)
        app.router.add_get("/files/{name}", self._file)
        return app

    def _let_go(self) -> None:
        for method in list(self._holds):
            self.release(method)

    @property
    def base_url(self) -> str:
        """The value for ZALO_BOT_BASE_URL."""
        return f"http://127.0.0.1:{self.port}/bot"

    # ----- what users do -----

    def make_update(self, event: str, user_id: str, *, wrapped: bool = False, **message: Any) -> dict:
        """An update as Zalo sends it (flat, or wrapped in {ok, result} when `wrapped`)."""
        body = {
            "event_name": event,
            "message": {
                "from": {"id": user_id, "display_name": "Người dùng Zalo", "is_bot": False},
                "chat": {"id": user_id, "chat_type": "PRIVATE"},
                "message_id": secrets.token_hex(10),
                "date": int(time.time() * 1000),
                **message,
            },
        }
        return {"ok": True, "result": body} if wrapped else body

    def push_update(self, update: dict) -> None:
        """Queue an update for getUpdates."""
        self._updates.append(update)
        self._new_update.set()

    def user_sends(self, user_id: str, text: str) -> dict:
        """A text message."""
        update = self.make_update("message.text.received", user_id, text=text)
        self.push_update(update)
        return update

    def photo_url(self, data: bytes) -> str:
        """Keep a photo on the fake's file server and return its URL."""
        name = f"{secrets.token_hex(8)}.jpg"
        self.files[name] = data
        return f"http://127.0.0.1:{self.port}/files/{name}"

    def image_update(self, user_id: str, data: bytes, caption: str | None = None) -> dict:
        """A photo message (not queued)."""
        extra = {"caption": caption} if caption else {}
        return self.make_update("message.image.received", user_id, photo_url=self.photo_url(data), **extra)

    def user_sends_photo(self, user_id: str, data: bytes, caption: str | None = None) -> dict:
        """A photo, with an optional caption."""
        update = self.image_update(user_id, data, caption)
        self.push_update(update)
        return update

    def user_sends_sticker(self, user_id: str) -> dict:
        """A sticker."""
        update = self.make_update("message.sticker.received", user_id, sticker="0e078a2fb66a5f34067b",
                                  url="https://zalo-api.zadn.vn/sticker.png")
        self.push_update(update)
        return update

    def user_sends_unsupported(self, user_id: str) -> dict:
        """A kind of message the Bot API does not pass on (a file, a voice message, …)."""
        update = self.make_update("message.unsupported.received", user_id)
        self.push_update(update)
        return update

    # ----- faults -----

    def fail_next(self, method: str, code: int, description: str = "error", *, times: int = 1,
                  retry_after: float | None = None) -> None:
        """Answer the next `times` calls of `method` with an error."""
        self._failures[method] = Failure(code, description, times, retry_after)

    def drop_next(self, method: str, *, times: int = 1) -> None:
        """Close the connection on the next `times` calls of `method`, answering nothing."""
        self._failures[method] = Failure(0, "", times, drop=True)

    def outage(self, kind: str = "500", *, methods: set[str] | None = None) -> None:
        """Until `restore()`, every call (or those of `methods`) fails: "500" answers Internal Server
        Error, "reset" closes the connection without an answer."""
        if kind not in ("500", "reset"):
            raise ValueError(f"unknown outage kind {kind!r}")
        self._outage = (kind, None if methods is None else frozenset(methods))

    def restore(self) -> None:
        """End the outage, and any slowness."""
        self._outage = None
        self._delays.clear()

    def slow(self, method: str, seconds: float) -> None:
        """Until `restore()`, answer each call of `method` only after `seconds`."""
        self._delays[method] = seconds

    def hold(self, method: str) -> asyncio.Event:
        """Keep calls of `method` waiting until `release(method)`; the event returned is set once one waits."""
        reached = asyncio.Event()
        self._holds[method] = (reached, asyncio.Event())
        return reached

    def release(self, method: str) -> None:
        """Let held calls of `method` go on, and the next ones through."""
        held = self._holds.pop(method, None)
        if held is not None:
            held[1].set()

    # ----- what the bot did -----

    def calls(self, method: str) -> list[Sent]:
        """Successful calls of a method."""
        return [s for s in self.sent if s.method == method]

    def messages_to(self, chat_id: str) -> list[Sent]:
        """Texts and photos sent to a chat, in order."""
        return [s for s in self.sent if s.method in ("sendMessage", "sendPhoto") and s.chat_id == chat_id]

    def mark(self) -> int:
        """A position in `sent`, to wait for what comes after it."""
        return len(self.sent)

    async def wait_for(self, predicate: Callable[[Sent], bool], *, timeout: float = 10, start: int = 0) -> Sent:
        """The first call after `start` matching `predicate`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for sent in self.sent[start:]:
                if predicate(sent):
                    return sent
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                shown = "\n".join(f"  {s.method} {s.chat_id} {s.text!r}" for s in self.sent[start:])
                raise AssertionError(f"nothing matched within {timeout} s; calls:\n{shown}")
            await self._next_change(remaining)

    async def wait_for_messages(self, chat_id: str, count: int, *, timeout: float = 10) -> list[Sent]:
        """Wait until at least `count` messages went to a chat; return them."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.messages_to(chat_id)) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{len(self.messages_to(chat_id))} of {count} messages to {chat_id}")
            await self._next_change(0.2)
        return self.messages_to(chat_id)

    # ----- the server -----

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        try:
            params = await request.json() if request.can_read_body else {}
        except ValueError:
            return _error(400, "Bad Request: body is not JSON")
        params = params if isinstance(params, dict) else {}
        self.calls_made.append((method, params))
        if self._outage is not None and (self._outage[1] is None or method in self._outage[1]):
            self.outage_hits.append(method)
            if self._outage[0] == "reset":
                assert request.transport is not None
                request.transport.abort()
                return web.Response()
            return _error(500, "Internal Server Error")
        failure = self._failures.get(method)
        if failure is not None:
            failure.times -= 1
            if failure.times <= 0:
                del self._failures[method]
            if failure.drop:
                assert request.transport is not None
                request.transport.close()
                return web.Response()
            extra = {"parameters": {"retry_after": failure.retry_after}} if failure.retry_after else {}
            return _error(failure.code, failure.description, **extra)
        if method in self._delays:
            await asyncio.sleep(self._delays[method])
        if method in self._holds:
            reached, go = self._holds[method]
            reached.set()
            await go.wait()
            if request.transport is None or request.transport.is_closing():
                return web.Response()  # the caller is gone (killed): nothing was delivered
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _error(404, "Not Found: unknown method")
        try:
            result = await handler(params)
        except _ApiError as exc:
            return _error(exc.code, exc.description)
        if result is _EMPTY:
            self.empty_polls += 1
            return _error(408, "Request timeout")
        chat = params.get("chat_id")
        self.sent.append(Sent(method, str(chat) if chat is not None else None, params.get("text", params.get("caption")), params))
        self._changed.set()
        return web.json_response({"ok": True, "result": result})

    async def _file(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["name"])
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data, content_type="image/jpeg")

    async def _m_getMe(self, params: dict) -> dict:
        return {"id": self.token.split(":")[0], "account_name": "bot.CauNoiTest", "account_type": "BASIC",
                "can_join_groups": False}

    async def _m_getUpdates(self, params: dict) -> Any:
        if self.webhook is not None:
            raise _ApiError(409, "Conflict: getUpdates is not available while a webhook is set")
        try:
            asked = float(params.get("timeout", 30))
        except (TypeError, ValueError):
            raise _ApiError(400, "Bad Request: timeout must be a number") from None
        deadline = asyncio.get_running_loop().time() + min(asked, self.max_poll_wait)
        while not self._updates:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return _EMPTY
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), remaining)
            except TimeoutError:
                pass
        return self._updates.popleft()

    async def _m_setWebhook(self, params: dict) -> dict:
        url, secret = params.get("url"), params.get("secret_token")
        if not isinstance(url, str) or not url.startswith("https://"):
            raise _ApiError(400, "Bad Request: url must be https")
        if not isinstance(secret, str) or not 8 <= len(secret) <= 256:
            raise _ApiError(400, "Bad Request: secret_token must have 8 to 256 characters")
        self.webhook = {"url": url, "secret_token": secret}
        return {"url": url, "updated_at": int(time.time() * 1000)}

    async def _m_deleteWebhook(self, params: dict) -> dict:
        self.webhook = None
        return {"url": "", "updated_at": int(time.time() * 1000)}

    async def _m_getWebhookInfo(self, params: dict) -> dict:
        return {"url": (self.webhook or {}).get("url", ""), "updated_at": int(time.time() * 1000)}

    async def _m_sendMessage(self, params: dict) -> dict:
        self._need_chat(params)
        text = params.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= MAX_TEXT:
            raise _ApiError(400, f"Bad Request: text must have 1 to {MAX_TEXT} characters")
        return self._message()

    async def _m_sendPhoto(self, params: dict) -> dict:
        self._need_chat(params)
        photo, caption = params.get("photo"), params.get("caption")
        if not isinstance(photo, str) or not photo.startswith(("http://", "https://")):
            raise _ApiError(400, "Bad Request: photo must be a URL")
        if caption is not None and (not isinstance(caption, str) or not 1 <= len(caption) <= MAX_TEXT):
            raise _ApiError(400, f"Bad Request: caption must have 1 to {MAX_TEXT} characters")
        return self._message()

    async def _m_sendChatAction(self, params: dict) -> None:
        self._need_chat(params)
        if params.get("action") not in ("typing", "upload_photo"):
            raise _ApiError(400, "Bad Request: unknown action")
        return None

    @staticmethod
    def _need_chat(params: dict) -> None:
        if not isinstance(params.get("chat_id"), str) or not params["chat_id"]:
            raise _ApiError(400, "Bad Request: chat_id must be a string")

    def _message(self) -> dict:
        return {"message_id": f"{next(self._ids):020x}", "date": int(time.time() * 1000)}


class _ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


_EMPTY = object()


def _error(code: int, description: str, **extra: Any) -> web.Response:
    return web.json_response({"ok": False, "error_code": code, "description": description, **extra}, status=code)
