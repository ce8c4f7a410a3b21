"""A fake Zalo Official Account platform for tests, on 127.0.0.1 with an ephemeral port: the OpenAPI
(`/v3.0/oa/message/cs`, `/v2.0/oa/upload/image`), the OAuth server (`/v4/oa/access_token`) and a
file server for what users send. Point the bot at it (`ZALO_OA_API_BASE` and `ZALO_OAUTH_BASE` =
`fake.base_url`, first tokens from `fake.first_tokens()`), then act as a Zalo user would::

    async with FakeZaloOA() as zalo:
        await zalo.post(client, zalo.text_event("u1", "xin chao"))   # signed like Zalo signs
        [reply] = zalo.messages_to("u1")

Like Zalo: every answer is `{"error": 0, "message": "Success", "data": …}` or `{"error": <code>,
"message"}`; an unknown or revoked access token gets -216; texts outside 1–2000 characters get
-201; uploads above 1 MB get -210. The OAuth server checks the app id and the app's secret key
(header `secret_key`; the OA secret key that signs events is another key) and answers a refusal
as Zalo does, with HTTP 200 and `{"error", "error_name", "error_reason", "error_description",
"ref_doc"}`: -14002 for the app id, -14004 for the secret key. It spends a refresh token once: each
refresh answers a new pair (and revokes the access token it replaces) and a reused refresh token
gets -14014. Faults: `fail_next(code, …)` answers the next sends with an error (or an HTTP status),
`hold_oauth` keeps the OAuth answer back after the pair has been rotated and `hold_sends` keeps
sends with a valid token waiting (a process can be killed in between), `send_delay` answers every
send that many seconds late, `expire_access_tokens()` makes Zalo call the current access token invalid.
`outage(status)` answers every send with that HTTP status until `restore()`.

Time is the fake's `clock` (seconds since the epoch; `time.time` unless a test gives its own), and
Zalo's rules that depend on it are kept: a consultation message goes only to a user who interacted
with the OA (an event made by `event()`, or `interacted()`) within the last 7 days, else -230; one
sent more than 48 hours after that interaction is accepted and recorded as charged (`Sent.charged`).
An uploaded image is known for 7 days after its upload: a message using its attachment id later
gets -100 (`expire_uploads()` makes Zalo forget every upload at once).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer

APP_ID = "4318250987123456789"
APP_SECRET = "fake-app-secret-A9p"  # the app's secret key: refreshes tokens (header `secret_key`)
SECRET_KEY = "fake-oa-secret-key-K3y"  # the OA secret key: signs webhook events
MAX_TEXT = 2000
UPLOAD_MAX = 1_000_000
REUSED_REFRESH = -14014
NO_RECENT_INTERACTION = -230
REPLY_WINDOW = 7 * 24 * 3600  # seconds after the user's last interaction in which the OA may write
FREE_WINDOW = 48 * 3600  # of which free; later messages are charged
UPLOAD_KEPT = 7 * 24 * 3600  # seconds Zalo keeps an uploaded image
UPLOAD_EXPIRED = -100
INVALID_APP_ID = -14002
INVALID_SECRET_KEY = -14004
INVALID_GRANT_TYPE = -14018
OAUTH_DOC = "https://developers.zalo.me/docs/official-account/bat-dau/xac-thuc-va-uy-quyen-cho-ung-dung-new"


@dataclass
class Sent:
    """One consultation message the OA sent (recorded once accepted)."""

    user_id: str
    text: str | None
    attachment: dict | None
    body: dict
    access_token: str
    charged: bool = False  # sent more than 48 hours after the user's last interaction: Zalo charges the OA
    at: float = field(default_factory=time.monotonic)


@dataclass
class Failure:
    code: int
    times: int
    http_status: int = 200


class FakeZaloOA(LoopbackServer):
    """The fake platform and its record of everything the bot did."""

    def __init__(
        self, *, app_id: str = APP_ID, app_secret: str = APP_SECRET, secret_key: str = SECRET_KEY, expires_in: int = 90000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.clock = clock
        self.last_interaction: dict[str, float] = {}
        self.app_id = app_id
        self.app_secret = app_secret
        self.secret_key = secret_key
        self.expires_in = expires_in
        self.sent: list[Sent] = []
        self.send_attempts = 0
        self.uploads: dict[str, bytes] = {}
        self.uploaded_at: dict[str, float] = {}
        self.expired_refusals = 0
        self.files: dict[str, tuple[bytes, str]] = {}
        self.oauth_calls: list[dict[str, str]] = []
        self.refused_refreshes = 0
        self.refused_secrets = 0
        self.hold_oauth: asyncio.Event | None = None
        self.rotated = asyncio.Event()
        self.hold_sends: asyncio.Event | None = None
        self.send_held = asyncio.Event()
        self.send_delay = 0.0
        self._access: set[str] = set()
        self._refresh: set[str] = set()
        self._spent: set[str] = set()
        self._failures: list[Failure] = []
        self._outage: int | None = None
        self.outage_hits = 0
        self._ids = itertools.count(1)

    # ----- lifecycle -----

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=4 * UPLOAD_MAX)
        app.router.add_post("/v3.0/oa/message/cs", self._send)
        app.router.add_post("/v2.0/oa/upload/image", self._upload)
        app.router.add_post("/v4/oa/access_token", self._oauth)
        app.router.add_get("/files/{name}", self._file)
        return app

    def _let_go(self) -> None:
        for held in (self.hold_oauth, self.hold_sends):
            if held is not None:
                held.set()

    @property
    def base_url(self) -> str:
        """The value for ZALO_OA_API_BASE and ZALO_OAUTH_BASE."""
        return f"http://127.0.0.1:{self.port}"

    def settings(self, **extra: object) -> dict[str, object]:
        """Settings pointing the bot at this fake, with a first pair of tokens."""
        access, refresh = self.first_tokens()
        return {"zalo_oa_app_id": self.app_id, "zalo_oa_app_secret": self.app_secret,
                "zalo_oa_secret_key": self.secret_key, "zalo_oa_access_token": access,
                "zalo_oa_refresh_token": refresh, "zalo_oa_api_base": self.base_url, "zalo_oauth_base": self.base_url,
                **extra}

    def first_tokens(self) -> tuple[str, str]:
        """A new valid pair, as an administrator copies it from Zalo for Developers."""
        access, refresh = f"access-{secrets.token_hex(12)}", f"refresh-{secrets.token_hex(12)}"
        self._access.add(access)
        self._refresh.add(refresh)
        return access, refresh

    # ----- what users do -----

    def event(self, name: str, user_id: str, *, message: dict | None = None, timestamp: int | None = None) -> dict:
        """A webhook event as Zalo sends it."""
        stamp = str(timestamp if timestamp is not None else int(self.clock() * 1000))
        self.interacted(user_id, seconds_ago=self.clock() - int(stamp) / 1000)
        body: dict[str, Any] = {"app_id": self.app_id, "event_name": name, "timestamp": stamp,
                                "user_id_by_app": f"app-{user_id}"}
        if name in ("follow", "unfollow"):
            body.update({"oa_id": "1000000000000000001", "follower": {"id": user_id}, "source": "testing"})
        else:
            body.update({"sender": {"id": user_id}, "recipient": {"id": "1000000000000000001"},
                         "message": {"msg_id": secrets.token_hex(10), **(message or {})}})
        return body

    def text_event(self, user_id: str, text: str) -> dict:
        """The user types a message."""
        return self.event("user_send_text", user_id, message={"text": text})

    def image_event(self, user_id: str, data: bytes, caption: str | None = None) -> dict:
        """The user sends a photo (served by this fake), with an optional caption."""
        url = self.file_url(data, "jpg", "image/jpeg")
        message: dict[str, Any] = {"attachments": [{"type": "image", "payload": {"url": url, "thumbnail": url}}]}
        if caption:
            message["text"] = caption
        return self.event("user_send_image", user_id, message=message)

    def location_event(self, user_id: str, latitude: float, longitude: float) -> dict:
        """The user shares a location (Zalo sends the coordinates as strings)."""
        payload = {"coordinates": {"latitude": str(latitude), "longitude": str(longitude)}}
        return self.event("user_send_location", user_id, message={"attachments": [{"type": "location", "payload": payload}]})

    def audio_event(self, user_id: str, data: bytes) -> dict:
        """The user sends a voice message."""
        url = self.file_url(data, "m4a", "audio/mp4")
        return self.event("user_send_audio", user_id, message={"attachments": [{"type": "audio", "payload": {"url": url}}]})

    def file_event(self, user_id: str) -> dict:
        """The user sends a document."""
        url = self.file_url(b"%PDF-1.4 fake", "pdf", "application/pdf")
        payload = {"url": url, "size": "13", "name": "don.pdf", "checksum": "x", "type": "pdf"}
        return self.event("user_send_file", user_id, message={"attachments": [{"type": "file", "payload": payload}]})

    def sticker_event(self, user_id: str) -> dict:
        """The user sends a sticker."""
        payload = {"id": "bfe458bf64fa8da4d4eb", "url": "https://zalo-api.zadn.vn/api/emoticon/sticker/webpc?eid=1"}
        return self.event("user_send_sticker", user_id, message={"attachments": [{"type": "sticker", "payload": payload}]})

    def file_url(self, data: bytes, extension: str, content_type: str) -> str:
        """Keep a file on the fake's file server and return its URL."""
        name = f"{secrets.token_hex(8)}.{extension}"
        self.files[name] = (data, content_type)
        return f"{self.base_url}/files/{name}"

    def sign(self, raw: bytes, timestamp: str, *, secret_key: str | None = None) -> str:
        """The X-ZEvent-Signature Zalo would send for this body."""
        key = self.secret_key if secret_key is None else secret_key
        return "mac=" + hashlib.sha256(self.app_id.encode() + raw + timestamp.encode() + key.encode()).hexdigest()

    async def post(self, client, event: dict, *, signature: str | None = None) -> int:  # type: ignore[no-untyped-def]
        """POST an event to the app's webhook (an aiohttp test client), signed unless `signature`
        is given ("" sends none); return the HTTP status."""
        raw = json.dumps(event, ensure_ascii=False).encode()
        header = self.sign(raw, str(event.get("timestamp", ""))) if signature is None else signature
        headers = {"Content-Type": "application/json", **({"X-ZEvent-Signature": header} if header else {})}
        response = await client.post("/webhook/zalo-oa", data=raw, headers=headers)
        await response.release()
        return response.status

    def interacted(self, user_id: str, *, seconds_ago: float = 0.0) -> None:
        """The user did something with the OA that long ago (by the fake's clock); the latest counts."""
        at = self.clock() - seconds_ago
        self.last_interaction[user_id] = max(at, self.last_interaction.get(user_id, at))

    # ----- faults -----

    def fail_next(self, code: int, *, times: int = 1, http_status: int = 200) -> None:
        """Answer the next `times` sends with error `code` (with `http_status`, e.g. 500)."""
        self._failures.append(Failure(code, times, http_status))

    def outage(self, status: int = 500) -> None:
        """Until `restore()`, every send is answered with HTTP `status` (the OAuth server still works)."""
        self._outage = status

    def restore(self) -> None:
        """End the outage."""
        self._outage = None

    def expire_uploads(self) -> None:
        """Zalo forgets every image uploaded so far (as it does 7 days after each upload)."""
        for attachment_id in self.uploaded_at:
            self.uploaded_at[attachment_id] = self.clock() - UPLOAD_KEPT - 1

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is now invalid (-216)."""
        self._access.clear()

    # ----- what the bot did -----

    def messages_to(self, user_id: str) -> list[Sent]:
        """Messages sent to a user, in order."""
        return [s for s in self.sent if s.user_id == user_id]

    def mark(self) -> int:
        """A position in `sent`."""
        return len(self.sent)

    async def wait_for_messages(self, user_id: str, count: int, *, timeout: float = 10) -> list[Sent]:
        """Wait until at least `count` messages went to a user; return them."""
        await self.wait_until(lambda: len(self.messages_to(user_id)) >= count, timeout=timeout,
                              what=lambda: f"{len(self.messages_to(user_id))} of {count} messages to {user_id}")
        return self.messages_to(user_id)

    async def wait_until(self, ready: Callable[[], bool], *, timeout: float = 10, what: Callable[[], str] = str) -> None:
        """Wait until `ready()` holds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not ready():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"not within {timeout} s: {what()}")
            await self._next_change(0.1)

    # ----- the server -----

    async def _send(self, request: web.Request) -> web.Response:
        self.send_attempts += 1
        if self._outage is not None:
            self.outage_hits += 1
            self._changed.set()
            return _error(-1, "Internal Server Error", status=self._outage)
        token = request.headers.get("access_token", "")
        if token not in self._access:
            return _error(-216, "Access token is invalid")
        if self.send_delay:
            await asyncio.sleep(self.send_delay)
        if self.hold_sends is not None:
            self.send_held.set()
            await self.hold_sends.wait()
            if request.transport is None or request.transport.is_closing():
                return web.Response()  # the sender is gone (killed): nothing was delivered
        if self._failures:
            failure = self._failures[0]
            failure.times -= 1
            if failure.times <= 0:
                self._failures.pop(0)
            return _error(failure.code, "injected error", status=failure.http_status)
        try:
            body = await request.json()
        except ValueError:
            return _error(-201, "Parameters are invalid: body is not JSON")
        recipient = body.get("recipient") if isinstance(body, dict) else None
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(recipient, dict) or not isinstance(recipient.get("user_id"), str) or not isinstance(message, dict):
            return _error(-201, "Parameters are invalid: recipient.user_id and message are required")
        text, attachment = message.get("text"), message.get("attachment")
        if text is not None and (not isinstance(text, str) or not 1 <= len(text) <= MAX_TEXT):
            return _error(-201, f"Parameters are invalid: text must have 1 to {MAX_TEXT} characters")
        if attachment is not None and not self._valid_attachment(attachment):
            return _error(-201, "Parameters are invalid: attachment")
        if attachment is not None and self._expired(attachment):
            self.expired_refusals += 1
            return _error(UPLOAD_EXPIRED, "Attachment is expired or does not exist")
        if text is None and attachment is None:
            return _error(-201, "Parameters are invalid: empty message")
        last = self.last_interaction.get(recipient["user_id"])
        if last is None or self.clock() - last > REPLY_WINDOW:
            return _error(NO_RECENT_INTERACTION, "User has not interacted with the OA in the last 7 days")
        charged = self.clock() - last > FREE_WINDOW
        self.sent.append(Sent(recipient["user_id"], text, attachment, body, token, charged))
        self._changed.set()
        return web.json_response({"error": 0, "message": "Success",
                                  "data": {"message_id": f"{next(self._ids):032x}", "user_id": recipient["user_id"]}})

    def _expired(self, attachment: dict) -> bool:
        attachment_id = attachment["payload"]["elements"][0].get("attachment_id")
        return attachment_id is not None and self.clock() - self.uploaded_at[attachment_id] > UPLOAD_KEPT

    def _valid_attachment(self, attachment: object) -> bool:
        try:
            [element] = attachment["payload"]["elements"]  # type: ignore[index]
            assert attachment["type"] == "template" and attachment["payload"]["template_type"] == "media"  # type: ignore[index]
            assert element["media_type"] == "image"
            return element.get("attachment_id") in self.uploads or str(element.get("url", "")).startswith("http")
        except (AssertionError, KeyError, TypeError, ValueError):
            return False

    async def _upload(self, request: web.Request) -> web.Response:
        if request.headers.get("access_token", "") not in self._access:
            return _error(-216, "Access token is invalid")
        form = await request.post()
        upload = form.get("file")
        data = upload.file.read() if isinstance(upload, web.FileField) else None
        if not data:
            return _error(-201, "Parameters are invalid: file is required")
        if len(data) > UPLOAD_MAX:
            return _error(-210, "Parameter exceeds allowable limit: image is larger than 1 MB")
        attachment_id = secrets.token_urlsafe(24)
        self.uploads[attachment_id] = data
        self.uploaded_at[attachment_id] = self.clock()
        self._changed.set()
        return web.json_response({"error": 0, "message": "Success", "data": {"attachment_id": attachment_id}})

    async def _oauth(self, request: web.Request) -> web.Response:
        form = await request.post()
        call = {key: str(value) for key, value in form.items()}
        self.oauth_calls.append(call)
        if call.get("app_id") != self.app_id:
            return _oauth_error(INVALID_APP_ID, "Invalid appId")
        if request.headers.get("secret_key") != self.app_secret:  # the app's secret key, not the OA's
            self.refused_secrets += 1
            return _oauth_error(INVALID_SECRET_KEY, "Invalid secret key")
        if call.get("grant_type") != "refresh_token":
            return _oauth_error(INVALID_GRANT_TYPE, "Invalid grant type")
        spent = call.get("refresh_token", "")
        if spent not in self._refresh:
            self.refused_refreshes += 1
            return _oauth_error(REUSED_REFRESH, "Invalid refresh token")
        self._refresh.discard(spent)
        self._spent.add(spent)
        self._access.clear()  # the access token it replaces stops working
        access, refresh = self.first_tokens()
        self.rotated.set()
        self._changed.set()
        if self.hold_oauth is not None:
            await self.hold_oauth.wait()
        return web.json_response({"access_token": access, "refresh_token": refresh, "expires_in": str(self.expires_in)})

    async def _file(self, request: web.Request) -> web.Response:
        found = self.files.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        return web.Response(body=found[0], content_type=found[1])


def _oauth_error(code: int, name: str) -> web.Response:
    """How Zalo's OAuth server refuses: HTTP 200 and a body naming the error (no `message`)."""
    return web.json_response({"error": code, "error_name": name, "error_reason": "",
                              "error_description": f"{name}. See the document for more detail.", "ref_doc": OAUTH_DOC})


def _error(code: int, message: str, *, status: int = 200) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)
