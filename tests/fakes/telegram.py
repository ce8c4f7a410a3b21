"""A fake Telegram Bot API server for tests.

`FakeTelegram` is a small aiohttp application served on 127.0.0.1 with an
ephemeral port. Point a real python-telegram-bot (PTB) ``Application`` at it and
drive the bot the way a user would, then assert on what the bot sent back::

    async with FakeTelegram() as tg:
        app = (
            ApplicationBuilder()
            .token(tg.token)
            .base_url(tg.base_url)            # http://127.0.0.1:PORT/bot
            .base_file_url(tg.base_file_url)  # http://127.0.0.1:PORT/file/bot
            .build()
        )
        ...  # add handlers, app.initialize(), app.updater.start_polling(...), app.start()
        tg.user_sends(42, "/start")
        reply = await tg.wait_for(lambda s: s.method == "sendMessage" and s.chat_id == 42)
        assert tg.buttons(reply) == [("Có", "yes"), ("Không", "no")]
        tg.user_presses(42, "yes")
        await tg.wait_for(lambda s: s.method == "answerCallbackQuery")

How requests are read. PTB 22 (``HTTPXRequest``) POSTs every call. Each
parameter is turned into a string first (``RequestParameter.json_value``):
string values are sent as they are, everything else (ints, bools, lists, and
objects such as ``reply_markup`` which are ``to_dict()``-ed) is ``json.dumps``-ed.
Without files the strings go out as ``application/x-www-form-urlencoded``; with
files the same strings become plain ``multipart/form-data`` fields and each file
is a part with a filename, named after its parameter (``photo``) or, for files
referenced from inside JSON (media groups, stickers), named ``attachedXXXX`` and
referenced as ``"attach://attachedXXXX"``. The fake also accepts JSON bodies and
query strings like the real server; the bot's own request class
(``bot/channels/telegram_http.py``) sends JSON bodies, and forms only for uploads. Values of known string parameters (text,
caption, url, ...) are kept verbatim; all other values are JSON-decoded when
possible, so handlers see ``chat_id`` as an int and ``reply_markup`` as a dict.
Uploaded files appear in the params as `UploadedFile` objects.

Behaviour follows the real Bot API where it is cheap to do so: a wrong token
gets 401, an unknown method 404, ``getUpdates`` is a real long poll that honours
``offset``/``limit``/``timeout``/``allowed_updates`` and answers 409 while a
webhook is set, edits that change nothing get "message is not modified", texts
longer than 4096 characters and callback data longer than 64 bytes are refused.
Faults can be injected with `FakeTelegram.fail_next` and `FakeTelegram.block`, and a whole
outage (500s, connection resets or requests left unanswered, until `restore`) with
`FakeTelegram.outage`; methods not implemented here can be added with `FakeTelegram.set_method`.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import inspect
import itertools
import json
import logging
import mimetypes
import re
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Concatenate, NamedTuple, ParamSpec, Self

import aiohttp
from aiohttp import web

__all__ = [
    "BOT_USERNAME",
    "DEFAULT_TOKEN",
    "MESSAGE_METHODS",
    "ApiError",
    "FakeTelegram",
    "Sent",
    "UploadedFile",
    "WebhookSettings",
    "buttons",
]

_LOGGER = logging.getLogger(__name__)

JSONDict = dict[str, Any]
P = ParamSpec("P")
MethodHandler = Callable[[JSONDict], Any | Awaitable[Any]]

DEFAULT_TOKEN = "123456:TEST"
BOT_USERNAME = "caunoi_test_bot"
BOT_FIRST_NAME = "Cầu Nối Test"

#: Methods that put a (new or edited) message into a chat; used by `messages_to`.
MESSAGE_METHODS: frozenset[str] = frozenset(
    {"sendMessage", "sendPhoto", "sendDocument", "editMessageText"}
)

#: Bot API parameters whose value is a string, so must never be JSON-decoded
#: (a text of "123" or "true" stays a string). Files sent by file_id/URL included.
STRING_PARAMS: frozenset[str] = frozenset(
    {
        "action", "address", "animation", "audio", "bio", "business_connection_id",
        "callback_query_id", "caption", "currency", "custom_emoji_id", "custom_title",
        "description", "document", "emoji", "error_message", "explanation", "file_id",
        "filename", "first_name", "foursquare_id", "foursquare_type", "game_short_name",
        "google_place_id", "google_place_type", "inline_message_id", "inline_query_id",
        "ip_address", "language_code", "last_name", "message_effect_id", "name",
        "next_offset", "parse_mode", "payload", "performer", "phone_number", "photo",
        "photo_url", "pre_checkout_query_id", "provider_token", "question",
        "secret_token", "shipping_query_id", "short_description", "start_parameter",
        "sticker", "sticker_format", "sticker_set_name", "sticker_type",
        "telegram_payment_charge_id", "text", "thumbnail", "title", "type", "url",
        "username", "vcard", "video", "video_note", "voice", "web_app_query_id",
    }
)

#: Update types delivered when ``allowed_updates`` is empty/unset (as in the real API).
_NOT_DELIVERED_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

_CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice",
        "upload_voice", "upload_document", "choose_sticker", "find_location",
        "record_video_note", "upload_video_note",
    }
)

_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")

_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)

_ACTION_FIELDS = frozenset(
    {
        "url", "callback_data", "web_app", "login_url", "switch_inline_query",
        "switch_inline_query_current_chat", "switch_inline_query_chosen_chat",
        "copy_text", "callback_game", "pay",
    }
)


class ApiError(Exception):
    """An error answer of the Bot API; raise it from a method handler."""

    def __init__(
        self, status: int, description: str, parameters: JSONDict | None = None
    ) -> None:
        super().__init__(f"{status}: {description}")
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> JSONDict:
        """The JSON body the real API sends for this error."""
        body: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    field: str
    filename: str | None
    content_type: str
    data: bytes

    def __repr__(self) -> str:
        return f"UploadedFile({self.field!r}, {self.filename!r}, {len(self.data)} bytes)"


@dataclass
class Sent:
    """One call the bot made to the fake API (recorded after it was answered)."""

    method: str
    chat_id: int | str | None
    text: str | None
    reply_markup: JSONDict | None
    params: JSONDict
    at: float
    result: Any = None

    def __str__(self) -> str:
        parts = [f"chat_id={self.chat_id!r}"] if self.chat_id is not None else []
        if self.text is not None:
            parts.append(f"text={self.text!r}")
        if self.reply_markup is not None:
            parts.append(f"buttons={buttons(self)!r}")
        return f"{self.method}({', '.join(parts)})"


@dataclass
class WebhookSettings:
    """The webhook registered with setWebhook."""

    url: str
    secret_token: str | None = None
    allowed_updates: list[str] | None = None
    max_connections: int = 40
    ip_address: str | None = None
    has_custom_certificate: bool = False


@dataclass
class _Fault:
    status: int
    remaining: int
    description: str
    retry_after: int | None


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes = field(repr=False)


class _Described(NamedTuple):
    """A successful result that also carries the API's `description` text."""

    result: Any
    description: str


