"""The web server's routes as one table, the headers every response carries, and gzip for text."""

from __future__ import annotations

import logging
import mimetypes
import re
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web
from sqlalchemy import text

from bot import favicon, keys, public
from bot.channels import registry
from bot.media_links import PHOTO_TYPES
from bot.metrics import metrics
from bot.roles import Role
from handlers import observe
from storage.core import run

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
CSP = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
# Text compresses to a third or less; images (PNG, JPEG, ICO of PNGs) are compressed already.
COMPRESSIBLE = frozenset(
    {
        "text/html",
        "text/css",
        "text/javascript",
        "application/javascript",
        "application/json",
        "image/svg+xml",
        "text/plain",
        "text/csv",
    }
)
MIN_COMPRESSED = 1024  # bytes: below this gzip saves a few hundred bytes at most
ICON_CACHE = "public, max-age=86400"


async def healthz(request: web.Request) -> web.Response:
    """GET /healthz: the database answers; the process's role; what each channel says of itself
    (which Telegram mode runs; whether Zalo OA, when on, can send)."""
    channels = {"role": str(request.app[keys.ROLE]), **registry.health(request.app)}
    try:
        async with request.app[keys.SESSIONS]() as session:
            await run(session, text("SELECT 1"))
    except Exception:
        log.exception("health check: database unavailable")
        return web.json_response({"status": "error", "database": "unavailable", **channels}, status=503)
    return web.json_response({"status": "ok", "database": "ok", **channels})


async def icon(request: web.Request) -> web.StreamResponse:
    """GET /favicon.ico, /favicon.svg: the site's icon, drawn once per process; 304 when the browser has it."""
    found = favicon.icons()[request.match_info["name"]]
    if any(tag.value == found.etag for tag in request.if_none_match or ()):
        return web.Response(status=304, headers={hdrs.ETAG: f'"{found.etag}"', hdrs.CACHE_CONTROL: ICON_CACHE})
    response = web.Response(body=found.body, content_type=found.content_type, headers={hdrs.CACHE_CONTROL: ICON_CACHE})
    response.etag = found.etag
    return response


async def media_file(request: web.Request) -> web.StreamResponse:
    """GET /media/{token}: a stored photo behind an unguessable, expiring link (for Zalo); else 404."""
    path = request.app[keys.MEDIA_LINKS].resolve(request.match_info["token"], request.app[keys.CLOCK]())
    if path is None:
        raise web.HTTPNotFound()
    return web.FileResponse(
        path, headers={"Content-Type": PHOTO_TYPES[path.suffix.lower()], "Cache-Control": "private, max-age=3600"}
    )


def setup_routes(app: web.Application, role: Role = Role.all) -> None:
    """Register every route, the channels' among them (a worker process: only health and metrics)."""
    app.add_routes([web.get("/healthz", healthz, name="healthz"), web.get("/metrics", metrics, name="metrics")])
    if not role.serves:
        return
    kinds = app[keys.CHANNEL_KINDS]
    app.add_routes(
        [
            *registry.routes(kinds),
            web.get("/media/{token}", media_file, name="media"),
            web.get("/{name:favicon\\.(?:ico|svg)}", icon, name="icon"),
        ]
    )
    public.setup(app)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Strict headers on every response: own resources only, no framing, no sniffing."""
    response = await handler(request)
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


@web.middleware
async def compression(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Gzip text (pages, style sheets, scripts, SVG, JSON) for clients that accept it. Not images, not
    bodies under 1 KiB, not byte ranges, and not private or no-store responses (the dashboard's): a
    page holding a secret, such as a form token, beside text a visitor chose could leak the secret
    through the compressed size (BREACH)."""
    response = await handler(request)
    if not _compressible(request, response):
        return response
    vary = response.headers.get(hdrs.VARY, "")
    if hdrs.ACCEPT_ENCODING.lower() not in vary.lower():
        response.headers[hdrs.VARY] = f"{vary}, {hdrs.ACCEPT_ENCODING}" if vary else hdrs.ACCEPT_ENCODING
    # A static file asked for conditionally may become a 304, and aiohttp would write a gzip trailer
    # into its empty body; browsers revalidate rarely (versioned URLs never), so those go plain.
    conditional = isinstance(response, web.FileResponse) and (request.if_none_match or request.if_modified_since)
    if not conditional and accepts_gzip(request.headers.get(hdrs.ACCEPT_ENCODING, "")):
        response.enable_compression(web.ContentCoding.gzip)
    return response


def _compressible(request: web.Request, response: web.StreamResponse) -> bool:
    """A full, public text response worth compressing."""
    if response.status != 200 or hdrs.CONTENT_ENCODING in response.headers or hdrs.RANGE in request.headers:
        return False
    if any(word in response.headers.get(hdrs.CACHE_CONTROL, "") for word in ("private", "no-store")):
        return False
    if isinstance(response, web.FileResponse):  # its type and size are known only when it is sent
        return mimetypes.guess_type(request.path)[0] in COMPRESSIBLE
    return (
        isinstance(response, web.Response)
        and isinstance(response.body, bytes)
        and len(response.body) >= MIN_COMPRESSED
        and response.content_type in COMPRESSIBLE
    )


def accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding header admits gzip (`gzip;q=0` refuses it; `*` admits it)."""
    weights = {}
    for part in header.lower().split(","):
        coding, _, params = part.strip().partition(";")
        quality = params.strip().removeprefix("q=")
        try:
            weights[coding.strip()] = float(quality) if params else 1.0
        except ValueError:
            weights[coding.strip()] = 0.0
    return weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0))) > 0


async def weak_etag_when_gzipped(request: web.Request, response: web.StreamResponse) -> None:
    """A gzipped body is another representation than the plain one, so its ETag may match the plain
    file's only weakly (RFC 9110, 8.8.1): aiohttp's static files give both the same strong one."""
    etag = response.headers.get(hdrs.ETAG, "")
    if response.headers.get(hdrs.CONTENT_ENCODING) == "gzip" and etag.startswith('"'):
        response.headers[hdrs.ETAG] = f"W/{etag}"


@web.middleware
async def request_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give each request an id for the logs: the proxy's X-Request-ID when it is sane, else a new one."""
    offered = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = offered if _REQUEST_ID.match(offered) else f"web-{observe.new_id()}"
    token = observe.REQUEST_ID.set(request_id)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.setdefault(REQUEST_ID_HEADER, request_id)
        raise
    finally:
        observe.REQUEST_ID.reset(token)
    response.headers.setdefault(REQUEST_ID_HEADER, request_id)
    return response
