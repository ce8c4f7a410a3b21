"""Web chat channel: a small page at /chat and a JSON endpoint of the same aiohttp app.

A visitor is identified by a random token in an HttpOnly cookie the server signs, renews with use
and ends after inactivity (bot/channels/webchat_identity.py); the database keeps only a keyed hash of
the token, so a leaked database cannot be used to take over a conversation. As a script can start a
new identity for every request, new identities, reports and votes are also limited per client
address (storage/address_limits.py; handlers see the address as `Incoming.origin`, a keyed hash).

The page also sends photos and voice messages (multipart posts to the same endpoint) and the
browser's location (JSON). Files get the checks the other channels make: at most
MEDIA_MAX_BYTES each, a photo must be a JPEG or PNG and a voice message a known audio format,
both recognised by their first bytes. They wait in a folder of their own during the turn and are
moved into DATA_DIR/media only when a handler takes them (a report does), like Telegram's files.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from markupsafe import Markup

from bot.channels.base import Kind, Parts, Route
from bot.channels.bodies import read_capped
from bot.channels.remote_media import sniff
from bot.channels.webchat_identity import Identities, Identity
from bot.config import ensure_secret_key
from bot.flood import flood_gate
from bot.media_links import MediaLinks
from bot.ordering import KeyedLocks
from bot.proxies import same_origin
from content.i18n import Catalogs, Translator
from handlers.engine import MAX_INPUT, Engine, Throttle
from handlers.feedback import MAX_PHOTOS
from handlers.render import payload_replies
from handlers.types import Attachment, Capabilities, Incoming, Location, Reply
from storage import address_limits, outbox, repo
from storage.address_limits import AddressLimits
from storage.files import open_private, private_dir

log = logging.getLogger(__name__)

CHANNEL = "webchat"
CAPABILITIES = Capabilities(buttons=True, max_text=MAX_INPUT, images=True)
COOKIE = "caunoi_chat"
IDENTITY_IDLE = timedelta(days=180)
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
MAX_BODY = 64 * 1024
UPLOAD_HEADER = "X-Requested-With"  # a header no form can send: a cross-site upload must ask first, and is refused
FILE_FIELDS = {"photo": MAX_PHOTOS, "voice": 1}  # multipart field name = attachment kind: how many one post may hold
SNIFF_BYTES = 64
CHUNK = 64 * 1024
WEBM = b"\x1a\x45\xdf\xa3"  # EBML: what Chromium's MediaRecorder writes (audio/webm)
_START_PARAM_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


class WebChat:
    """Serves the chat page and turns its posts (JSON, or multipart for files) into engine turns.
    A pull channel: the page collects what the outbox holds for the visitor (`updates`)."""

    name = CHANNEL
    capabilities = CAPABILITIES
    webhook = True  # its messages come to the web server

    def __init__(
        self,
        engine: Engine,
        locks: KeyedLocks,
        catalogs: Catalogs,
        secret_key: str,
        *,
        secure_cookie: bool,
        newcomers: Throttle | None = None,
        identity_idle: timedelta = IDENTITY_IDLE,
        limits: AddressLimits | None = None,
        tz: ZoneInfo | None = None,
        links: MediaLinks | None = None,
    ) -> None:
        self.engine = engine
        self.locks = locks
        self.catalogs = catalogs
        self.identities = Identities(secret_key.encode(), identity_idle)
        self.limits = limits or AddressLimits()
        self.tz = tz or engine.services.tz
        # Cookies are Secure when the visitor came over https, and always when PUBLIC_BASE_URL is https.
        self.secure_cookie = secure_cookie
        # Flood control per address for posts without a valid visitor cookie: each of them is a new
        # citizen, so the per-citizen flood control never sees a script that drops the cookie.
        self.newcomers = newcomers
        # A photo the bot sends (a notice's, a real story's) is a file of the data folder: the page
        # gets it through a signed, expiring /media/ link.
        self.links = links

    async def start(self, *, receive: bool = True) -> None:
        """Nothing to connect: the routes receive."""

    async def stop(self) -> None:
        """Nothing to close."""

    def health(self) -> dict[str, str]:
        """Nothing to say in /healthz."""
        return {}

    def _reply_json(self, reply: Reply) -> dict:
        return {
            "text": reply.text,
            "buttons": [[{"label": b.label, "action": b.action} for b in row] for row in reply.buttons],
            "image": self._image_url(reply.image),
        }

    def _image_url(self, image: str | None) -> str | None:
        """A link the page can show: a web address as it is, a file of the data folder by a /media/ link."""
        if not image or image.startswith(("https://", "http://")):
            return image
        return self.links.path_for(image, self.engine.clock()) if self.links is not None else None

    async def page(self, request: web.Request) -> web.Response:
        """GET /chat[?start=area_CODE]: the chat page."""
        start = request.query.get("start", "")[:64]
        if not set(start) <= _START_PARAM_CHARS:
            start = ""
        translator = self.catalogs.get(request.query.get("lang"))
        rules = media_rules(request)
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
                "max_photos": MAX_PHOTOS,
                "max_bytes": rules.max_bytes,
                "max_mb": _megabytes(translator, rules.max_bytes),
                "faq_link": Markup('<a href="{}">/hoi-dap</a>').format(
                    "/hoi-dap" + ("?lang=en" if translator.locale == "en" else "")
                ),
            },
        )
        # A new visitor's cookie costs nothing to issue; their address's limit of new identities
        # counts when their first message would make them a citizen.
        self._issue(request, response, await self._identity(request))
        return response

    async def post_message(self, request: web.Request) -> web.Response:
        """POST /chat/api/messages: {"text"}, {"action"} or {"location": {"latitude", "longitude"}} as
        JSON, or photos / a voice message as multipart; {"replies": [...]} out."""
        translator = self.catalogs.get(request.query.get("lang"))
        refused = _refused(request, translator.gettext("Something went wrong. Please try again."))
        if refused is not None:
            return refused
        identity = await self._identity(request)
        if identity.new and self.newcomers is not None and self.newcomers.admit(request.remote) != "ok":
            return _error(
                429, translator.gettext("You are sending messages very fast. Please wait a moment, then go on.")
            )
        if request.content_type == "multipart/form-data":
            return await self._post_files(request, translator, identity)
        raw = await read_capped(request, MAX_BODY, 16 * 1024)
        if raw is None:
            return _error(413, translator.gettext("Your message is too long."))
        try:
            post = parse_message(raw)
        except ValueError:
            return _error(400, translator.gettext("Something went wrong. Please try again."))
        if post is None:
            return _error(400, translator.gettext("Please type a message."))
        text, action, location = post
        return await self._turn(request, identity, translator, text=text, action=action, location=location)

    async def _post_files(self, request: web.Request, translator: Translator, identity: Identity) -> web.Response:
        """Photos or a voice message: each checked as it arrives, then one turn with all of them."""
        rules = media_rules(request)
        try:
            uploads = await read_uploads(request, rules)
        except UploadRefused as refused:
            return _error(refused.status, _refusal(translator, refused.reason, rules))
        try:
            if not uploads.attachments:
                return _error(400, translator.gettext("Something went wrong. Please try again."))
            return await self._turn(
                request, identity, translator, attachments=tuple(uploads.attachments), fetch=uploads.keep
            )
        finally:
            uploads.discard()

    async def _turn(
        self, request: web.Request, identity: Identity, translator: Translator, **fields: object
    ) -> web.Response:
        """Run one engine turn for this visitor (after their earlier ones) and answer its replies; a
        visitor not yet known must fit the limit of new identities of their address."""
        origin = self.identities.address(request.remote)
        incoming = Incoming(
            channel=CHANNEL,
            user_id=identity.user_id,
            language_hint=_accept_language(request),
            origin=origin,
            **fields,  # type: ignore[arg-type]  # Incoming's own keywords
        )
        async with self.locks.hold((CHANNEL, identity.user_id)):
            if not await self._admitted(identity, origin):
                return _error(
                    429,
                    translator.gettext(
                        "Sorry, very many new conversations have started from your network lately, so the chat cannot "
                        "start one more right now. Your message is kept: press “Try again” in about an hour, or call "
                        "your commune's office."
                    ),
                )
            replies = await self.engine.handle(incoming, CAPABILITIES)
        response = web.json_response({"replies": [self._reply_json(r) for r in replies]}, dumps=_dumps)
        self._issue(request, response, identity)
        return response

    async def _admitted(self, identity: Identity, origin: str) -> bool:
        """Whether this visitor may talk: a known citizen always, a new one if their address has room
        for one more new identity this hour and today (counted in the database, for every process)."""
        async with self.engine.sessions() as session:
            if await repo.find_citizen(session, CHANNEL, identity.user_id) is not None:
                return True
            now = self.engine.clock()
            admitted = await address_limits.take(
                session,
                origin,
                address_limits.IDENTITY,
                self.limits.identities,
                now=now,
                tz=self.tz,
            )
            await session.commit()
        if not admitted:
            log.info("web chat: new identity refused, address %s over its limit", origin[:8])
        return admitted

    async def updates(self, request: web.Request) -> web.Response:
        """POST /chat/api/updates {"ack": [ids]}: messages queued for this visitor (staff replies,
        notices), each with its id. A message counts as delivered only once the page acknowledges
        it, so a request lost on a bad connection loses nothing. A POST with a JSON body, so that
        no other site can make a browser collect them."""
        translator = self.catalogs.get(request.query.get("lang"))
        refused = _refused(request, translator.gettext("Something went wrong. Please try again."))
        if refused is not None:
            return refused
        raw = await read_capped(request, MAX_BODY, 16 * 1024)
        if raw is None:
            return _error(413, translator.gettext("Something went wrong. Please try again."))
        try:
            acked = parse_ack(raw)
        except ValueError:
            return _error(400, translator.gettext("Something went wrong. Please try again."))
        identity = await self._identity(request)
        if identity.new:
            return web.json_response({"replies": []})
        user_id = identity.user_id
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
            {**self._reply_json(reply), "id": message.id}
            for message in waiting
            for reply in payload_replies(message.payload)
        ]
        response = web.json_response({"replies": replies}, dumps=_dumps)
        self._issue(request, response, identity)
        return response

    async def _identity(self, request: web.Request) -> Identity:
        """The visitor's identity from their cookie, or a new one when it is missing, unknown, forged,
        changed or expired. An old-format cookie counts only if its citizen exists."""
        now = self.engine.clock()
        found = self.identities.read(request.cookies.get(COOKIE), now)
        if found.identity is not None:
            return found.identity
        if found.legacy_token is not None:
            upgraded = self.identities.upgraded(found.legacy_token)
            async with self.engine.sessions() as session:
                if await repo.find_citizen(session, CHANNEL, upgraded.user_id) is not None:
                    return upgraded
        return self.identities.new()

    def _issue(self, request: web.Request, response: web.StreamResponse, identity: Identity) -> None:
        """Set the identity's cookie, freshly stamped, when it is new, due for renewal or upgraded."""
        if not identity.issue:
            return
        response.set_cookie(
            COOKIE,
            self.identities.cookie(identity.token, self.engine.clock()),
            max_age=int(self.identities.idle.total_seconds()),
            httponly=True,
            samesite="Lax",
            secure=self.secure_cookie or request.secure,
            path="/chat",
        )