def buttons(obj: Sent | JSONDict | None) -> list[tuple[str, str]]:
    """Return (text, callback_data) of the callback buttons in a call, message or markup."""
    if obj is None:
        return []
    if isinstance(obj, Sent):
        markup = obj.reply_markup
    elif "inline_keyboard" in obj:
        markup = obj
    else:
        markup = obj.get("reply_markup")
    if not isinstance(markup, dict):
        return []
    return [
        (button["text"], button["callback_data"])
        for row in markup.get("inline_keyboard", [])
        for button in row
        if "callback_data" in button
    ]


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _normalise_chat_id(value: Any) -> int | str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        return text


def _same_chat(a: Any, b: Any) -> bool:
    return a is not None and b is not None and str(a) == str(b)


def _decode_value(name: str, value: str) -> Any:
    if name in STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _resolve_attachments(value: Any, files: dict[str, UploadedFile]) -> Any:
    """Replace ``attach://name`` strings (at any depth) by the uploaded file."""
    if isinstance(value, str) and value.startswith("attach://"):
        return files.get(value.removeprefix("attach://"), value)
    if isinstance(value, list):
        return [_resolve_attachments(item, files) for item in value]
    if isinstance(value, dict):
        return {key: _resolve_attachments(item, files) for key, item in value.items()}
    return value


def _inline_markup(markup: Any) -> JSONDict | None:
    """Only inline keyboards are echoed back in Message.reply_markup."""
    if isinstance(markup, dict) and "inline_keyboard" in markup:
        return markup
    return None


def _update_type(update: JSONDict) -> str:
    return next((key for key in update if key != "update_id"), "")


def _queued(build: Callable[Concatenate[FakeTelegram, P], JSONDict], doc: str) -> Callable[Concatenate[FakeTelegram, P], JSONDict]:
    """A method that queues for getUpdates the Update `build` makes from the same arguments."""
    def queue(self: FakeTelegram, /, *args: P.args, **kwargs: P.kwargs) -> JSONDict:
        return self.push_update(build(self, *args, **kwargs))
    queue.__doc__ = doc
    return queue


