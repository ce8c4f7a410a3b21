"""Web chat channel: a small page at /chat and a JSON endpoint of the same aiohttp app.

A visitor is identified by a random token in an HttpOnly cookie; the database keeps only a keyed
hash of it, so a leaked database cannot be used to take over a conversation.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from pathlib import Path

import aiohttp_jinja2
from aiohttp import web

from bot.ordering import KeyedLocks
from content.i18n import Catalogs
from handlers.engine import MAX_INPUT, Engine
from handlers.render import payload_replies
from handlers.types import Capabilities, Incoming, Reply
from storage import outbox

log = logging.getLogger(__name__)

CHANNEL = "webchat"
CAPABILITIES = Capabilities(buttons=True, max_text=MAX_INPUT, images=True)
COOKIE = "caunoi_chat"
COOKIE_MAX_AGE = 365 * 24 * 3600
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
MAX_BODY = 64 * 1024
_START_PARAM_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


class WebChat:
    """Serves the chat page and turns its JSON posts into engine turns."""

    def __init__(self, engine: Engine, locks: KeyedLocks, catalogs: Catalogs, secret_key: str, *, secure_cookie: bool) -> None:
        self.engine = engine
        self.locks = locks
        self.catalogs = catalogs
        self.secret = secret_key.encode()
        self.secure_cookie = secure_cookie

    async def page(self, request: web.Request) -> web.Response:
        """GET /chat[?start=area_CODE]: the chat page."""
        start = request.query.get("start", "")[:64]
        if not set(start) <= _START_PARAM_CHARS:
            start = ""
        translator = self.catalogs.get(request.query.get("lang"))
        response = aiohttp_jinja2.render_template(
            "chat.html",
            request,
            {
                "_": translator.gettext,
                "lang": translator.locale,
                "start_param": start,
                "api_url": str(request.app.router["chat-messages"].url_for()),
                "updates_url": str(request.app.router["chat-updates"].url_for()),
                "static_url": "/chat/static/",
                "max_length": MAX_INPUT,
            },
        )
        self._ensure_cookie(request, response)
        return response

    async def post_message(self, request: web.Request) -> web.Response:
        """POST /chat/api/messages: {"text"} or {"action"} in, {"replies": [...]} out."""
        translator = self.catalogs.get(request.query.get("lang"))
        refused = _refused(request, translator.gettext("Something went wrong. Please try again."))
        if refused is not None:
            return refused
        raw = await _read_capped(request, MAX_BODY)
        if raw is None:
            return _error(413, translator.gettext("Your message is too long."))
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return _error(400, translator.gettext("Something went wrong. Please try again."))
        text, action = (body.get("text"), body.get("action")) if isinstance(body, dict) else (None, None)
        if not (isinstance(text, str) and text.strip()) and not (isinstance(action, str) and action):
            return _error(400, translator.gettext("Please type a message."))
        response = web.json_response({})
        token = self._ensure_cookie(request, response)
        user_id = self._user_id(token)
        incoming = Incoming(
            channel=CHANNEL,
            user_id=user_id,
            text=text if isinstance(text, str) and not action else None,
            action=action if isinstance(action, str) and action else None,
            language_hint=_accept_language(request),
        )
        async with self.locks.hold((CHANNEL, user_id)):
            replies = await self.engine.handle(incoming, CAPABILITIES)
        response.text = json.dumps({"replies": [_reply_json(r) for r in replies]}, ensure_ascii=False)
        return response

    async def updates(self, request: web.Request) -> web.Response:
        """POST /chat/api/updates {"ack": [ids]}: messages queued for this visitor (staff replies,
        notices), each with its id. A message counts as delivered only once the page acknowledges
        it, so a request lost on a bad connection loses nothing. A POST with a JSON body, so that
        no other site can make a browser collect them."""
        translator = self.catalogs.get(request.query.get("lang"))
        refused = _refused(request, translator.gettext("Something went wrong. Please try again."))
        if refused is not None:
            return refused
        token = request.cookies.get(COOKIE, "")
        if not 20 <= len(token) <= 100:
            return web.json_response({"replies": []})
        try:
            body = json.loads(await _read_capped(request, MAX_BODY) or b"{}")
        except (ValueError, UnicodeDecodeError):
            body = {}
        acked = {item for item in body.get("ack", []) if isinstance(item, int)} if isinstance(body, dict) else set()
        user_id = self._user_id(token)
        async with self.locks.hold((CHANNEL, user_id)), self.engine.sessions() as session:
            now = self.engine.clock()
            waiting = []
            for message in await outbox.pending_for(session, CHANNEL, user_id, now):
                if message.id in acked:
                    outbox.mark_sent(message, now)
                else:
                    waiting.append(message)
            await session.commit()
        replies = [
            {**_reply_json(reply), "id": message.id} for message in waiting for reply in payload_replies(message.payload)
        ]
        return web.json_response({"replies": replies}, dumps=_dumps)

    def _ensure_cookie(self, request: web.Request, response: web.StreamResponse) -> str:
        """The visitor's token, setting a new cookie when they have none."""
        token = request.cookies.get(COOKIE, "")
        if len(token) < 20 or len(token) > 100:
            token = secrets.token_urlsafe(24)
            response.set_cookie(
                COOKIE, token, max_age=COOKIE_MAX_AGE, httponly=True, samesite="Lax",
                secure=self.secure_cookie, path="/chat",
            )
        return token

    def _user_id(self, token: str) -> str:
        """The stored identity: a keyed hash of the cookie token."""
        return hmac.new(self.secret, token.encode(), hashlib.sha256).hexdigest()[:40]


async def _read_capped(request: web.Request, limit: int) -> bytes | None:
    """The body, or None when it is longer than `limit` (measured as it comes, since a chunked
    body has no Content-Length)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    data = bytearray()
    async for chunk in request.content.iter_chunked(16 * 1024):
        data += chunk
        if len(data) > limit:
            return None
    return bytes(data)


def _accept_language(request: web.Request) -> str | None:
    """The browser's first preferred language ("vi", "en-US", …), if any."""
    first = request.headers.get("Accept-Language", "").split(",")[0].split(";")[0].strip()
    return first[:16] or None


def _reply_json(reply: Reply) -> dict:
    return {
        "text": reply.text,
        "buttons": [[{"label": b.label, "action": b.action} for b in row] for row in reply.buttons],
        "image": reply.image,
    }


def _refused(request: web.Request, message: str) -> web.Response | None:
    """A JSON post from this site only (browsers send no JSON cross-site without asking first)."""
    if request.content_type != "application/json":
        return _error(415, message)
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        return _error(403, message)
    return None


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