@dataclass(frozen=True)
class MediaRules:
    """What every channel applies to the files citizens send: where kept ones go, how large one may be."""

    data_dir: Path
    max_bytes: int

    @property
    def max_post(self) -> int:
        """The most one multipart post may carry: every file at its largest, and room for the parts' headers."""
        return sum(FILE_FIELDS.values()) * self.max_bytes + MAX_BODY


def media_rules(request: web.Request) -> MediaRules:
    """The settings' data folder and MEDIA_MAX_BYTES."""
    from bot.keys import SETTINGS  # bot.keys imports this module, so not at the top

    settings = request.app[SETTINGS]
    return MediaRules(settings.data_dir, settings.media_max_bytes)


class UploadRefused(Exception):
    """A multipart post refused as a whole: "too_large" in all, "too_many" files, or "malformed"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = 400 if reason == "malformed" else 413


@dataclass
class Uploads:
    """The files of one post. Accepted ones wait in `folder` until a handler takes them (`keep`, the
    Incoming's `fetch`); whatever no handler took is deleted with `discard` after the turn."""

    folder: Path
    data_dir: Path
    attachments: list[Attachment] = field(default_factory=list)
    waiting: dict[str, Path] = field(default_factory=dict)
    kept: dict[str, str] = field(default_factory=dict)

    async def keep(self, attachments: tuple[Attachment, ...]) -> tuple[Attachment, ...]:
        """The attachments, each accepted file moved into DATA_DIR/media/YYYY/MM (once, however often asked)."""
        result = []
        for attachment in attachments:
            waiting = self.waiting.pop(attachment.file_id, None)
            if waiting is not None:
                relative = Path("media") / f"{datetime.now(UTC):%Y/%m}" / waiting.name
                private_dir((self.data_dir / relative).parent)
                os.replace(waiting, self.data_dir / relative)
                self.kept[attachment.file_id] = str(relative)
            path = self.kept.get(attachment.file_id)
            result.append(replace(attachment, path=path) if path else attachment)
        return tuple(result)

    def discard(self) -> None:
        """Delete the files no handler took."""
        shutil.rmtree(self.folder, ignore_errors=True)


async def read_uploads(request: web.Request, rules: MediaRules) -> Uploads:
    """The files of a multipart post: fields "photo" (up to MAX_PHOTOS) and "voice" (one). Each is
    recognised by its first bytes and streamed to disk; one of another type or over the size limit
    is not kept and says why (`Attachment.problem`: "type", "too_large"), as on the other channels."""
    if (request.content_length or 0) > rules.max_post:
        raise UploadRefused("too_large")
    uploads = Uploads(rules.data_dir / "media" / "incoming" / uuid.uuid4().hex, rules.data_dir)
    counts = dict.fromkeys(FILE_FIELDS, 0)
    received = 0
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            kind = part.name if isinstance(part, BodyPartReader) else None
            if kind not in FILE_FIELDS:
                raise UploadRefused("malformed")
            counts[kind] += 1
            if counts[kind] > FILE_FIELDS[kind]:
                raise UploadRefused("too_many")
            attachment, size = await _receive_file(part, kind, uploads, rules.max_bytes, rules.max_post - received)  # type: ignore[arg-type]  # the form posts flat parts, no nested multipart
            received += size
            uploads.attachments.append(attachment)
    except (ValueError, UnicodeDecodeError, HttpProcessingError) as exc:  # not multipart as browsers write it
        uploads.discard()
        raise UploadRefused("malformed") from exc
    except BaseException:
        uploads.discard()
        raise
    return uploads


async def _receive_file(
    part: BodyPartReader, kind: str, uploads: Uploads, limit: int, budget: int
) -> tuple[Attachment, int]:
    """One file part: kept in `uploads.folder` if its type is known and it fits `limit`; the rest
    of a refused file is read and dropped, up to `budget` bytes for the whole post."""
    file_id = uuid.uuid4().hex
    declared = part.headers.get("Content-Type")
    head = b""
    while len(head) < SNIFF_BYTES and (chunk := await part.read_chunk(CHUNK)):
        head += chunk
    size, problem, found = len(head), None, sniff_upload(head, kind)
    if found is None or size > limit:
        problem = "type" if found is None else "too_large"
    else:
        private_dir(uploads.folder)
        target = uploads.folder / f"{file_id}{found[1]}"
        with open_private(target) as out:
            out.write(head)
            while chunk := await part.read_chunk(CHUNK):
                size += len(chunk)
                if size > limit:
                    problem = "too_large"
                    break
                out.write(chunk)
        if problem is None:
            uploads.waiting[file_id] = target
            return Attachment(kind, file_id, found[0], size), size
        target.unlink()
    while chunk := await part.read_chunk(CHUNK):
        size += len(chunk)
        if size > budget:
            raise UploadRefused("too_large")
    return Attachment(kind, file_id, found[0] if found else declared, size, problem=problem), size


def sniff_upload(head: bytes, kind: str) -> tuple[str, str] | None:
    """(MIME type, extension) of a photo (JPEG, PNG) or voice message recognised by its first
    bytes: the formats Telegram and Zalo send, and WebM, what Chromium records."""
    if kind == "voice" and head.startswith(WEBM) and b"webm" in head[:SNIFF_BYTES]:
        return "audio/webm", ".webm"
    return sniff(head, kind) if head else None


MAX_ID = 2**63 - 1  # outbox ids are 64-bit


def _json_object(raw: bytes) -> dict:
    """A JSON object; ValueError for anything else (not UTF-8, not JSON, nested past the parser's depth)."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, RecursionError) as exc:
        raise ValueError("not JSON") from exc
    if not isinstance(body, dict):
        raise ValueError("not an object")
    return body


def parse_message(raw: bytes) -> tuple[str | None, str | None, Location | None] | None:
    """(text, action, location) of a JSON post to /chat/api/messages, None when it holds nothing to
    answer (no text, an empty one); ValueError when a field has the wrong type. An action wins over a text."""
    body = _json_object(raw)
    for name in ("text", "action"):
        if name in body and not isinstance(body[name], str):
            raise ValueError(f"{name} is not a string")
    text, action = body.get("text"), body.get("action")
    location = parse_location(body["location"]) if "location" in body else None
    action = action or None
    text = text if text and text.strip() and action is None else None
    if text is None and action is None and location is None:
        return None
    return text, action, location


def parse_ack(raw: bytes) -> frozenset[int]:
    """The message ids a post to /chat/api/updates acknowledges: {"ack": [ids]}, or an empty body;
    ValueError for anything else (null, numbers, strings, ids that are not positive integers)."""
    body = _json_object(raw) if raw.strip() else {}
    ack = body.get("ack", [])
    if not isinstance(ack, list) or not all(type(item) is int and 0 < item <= MAX_ID for item in ack):
        raise ValueError("ack is a list of message ids")
    return frozenset(ack)


def parse_location(value: object) -> Location:
    """{"latitude", "longitude"} in degrees, as the browser's geolocation gives them; ValueError otherwise."""
    if not isinstance(value, dict):
        raise ValueError("location is not an object")
    latitude, longitude = value.get("latitude"), value.get("longitude")
    numbers = [
        n for n in (latitude, longitude) if type(n) is float and math.isfinite(n) or type(n) is int and abs(n) <= 180
    ]
    if len(numbers) != 2 or not (-90 <= numbers[0] <= 90 and -180 <= numbers[1] <= 180):
        raise ValueError("no valid latitude and longitude")
    return Location(float(numbers[0]), float(numbers[1]))


def _refusal(translator: Translator, reason: str, rules: MediaRules) -> str:
    """What the page shows when a whole upload is refused."""
    if reason == "too_large":
        return translator.gettext(
            "This is too large to send: each photo or voice message can be at most {size} MB."
        ).format(size=_megabytes(translator, rules.max_bytes))
    if reason == "too_many":
        return translator.gettext("You can send at most {count} photos at a time.").format(count=MAX_PHOTOS)
    return translator.gettext("Something went wrong. Please try again.")


def _megabytes(translator: Translator, size: int) -> str:
    """A size limit in megabytes as people write it ("10", "2,5")."""
    return translator.format_number(size / 1_000_000)


def _accept_language(request: web.Request) -> str | None:
    """The browser's first preferred language ("vi", "en-US", …), if any."""
    first = request.headers.get("Accept-Language", "").split(",")[0].split(";")[0].strip()
    return first[:16] or None


def _refused(request: web.Request, message: str) -> web.Response | None:
    """A post from this site's page only. Browsers send JSON, or a custom header, cross-site only
    after asking first, which this server never allows; a form can send multipart, so uploads must
    carry UPLOAD_HEADER. Origin and Sec-Fetch-Site, when the browser sends them, must be this site
    as the visitor reached it (behind a trusted proxy, its https address)."""
    if request.content_type == "multipart/form-data":
        if not request.headers.get(UPLOAD_HEADER):
            return _error(403, message)
    elif request.content_type != "application/json":
        return _error(415, message)
    origin = request.headers.get("Origin")
    if origin is not None and not same_origin(request, origin):
        return _error(403, message)
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return _error(403, message)
    return None


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _build(parts: Parts) -> WebChat:
    settings = parts.settings
    return WebChat(
        parts.engine,
        parts.locks,
        parts.catalogs,
        ensure_secret_key(settings),
        secure_cookie=settings.public_https,
        newcomers=flood_gate(settings.flood_burst, settings.flood_window_seconds),
        identity_idle=timedelta(days=settings.webchat_identity_idle_days),
        limits=settings.address_limits,
        tz=settings.tz,
        links=parts.links,
    )


KIND = Kind(
    CHANNEL,
    _build,
    routes=(
        Route("GET", "/chat", "chat", "page"),
        Route("POST", "/chat/api/messages", "chat-messages", "post_message"),
        Route("POST", "/chat/api/updates", "chat-updates", "updates"),
        Route("GET", "/chat/static", "chat-static", folder=STATIC_DIR),
    ),
)