class FakeTelegram:
    """Fake Bot API server; see the module docstring."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        max_poll_wait: float | None = None,
        bot_username: str = BOT_USERNAME,
        bot_first_name: str = BOT_FIRST_NAME,
    ) -> None:
        self.token = token
        self.max_poll_wait = max_poll_wait
        prefix = token.split(":", 1)[0]
        self.bot_user: JSONDict = {
            "id": int(prefix) if prefix.isdigit() else 123456,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.sent: list[Sent] = []
        self.failed: list[Sent] = []
        self.webhook: WebhookSettings | None = None
        self.commands: dict[tuple[str, str], list[JSONDict]] = {}
        self.blocked: set[str] = set()
        self.requests: Counter[str] = Counter()  # requests per method, getUpdates and failures included

        self._updates: list[JSONDict] = []
        self._update_ids = itertools.count(100_000_001)
        self._allowed_updates: list[str] = []
        self._update_event = asyncio.Event()
        self._sent_event = asyncio.Event()
        self._closing = False

        self._users: dict[int, JSONDict] = {}
        self._chats: dict[str, JSONDict] = {}
        self._message_ids: dict[str, itertools.count[int]] = {}
        self._messages: dict[tuple[str, int], JSONDict] = {}
        self._last_bot_message: dict[str, int] = {}
        self._callback_queries: dict[str, str] = {}
        self._chat_instances: dict[str, str] = {}
        self._answered_queries: set[str] = set()
        self._callback_ids = itertools.count(4_382_000_000_000_000_001)
        self._faults: dict[str, list[_Fault]] = {}
        self._outage: tuple[str, frozenset[str] | None] | None = None
        self._restored = asyncio.Event()
        self.outage_hits: list[str] = []  # methods called during an outage
        self.outage_abandoned: list[str] = []  # calls of a "timeout" outage the client gave up on
        self._files: dict[str, _StoredFile] = {}
        self._files_by_path: dict[str, _StoredFile] = {}
        self._file_counter = itertools.count(1)

        self._methods: dict[str, tuple[str, MethodHandler]] = {}
        builtin: dict[str, MethodHandler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "sendChatAction": self._send_chat_action,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "close": self._true,
            "logOut": self._true,
            "getFile": self._get_file,
        }
        for name, handler in builtin.items():
            self.set_method(name, handler)

        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start serving on 127.0.0.1 with an ephemeral port."""
        if self._runner is not None:
            return
        self._closing = False
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_file)
        # handler_cancellation: a long poll abandoned by the client ends at once.
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        _LOGGER.debug("fake Telegram listening on %s", self.url)

    async def stop(self) -> None:
        """End pending long polls and stop the server."""
        self._closing = True
        self._notify_updates()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """Root URL of the server, e.g. http://127.0.0.1:PORT."""
        if self._port is None:
            raise RuntimeError("FakeTelegram is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        """Value for ApplicationBuilder.base_url(): PTB appends '{token}/{method}'."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """Value for ApplicationBuilder.base_file_url(): PTB appends '{token}/{file_path}'."""
        return f"{self.url}/file/bot"

    # ------------------------------------------------------------- HTTP plumbing

    async def _handle_api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._error_response(ApiError(401, "Unauthorized"))
        entry = self._methods.get(request.match_info["method"].lower())
        if entry is None:
            return self._error_response(ApiError(404, "Not Found"))
        method, handler = entry
        self.requests[method] += 1
        if self._outage is not None and (self._outage[1] is None or method in self._outage[1]):
            return await self._fail_for_outage(request, method, self._outage[0])
        try:
            params = await self._read_params(request)
        except ValueError as exc:
            return self._error_response(ApiError(400, f"Bad Request: {exc}"))

        try:
            self._raise_injected_fault(method)
            outcome = handler(params)
            if inspect.isawaitable(outcome):
                outcome = await outcome
        except ApiError as exc:
            _LOGGER.debug("%s -> %s", method, exc)
            self.failed.append(self._record(method, params, exc.payload()))
            return self._error_response(exc)

        body: JSONDict = {"ok": True}
        if isinstance(outcome, _Described):
            body["result"], body["description"] = outcome.result, outcome.description
        else:
            body["result"] = outcome
        if method != "getUpdates":
            self.sent.append(self._record(method, params, body["result"]))
            self._notify_sent()
        return web.json_response(body, dumps=_dumps)

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._error_response(ApiError(401, "Unauthorized"))
        stored = self._files_by_path.get(request.match_info["file_path"])
        if stored is None:
            return self._error_response(ApiError(404, "Not Found"))
        content_type = mimetypes.guess_type(stored.file_path)[0] or "application/octet-stream"
        return web.Response(body=stored.data, content_type=content_type)

    @staticmethod
    def _error_response(error: ApiError) -> web.Response:
        return web.json_response(error.payload(), status=error.status, dumps=_dumps)

    @staticmethod
    async def _read_params(request: web.Request) -> JSONDict:
        """Decode query string, JSON, urlencoded or multipart parameters into one dict."""
        params: JSONDict = {key: _decode_value(key, value) for key, value in request.query.items()}
        files: dict[str, UploadedFile] = {}
        if request.can_read_body:
            content_type = request.content_type
            if content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError as exc:
                    raise ValueError("can't parse JSON encoded request body") from exc
                if not isinstance(body, dict):
                    raise ValueError("JSON request body must be an object")
                params.update(body)
            elif content_type == "multipart/form-data":
                reader = await request.multipart()
                while (part := await reader.next()) is not None:
                    if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                        continue
                    if part.filename is not None:
                        files[part.name] = UploadedFile(
                            field=part.name,
                            filename=part.filename,
                            content_type=part.headers.get(
                                aiohttp.hdrs.CONTENT_TYPE, "application/octet-stream"
                            ),
                            data=bytes(await part.read(decode=True)),
                        )
                    else:
                        params[part.name] = _decode_value(part.name, await part.text())
            elif content_type == "application/x-www-form-urlencoded":
                form = await request.post()
                params.update({key: _decode_value(key, str(value)) for key, value in form.items()})
        for name, upload in files.items():
            params.setdefault(name, upload)
        resolved: JSONDict = _resolve_attachments(params, files)
        return resolved

    def _record(self, method: str, params: JSONDict, result: Any) -> Sent:
        chat_id = _normalise_chat_id(params.get("chat_id"))
        if chat_id is None and "callback_query_id" in params:
            query_chat = self._callback_queries.get(str(params["callback_query_id"]))
            chat_id = _normalise_chat_id(query_chat)
        text = params.get("text", params.get("caption"))
        markup = params.get("reply_markup")
        return Sent(
            method=method,
            chat_id=chat_id,
            text=text if isinstance(text, str) else None,
            reply_markup=markup if isinstance(markup, dict) else None,
            params=params,
            at=time.monotonic(),
            result=result,
        )

    def _raise_injected_fault(self, method: str) -> None:
        faults = self._faults.get(method)
        if not faults:
            return
        fault = faults[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            faults.pop(0)
        parameters = {"retry_after": fault.retry_after} if fault.retry_after is not None else None
        raise ApiError(fault.status, fault.description, parameters)

    def _notify_updates(self) -> None:
        event, self._update_event = self._update_event, asyncio.Event()
        event.set()

    def _notify_sent(self) -> None:
        event, self._sent_event = self._sent_event, asyncio.Event()
        event.set()

    # ------------------------------------------------------------ fault switches

    def fail_next(
        self,
        method: str,
        status: int = 500,
        times: int = 1,
        retry_after: int | None = None,
        description: str | None = None,
    ) -> None:
        """Make the next `times` calls of `method` answer with an HTTP error."""
        canonical = self._canonical(method)
        if status == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            if status == 429:
                description = f"Too Many Requests: retry after {retry_after}"
            else:
                description = _DEFAULT_DESCRIPTIONS.get(status, f"Error {status}")
        fault = _Fault(status, max(times, 1), description, retry_after)
        self._faults.setdefault(canonical, []).append(fault)

    def outage(self, kind: str = "500", *, methods: Collection[str] | None = None) -> None:
        """Until `restore()`, every call (or those of `methods`) fails as in a platform outage: "500"
        answers Internal Server Error, "reset" closes the connection without an answer, "timeout"
        answers nothing until the client gives up (or, if it waits that long, the outage ends: 502)."""
        if kind not in ("500", "reset", "timeout"):
            raise ValueError(f"unknown outage kind {kind!r}")
        self._outage = (kind, None if methods is None else frozenset(self._canonical(m) for m in methods))
        self._restored = asyncio.Event()

    def restore(self) -> None:
        """End the outage."""
        self._outage = None
        self._restored.set()

    async def _fail_for_outage(self, request: web.Request, method: str, kind: str) -> web.Response:
        self.outage_hits.append(method)
        if kind == "reset":
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        if kind == "timeout":
            try:
                await self._restored.wait()
            except asyncio.CancelledError:  # the client gave up (handler_cancellation)
                self.outage_abandoned.append(method)
                raise
            return self._error_response(ApiError(502, _DEFAULT_DESCRIPTIONS[502]))
        return self._error_response(ApiError(500, _DEFAULT_DESCRIPTIONS[500]))

    def clear_faults(self) -> None:
        """Forget every injected fault that has not fired yet."""
        self._faults.clear()

    def block(self, chat_id: int | str) -> None:
        """Make every send/edit to this chat fail with 403 "bot was blocked by the user"."""
        self.blocked.add(str(chat_id))

    def unblock(self, chat_id: int | str) -> None:
        """Undo `block`."""
        self.blocked.discard(str(chat_id))

    def set_method(self, name: str, handler: MethodHandler) -> None:
        """Add or replace a method: handler(params) returns its result or raises ApiError."""
        self._methods[name.lower()] = (name, handler)

    def _canonical(self, method: str) -> str:
        entry = self._methods.get(method.lower())
        return entry[0] if entry else method

    # ------------------------------------------------------- users and updates

    def _user(
        self, user_id: int, first_name: str | None, language_code: str | None
    ) -> JSONDict:
        known = self._users.get(user_id, {})
        user: JSONDict = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name or known.get("first_name", "Test"),
        }
        if "username" in known:
            user["username"] = known["username"]
        language = language_code if language_code is not None else known.get("language_code")
        if language:
            user["language_code"] = language
        self._users[user_id] = user
        self._chats[str(user_id)] = {
            "id": user_id, "first_name": user["first_name"], "type": "private"
        }
        return user

    def _next_message_id(self, chat_key: str) -> int:
        counter = self._message_ids.setdefault(chat_key, itertools.count(1))
        return next(counter)

    def _message_update(self, user: JSONDict, **content: Any) -> JSONDict:
        """An Update carrying a new private message from `user` (kept for button presses on it)."""
        chat_key = str(user["id"])
        message: JSONDict = {
            "message_id": self._next_message_id(chat_key),
            "from": user,
            "chat": self._chats[chat_key],
            "date": int(time.time()),
            **content,
        }
        self._messages[(chat_key, message["message_id"])] = message
        return {"update_id": next(self._update_ids), "message": message}

    def make_message_update(self, user_id: int, text: str, *,
                            first_name: str = "Test", language_code: str = "vi") -> JSONDict:
        """Build (without queueing) a private-chat text message Update dict."""
        content: JSONDict = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16_len(command)}]
        return self._message_update(self._user(user_id, first_name, language_code), **content)

    def make_photo_update(self, user_id: int, file_bytes: bytes, caption: str | None = None, *,
                          first_name: str = "Test", language_code: str = "vi") -> JSONDict:
        """Build (without queueing) a photo message Update; the bytes are served by getFile."""
        content: JSONDict = {"photo": self._photo_sizes(self._store_file(file_bytes, "photos", "jpg"))}
        if caption is not None:
            content["caption"] = caption
        return self._message_update(self._user(user_id, first_name, language_code), **content)

    def make_callback_update(
        self,
        user_id: int,
        data: str,
        *,
        message: JSONDict | None = None,
        check_button: bool = True,
    ) -> JSONDict:
        """Build (without queueing) a callback_query Update for a button under a bot message."""
        user = self._user(user_id, None, None)
        chat_key = str(user_id)
        if message is None:
            last_id = self._last_bot_message.get(chat_key)
            if last_id is None or (chat_key, last_id) not in self._messages:
                raise ValueError(f"the bot has not sent a message to chat {user_id} to press on")
            message = self._messages[(chat_key, last_id)]
        else:
            key = (str(message["chat"]["id"]), int(message["message_id"]))
            self._messages.setdefault(key, message)
        if check_button:
            callback_data = [data for _, data in buttons(message)]
            if data not in callback_data:
                raise AssertionError(
                    f"message {message['message_id']} in chat {message['chat']['id']} has no "
                    f"button with callback_data {data!r}; its buttons: {buttons(message)!r}"
                )
        query_id = str(next(self._callback_ids))
        self._callback_queries[query_id] = str(message["chat"]["id"])
        query: JSONDict = {
            "id": query_id,
            "from": user,
            "message": message,
            "chat_instance": self._chat_instance(str(message["chat"]["id"])),
            "data": data,
        }
        return {"update_id": next(self._update_ids), "callback_query": query}

    def _chat_instance(self, chat_key: str) -> str:
        """A stable opaque id per chat, like the real (signed 64-bit) chat_instance."""
        if chat_key not in self._chat_instances:
            number = -8_000_000_000_000_000_000 - len(self._chat_instances)
            self._chat_instances[chat_key] = str(number)
        return self._chat_instances[chat_key]

    def push_update(self, update: JSONDict) -> JSONDict:
        """Queue an Update dict for getUpdates (gives it an update_id if missing)."""
        if "update_id" not in update:
            update = {"update_id": next(self._update_ids), **update}
        self._updates.append(update)
        self._notify_updates()
        return update

    user_sends = _queued(make_message_update, "Queue a private text message from a user (commands get a bot_command entity).")
    user_presses = _queued(make_callback_update, "Queue a button press on `message` (default: the bot's last message in that chat).")
    user_sends_photo = _queued(make_photo_update, "Queue a photo message from a user; its bytes can be downloaded via getFile.")

    def user_sends_location(self, user_id: int, latitude: float, longitude: float) -> JSONDict:
        """Queue a shared location (📎 → Location)."""
        location = {"latitude": latitude, "longitude": longitude}
        return self.push_update(self._message_update(self._user(user_id, None, None), location=location))

    def user_sends_voice(self, user_id: int, file_bytes: bytes, *, duration: int = 3, mime_type: str = "audio/ogg") -> JSONDict:
        """Queue a voice message; the bytes are served by getFile."""
        stored = self._store_file(file_bytes, "voice", "oga")
        voice = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "duration": duration,
                 "mime_type": mime_type, "file_size": len(file_bytes)}
        return self.push_update(self._message_update(self._user(user_id, None, None), voice=voice))

    @property
    def pending_updates(self) -> int:
        """Number of queued updates not yet confirmed by a getUpdates offset."""
        return len(self._updates)

    async def post_to_webhook(self, update: JSONDict) -> int:
        """POST an Update to the registered webhook like Telegram does; returns the HTTP status."""
        if self.webhook is None:
            raise AssertionError("no webhook is set")
        headers = {}
        if self.webhook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook.secret_token
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.webhook.url, json=update, headers=headers) as response,
        ):
            return response.status

    # --------------------------------------------------------------- assertions

    def calls(self, method: str) -> list[Sent]:
        """Recorded successful calls of one method."""
        canonical = self._canonical(method)
        return [sent for sent in self.sent if sent.method == canonical]

    def messages_to(
        self, chat_id: int | str, *, methods: Collection[str] | None = MESSAGE_METHODS
    ) -> list[Sent]:
        """Recorded calls to a chat; by default only those that send or edit a message."""
        return [
            sent
            for sent in self.sent
            if _same_chat(sent.chat_id, chat_id) and (methods is None or sent.method in methods)
        ]

    def mark(self) -> int:
        """Index to pass as `start` to wait_for so only later calls count."""
        return len(self.sent)

    async def wait_for(
        self, predicate: Callable[[Sent], bool], timeout: float = 5.0, *, start: int = 0
    ) -> Sent:
        """Wait until a recorded call (from index `start` on) satisfies predicate; return it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._sent_event
            for sent in self.sent[start:]:
                if predicate(sent):
                    return sent
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"no matching Bot API call within {timeout}s; "
                    + self._describe(self.sent[start:], "calls recorded")
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    async def wait_for_messages(
        self, chat_id: int | str, count: int, timeout: float = 5.0
    ) -> list[Sent]:
        """Wait until at least `count` messages were sent/edited in a chat; return them all."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._sent_event
            messages = self.messages_to(chat_id)
            if len(messages) >= count:
                return messages
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"expected {count} messages to chat {chat_id} within {timeout}s, "
                    f"got {len(messages)}; " + self._describe(self.sent, "calls recorded")
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    @staticmethod
    def _describe(records: Iterable[Sent], what: str) -> str:
        lines = [f"  {sent}" for sent in records]
        return f"{len(lines)} {what}" + (":\n" + "\n".join(lines) if lines else "")

    buttons = staticmethod(buttons)

    def last_message(self, chat_id: int | str) -> JSONDict | None:
        """Current state (after edits) of the last message the bot sent to a chat."""
        message_id = self._last_bot_message.get(str(chat_id))
        return None if message_id is None else self._messages.get((str(chat_id), message_id))

    def my_commands(self, language_code: str = "", scope: JSONDict | None = None) -> list[JSONDict]:
        """Commands set with setMyCommands for a scope and language."""
        return self.commands.get((self._scope_key(scope), language_code), [])

    # -------------------------------------------------------------------- files

    def add_file(self, data: bytes, *, kind: str = "documents", ext: str = "bin") -> JSONDict:
        """Register bytes so getFile and the file URL serve them; returns file_id etc."""
        stored = self._store_file(data, kind, ext)
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(data),
            "file_path": stored.file_path,
        }

    def file_bytes(self, file_id: str) -> bytes:
        """Bytes of a file known to the fake (uploaded by the bot or added by a test)."""
        return self._files[file_id].data

    def _store_file(self, data: bytes, kind: str, ext: str) -> _StoredFile:
        number = next(self._file_counter)
        stored = _StoredFile(
            file_id=f"AgACAgUAAxk{secrets.token_urlsafe(24)}",
            file_unique_id=f"AQAD{secrets.token_urlsafe(9)}",
            file_path=f"{kind}/file_{number}.{ext}",
            data=data,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def _photo_sizes(self, stored: _StoredFile) -> list[JSONDict]:
        thumb = self._store_file(stored.data, "photos", stored.file_path.rsplit(".", 1)[-1])
        return [
            {
                "file_id": thumb.file_id,
                "file_unique_id": thumb.file_unique_id,
                "file_size": len(thumb.data),
                "width": 90,
                "height": 90,
            },
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_size": len(stored.data),
                "width": 1280,
                "height": 960,
            },
        ]

    # ------------------------------------------------------------ bot messages

    def _chat(self, params: JSONDict) -> tuple[str, JSONDict]:
        chat_id = _normalise_chat_id(params.get("chat_id"))
        if chat_id is None or chat_id == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        key = str(chat_id)
        if key in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if key not in self._chats:
            if isinstance(chat_id, str):
                name = chat_id.lstrip("@")
                chat = {"id": -1_000_000_000_000 - len(self._chats), "title": name,
                        "username": name, "type": "channel"}
            elif chat_id > 0:
                chat = {"id": chat_id, "first_name": f"User {chat_id}", "type": "private"}
            else:
                chat_type = "supergroup" if key.startswith("-100") else "group"
                chat = {"id": chat_id, "title": f"Chat {chat_id}", "type": chat_type}
            self._chats[key] = chat
        return key, self._chats[key]

    def _new_bot_message(self, params: JSONDict, **content: Any) -> JSONDict:
        key, chat = self._chat(params)
        message: JSONDict = {
            "message_id": self._next_message_id(key),
            "from": self.bot_user,
            "chat": chat,
            "date": int(time.time()),
            **content,
        }
        if markup := _inline_markup(params.get("reply_markup")):
            message["reply_markup"] = markup
        reply_to = params.get("reply_parameters") or {}
        reply_to_id = reply_to.get("message_id") if isinstance(reply_to, dict) else None
        if reply_to_id is not None and (key, int(reply_to_id)) in self._messages:
            message["reply_to_message"] = self._messages[(key, int(reply_to_id))]
        self._messages[(key, message["message_id"])] = message
        self._last_bot_message[key] = message["message_id"]
        return message

    @staticmethod
    def _check_text(
        text: Any, parse_mode: Any, *, limit: int, empty: str | None, too_long: str
    ) -> None:
        if not isinstance(text, str) or not text.strip():
            if empty is None:
                return
            raise ApiError(400, empty)
        visible = text
        if isinstance(parse_mode, str) and parse_mode.lower() == "html":
            visible = html.unescape(re.sub(r"<[^>]+>", "", text))
        if _utf16_len(visible) > limit:
            raise ApiError(400, too_long)

    @staticmethod
    def _check_markup(markup: Any) -> None:
        if not isinstance(markup, dict) or "inline_keyboard" not in markup:
            return
        for row in markup["inline_keyboard"]:
            for button in row:
                if not _ACTION_FIELDS.intersection(button):
                    raise ApiError(
                        400, "Bad Request: text buttons are unallowed in the inline keyboard"
                    )
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")

    def _find_message(self, params: JSONDict, missing: str) -> tuple[tuple[str, int], JSONDict]:
        key, _ = self._chat(params)
        try:
            message_id = int(params["message_id"])
        except (KeyError, TypeError, ValueError):
            raise ApiError(400, "Bad Request: message identifier is not specified") from None
        message = self._messages.get((key, message_id))
        if message is None:
            raise ApiError(400, missing)
        return (key, message_id), message

    # ------------------------------------------------------------- API methods

    async def _true(self, params: JSONDict) -> bool:
        return True

    async def _get_me(self, params: JSONDict) -> JSONDict:
        return self.bot_user

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        if self.max_poll_wait is not None:
            timeout = min(timeout, self.max_poll_wait)
        if "allowed_updates" in params:
            self._allowed_updates = list(params["allowed_updates"] or [])

        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._update_event
            ready = [u for u in self._updates if u["update_id"] >= offset and self._allowed(u)]
            remaining = deadline - loop.time()
            if ready or self._closing or remaining <= 0:
                return ready[:limit]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    def _allowed(self, update: JSONDict) -> bool:
        kind = _update_type(update)
        if self._allowed_updates:
            return kind in self._allowed_updates
        return kind not in _NOT_DELIVERED_BY_DEFAULT

    async def _send_message(self, params: JSONDict) -> JSONDict:
        self._check_text(
            params.get("text"), params.get("parse_mode"), limit=4096,
            empty="Bad Request: message text is empty", too_long="Bad Request: message is too long",
        )
        self._check_markup(params.get("reply_markup"))
        content: JSONDict = {"text": params["text"]}
        if isinstance(params.get("entities"), list):
            content["entities"] = params["entities"]
        return self._new_bot_message(params, **content)

    def _to_edit(self, params: JSONDict) -> tuple[tuple[str, int], JSONDict] | None:
        """The bot's own message an edit names, once the new buttons are checked; None for an inline message."""
        self._check_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return None
        key, message = self._find_message(params, "Bad Request: message to edit not found")
        if message["from"].get("id") != self.bot_user["id"]:
            raise ApiError(400, "Bad Request: message can't be edited")
        return key, message

    async def _edit_message_text(self, params: JSONDict) -> JSONDict | bool:
        self._check_text(
            params.get("text"), params.get("parse_mode"), limit=4096,
            empty="Bad Request: message text is empty", too_long="Bad Request: message is too long",
        )
        found = self._to_edit(params)
        if found is None:
            return True
        key, message = found
        if "text" not in message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        markup = _inline_markup(params.get("reply_markup"))
        if message["text"] == params["text"] and message.get("reply_markup") == markup:
            raise ApiError(400, _NOT_MODIFIED)
        edited = {k: v for k, v in message.items() if k not in ("reply_markup", "entities")}
        edited.update(text=params["text"], edit_date=int(time.time()))
        if isinstance(params.get("entities"), list):
            edited["entities"] = params["entities"]
        if markup:
            edited["reply_markup"] = markup
        self._messages[key] = edited
        return edited

    async def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict | bool:
        found = self._to_edit(params)
        if found is None:
            return True
        key, message = found
        markup = _inline_markup(params.get("reply_markup"))
        if message.get("reply_markup") == markup:
            raise ApiError(400, _NOT_MODIFIED)
        edited = {k: v for k, v in message.items() if k != "reply_markup"}
        edited["edit_date"] = int(time.time())
        if markup:
            edited["reply_markup"] = markup
        self._messages[key] = edited
        return edited

    async def _delete_message(self, params: JSONDict) -> bool:
        key, _ = self._find_message(params, "Bad Request: message to delete not found")
        del self._messages[key]
        return True

    async def _answer_callback_query(self, params: JSONDict) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        if query_id not in self._callback_queries or query_id in self._answered_queries:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        self._answered_queries.add(query_id)
        return True

    def _file_param(self, params: JSONDict, name: str, kind: str) -> _StoredFile:
        value = params.get(name)
        if isinstance(value, UploadedFile):
            _, dot, ext = (value.filename or "").rpartition(".")
            return self._store_file(value.data, kind, ext if dot and ext else "bin")
        if isinstance(value, str) and value:
            if value in self._files:
                return self._files[value]
            # A URL or a file_id from elsewhere: accepted, with no content.
            return self._store_file(b"", kind, "jpg" if kind == "photos" else "bin")
        raise ApiError(400, f"Bad Request: there is no {name} in the request")

    def _sent_file(self, params: JSONDict, name: str, kind: str) -> _StoredFile:
        """Check the caption, buttons and chat of a call sending a file; the file it sends."""
        self._check_text(
            params.get("caption"), params.get("parse_mode"), limit=1024, empty=None,
            too_long="Bad Request: message caption is too long",
        )
        self._check_markup(params.get("reply_markup"))
        self._chat(params)
        return self._file_param(params, name, kind)

    def _captioned(self, params: JSONDict, **content: Any) -> JSONDict:
        """The bot's new message carrying `content` and the call's caption, if any."""
        if params.get("caption"):
            content["caption"] = params["caption"]
        return self._new_bot_message(params, **content)

    async def _send_photo(self, params: JSONDict) -> JSONDict:
        stored = self._sent_file(params, "photo", "photos")
        return self._captioned(params, photo=self._photo_sizes(stored))

    async def _send_document(self, params: JSONDict) -> JSONDict:
        stored = self._sent_file(params, "document", "documents")
        upload = params.get("document")
        document: JSONDict = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
        }
        if isinstance(upload, UploadedFile):
            document["file_name"] = upload.filename
            document["mime_type"] = upload.content_type
        return self._captioned(params, document=document)

    async def _send_chat_action(self, params: JSONDict) -> bool:
        self._chat(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    async def _set_webhook(self, params: JSONDict) -> _Described:
        url = params.get("url") or ""
        if params.get("drop_pending_updates"):
            self._updates.clear()
        if not url:
            self.webhook = None
            return _Described(True, "Webhook was deleted")
        if not str(url).startswith("https://") and not str(url).startswith("http://"):
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        allowed = params.get("allowed_updates")
        self.webhook = WebhookSettings(
            url=str(url),
            secret_token=params.get("secret_token"),
            allowed_updates=list(allowed) if isinstance(allowed, list) else None,
            max_connections=int(params.get("max_connections") or 40),
            ip_address=params.get("ip_address"),
            has_custom_certificate=isinstance(params.get("certificate"), UploadedFile),
        )
        return _Described(True, "Webhook was set")

    async def _delete_webhook(self, params: JSONDict) -> _Described:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        if self.webhook is None:
            return _Described(True, "Webhook is already deleted")
        self.webhook = None
        return _Described(True, "Webhook was deleted")

    async def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        info: JSONDict = {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook is not None:
            info.update(
                url=self.webhook.url,
                has_custom_certificate=self.webhook.has_custom_certificate,
                max_connections=self.webhook.max_connections,
            )
            if self.webhook.ip_address:
                info["ip_address"] = self.webhook.ip_address
            if self.webhook.allowed_updates:
                info["allowed_updates"] = self.webhook.allowed_updates
        return info

    @staticmethod
    def _scope_key(scope: Any) -> str:
        if not isinstance(scope, dict):
            scope = {"type": "default"}
        return json.dumps(scope, sort_keys=True)

    def _commands_key(self, params: JSONDict) -> tuple[str, str]:
        return self._scope_key(params.get("scope")), str(params.get("language_code") or "")

    async def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: parameter \"commands\" is required")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_RE.match(str(command.get("command"))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        key = self._commands_key(params)
        if commands:
            self.commands[key] = [
                {"command": c["command"], "description": c.get("description", "")} for c in commands
            ]
        else:
            self.commands.pop(key, None)
        return True

    async def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        return self.commands.get(self._commands_key(params), [])

    async def _delete_my_commands(self, params: JSONDict) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    async def _get_file(self, params: JSONDict) -> JSONDict:
        stored = self._files.get(str(params.get("file_id", "")))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
