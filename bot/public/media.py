"""How to reach the bot (Telegram, Zalo, the web chat) with QR codes, the style sheet and story photos."""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO

import segno
from aiohttp import web

from bot import keys
from bot.dashboard.stats import telegram_username
from bot.public.site import ALLOWED_LINK, ASSET_CACHE, STATIC_DIR, asset_version, not_found
from content.i18n import N_

routes = web.RouteTableDef()


@dataclass(frozen=True)
class Way:
    """One way to talk to the bot: its name, the link and a short hint (msgids)."""

    via: str
    name: str
    url: str
    hint: str

    @property
    def absolute(self) -> bool:
        """Whether the link works outside this site (printed, or as a QR code)."""
        return self.url.startswith(ALLOWED_LINK)


def ways_to_reach(request: web.Request) -> list[Way]:
    """Telegram when connected, Zalo when a Zalo channel is on and ZALO_LINK is set, the web chat always:
    at PUBLIC_BASE_URL, else relative (a Host header is the visitor's to write, and pages are cached)."""
    ways = []
    settings = request.app[keys.SETTINGS]
    username = telegram_username(request)
    if username:
        ways.append(
            Way(
                "telegram",
                "Telegram",
                f"https://t.me/{username}",
                N_("Open the link or scan the code, then press Start."),
            )
        )
    if settings.zalo_link is not None and (settings.zalo_bot_enabled or settings.zalo_oa_enabled):
        ways.append(
            Way(
                "zalo",
                "Zalo",
                str(settings.zalo_link),
                N_("Open the link or scan the code with Zalo, then send a message."),
            )
        )
    base = settings.public_base_url
    ways.append(
        Way(
            "web",
            N_("Web chat"),
            "/chat" if base is None else str(base / "chat"),
            N_("Works in any browser, nothing to install."),
        )
    )
    return ways


@routes.get("/qr/{via:telegram|zalo|web}.svg", name="public-qr")
async def qr_code(request: web.Request) -> web.Response:
    """GET /qr/telegram.svg|zalo.svg|web.svg: the QR code of that way to reach the bot (404 when it is
    off, and for the web chat without PUBLIC_BASE_URL)."""
    way = next((way for way in ways_to_reach(request) if way.via == request.match_info["via"]), None)
    if way is None or not way.absolute:
        return not_found(request)
    buffer = BytesIO()
    segno.make(way.url, error="m", micro=False).save(buffer, kind="svg", scale=6, border=2, title=way.url)
    return web.Response(
        body=buffer.getvalue(), content_type="image/svg+xml", headers={"Cache-Control": "public, max-age=3600"}
    )


@routes.get("/static/{name:[a-z0-9_-]+\\.css}", name="public-static")
async def static_file(request: web.Request) -> web.StreamResponse:
    """GET /static/NAME.css: the public style sheet, kept by browsers for a year under its versioned URL."""
    path = STATIC_DIR / request.match_info["name"]
    if not path.is_file():
        raise web.HTTPNotFound()
    versioned = request.query.get("v") == asset_version(path.name)
    return web.FileResponse(path, headers={"Cache-Control": ASSET_CACHE if versioned else "public, max-age=3600"})


@routes.get(r"/cau-chuyen/{story_id}/anh/{number:\d{1,2}}.jpg", name="public-story-photo")
async def story_photo(request: web.Request) -> web.StreamResponse:
    """GET /cau-chuyen/ID/anh/N.jpg: a published story's photo, resized and without metadata when published."""
    item = request.app[keys.SERVICES].library.story(request.match_info["story_id"])
    number = int(request.match_info["number"])
    if item is None or not 1 <= number <= len(item.photos):
        raise web.HTTPNotFound()
    root = request.app[keys.SETTINGS].data_dir.resolve()
    path = (root / item.photos[number - 1]).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "image/jpeg",
            "Cache-Control": "public, max-age=3600",
            "X-Content-Type-Options": "nosniff",
        },
    )
