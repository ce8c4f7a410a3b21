"""What every dashboard page shares: the signed-in staff member, CSRF, roles, language, rendering.

A middleware guards everything under /admin: no session → the login page (403 for anything but a
page view), a POST without the session's CSRF token → 403, a one-time password not changed yet → the
password page (403 for anything but a page view), a role the handler does not allow → 403.
Area scope is checked by each screen's own queries: an object outside the scope is a 404.
Pages read through `reading(request)` (the staff connections); a page whose reading runs past
STAFF_QUERY_SECONDS answers 503 with `too_slow`.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import keys
from bot.proxies import keep_forwarded
from content.i18n import N_, Translator
from storage import audit
from storage.db import timed_out
from storage.models import Staff, StaffRole, StaffSession
from storage.staff import resume_session

log = logging.getLogger(__name__)

PREFIX = "/admin"
SESSION_COOKIE = "caunoi_staff"
LANG_COOKIE = "caunoi_lang"
LOGIN_CSRF_COOKIE = "caunoi_login_csrf"
OPEN_PATHS = frozenset({f"{PREFIX}/login"})
# All a session whose password is a one-time one (an admin's reset) may reach until it is changed.
PASSWORD_PATHS = frozenset({f"{PREFIX}/password", f"{PREFIX}/logout"})
OPEN_PREFIXES = (f"{PREFIX}/static/",)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ALL_ROLES = frozenset(StaffRole)
MAX_FIELD = 500  # a short form field (an id, a name, a place) unless a screen says otherwise
UPLOAD_ROOM = 64 * 1024  # the form fields around an uploaded file
# The files citizens send that a browser may show itself (the others are downloaded): photos and voice messages.
CITIZEN_FILES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/webp",
        "audio/ogg",
        "audio/mpeg",
        "audio/mp4",
        "audio/x-m4a",
        "audio/aac",
        "audio/wav",
        "audio/webm",
    }
)
TOO_SLOW = N_(
    "This page took too long to prepare and was stopped. Choose a shorter period or a single commune, then try again."
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STAFF = web.RequestKey("dashboard_staff", Staff)
LOGIN = web.RequestKey("dashboard_session", StaffSession)
TRANSLATOR = web.RequestKey("dashboard_translator", Translator)


@dataclass(frozen=True)
class NavItem:
    """A link in the dashboard menu, shown to these roles."""

    route: str
    label: str
    roles: frozenset[StaffRole] = ALL_ROLES


def roles(*allowed: StaffRole) -> Callable[[Handler], Handler]:
    """Let only these roles reach the handler (403 for the others)."""

    def mark(handler: Handler) -> Handler:
        handler.dashboard_roles = frozenset(allowed)  # type: ignore[attr-defined]  # a mark read by the role check
        return handler

    return mark


def staff_of(request: web.Request) -> Staff:
    """The signed-in staff member (the guard has checked there is one)."""
    return request[STAFF]


def translator_of(request: web.Request) -> Translator:
    """The dashboard language of this request: ?lang=, then the cookie, then Vietnamese."""
    return request[TRANSLATOR]


def csrf_of(request: web.Request) -> str:
    """The CSRF token forms of this session must send back."""
    return request[LOGIN].csrf_token


def sees_everything(staff: Staff) -> bool:
    """Admins and province staff see every area; commune staff only their own."""
    return staff.role in (StaffRole.admin, StaffRole.province)


def scope_areas(request: web.Request, staff: Staff | None = None) -> set[str] | None:
    """The area codes this staff member may see: None for all, else their commune (and nothing more)."""
    staff = staff or staff_of(request)
    if sees_everything(staff):
        return None
    return {staff.area_code} if staff.area_code else set()


def in_area_scope(request: web.Request, area_code: str | None) -> bool:
    """Whether an object in this area is visible to the signed-in staff member."""
    areas = scope_areas(request)
    return areas is None or (area_code is not None and area_code in areas)


def now_of(request: web.Request) -> datetime:
    """The app's clock (tests set it)."""
    return request.app[keys.CLOCK]()


def today_of(request: web.Request) -> date:
    """Today's date in the province's time zone, by the app's clock."""
    return now_of(request).astimezone(request.app[keys.SERVICES].tz).date()


def form_text(form: Any, name: str, limit: int | None = None) -> str:
    """A form field as trimmed text cut to `limit` characters ("" when it is missing or a file)."""
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def form_values(form: Any, name: str) -> list[str]:
    """The non-empty trimmed values of a field sent several times (ticked boxes, multiple choice)."""
    return [value.strip() for value in form.getall(name, []) if isinstance(value, str) and value.strip()]


def local_moment(day: str, time: str, tz: Any) -> datetime | None:
    """A form's date ("YYYY-MM-DD") and time ("HH:MM") in the province's time zone, or None when invalid."""
    try:
        return datetime.strptime(f"{day} {time}", "%Y-%m-%d %H:%M").replace(tzinfo=tz)
    except ValueError:
        return None


def reading(request: web.Request) -> AsyncSession:
    """A session for what a page only reads: on the staff connections (read-only on SQLite, each
    statement stopped after STAFF_QUERY_SECONDS), never the connection citizens' turns use. What a
    request writes, audit rows included, goes through `keys.SESSIONS`."""
    return request.app[keys.STAFF_SESSIONS]()


async def record(session: AsyncSession, request: web.Request, action: str, **kwargs: Any) -> None:
    """Audit-log an action of the signed-in staff member (committed with the action)."""
    await audit.record(session, staff_of(request), action, now=now_of(request), **kwargs)


def render(
    request: web.Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> web.Response:
    """Render a dashboard template with the shared context (staff, language, CSRF token, menu)."""
    translator = request.get(TRANSLATOR) or request.app[keys.SERVICES].catalogs.get()
    staff = request.get(STAFF)
    login = request.get(LOGIN)
    base = {
        "_": translator.gettext,
        "ngettext": translator.ngettext,
        "t": translator,
        "lang": translator.locale,
        "staff": staff,
        "csrf": login.csrf_token if login else "",
        "nav": [item for item in request.app[keys.DASHBOARD_NAV] if staff is not None and staff.role in item.roles],
        "path": request.path,
        "url": lambda name, **parts: str(request.app.router[name].url_for(**parts)),
        "area_label": lambda code: _area_label(request, code),
        "local": lambda moment: translator.format_datetime(moment) if moment else "",
        "local_date": lambda moment: translator.format_date(moment) if moment else "",
        "query_with": lambda **changes: _query_with(request, changes),
    }
    response = aiohttp_jinja2.render_template(template, request, {**base, **(context or {})}, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _area_label(request: web.Request, code: str | None) -> str:
    if not code:
        return ""
    area = request.app[keys.SERVICES].areas.get(code)
    return area.label if area else code


def _query_with(request: web.Request, changes: dict[str, Any]) -> str:
    """The current query string with some parameters changed (None drops one)."""
    query = {key: value for key, value in request.query.items() if key not in changes}
    query.update({key: str(value) for key, value in changes.items() if value not in (None, "")})
    return "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in query.items()) if query else "?"


def secure_cookies(request: web.Request) -> bool:
    """Whether cookies are Secure: the visitor came over https (behind a trusted proxy, as it says),
    or PUBLIC_BASE_URL is https."""
    return request.secure or request.app[keys.SETTINGS].public_https


def private_file(request: web.Request, stored: str, mime: str | None, inline_types: frozenset[str]) -> web.FileResponse:
    """A file kept under DATA_DIR (a photo or voice message a citizen sent) for the staff member: 404
    when it is missing or outside the data folder; shown in the browser only when its type is one of
    `inline_types`, else downloaded; sandboxed and never kept by shared caches."""
    root = request.app[keys.SETTINGS].data_dir.resolve()
    path = (root / stored).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise web.HTTPNotFound()
    inline = mime in inline_types
    return web.FileResponse(
        path,
        headers={
            "Content-Type": mime if inline and mime else "application/octet-stream",
            "Content-Disposition": "inline" if inline else f'attachment; filename="{Path(stored).name}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


def redirect(request: web.Request, route: str, query: dict[str, str] | None = None, **parts: str) -> web.HTTPSeeOther:
    """A 303 to a named route after a form post."""
    url = request.app.router[route].url_for(**parts)
    if query:
        url = url.with_query(query)
    return web.HTTPSeeOther(str(url))


def forbidden(request: web.Request) -> web.Response:
    """The 403 page."""
    return render(request, "admin/error.html", {"code": 403, "message": N_("You may not open this page.")}, status=403)


def not_found(request: web.Request) -> web.Response:
    """The 404 page (also for objects outside the staff member's area)."""
    return render(
        request,
        "admin/error.html",
        {"code": 404, "message": N_("There is nothing here, or it is outside your area.")},
        status=404,
    )


def too_slow(request: web.Request) -> web.Response:
    """The 503 page of a page whose reading ran past its time limit."""
    response = render(request, "admin/error.html", {"code": 503, "message": TOO_SLOW}, status=503)
    response.headers["Retry-After"] = "60"
    return response


def _wants_page(request: web.Request) -> bool:
    return request.method in ("GET", "HEAD")


def _resolve_language(request: web.Request) -> tuple[Translator, str | None]:
    """The translator, and a language to remember in the cookie when ?lang= chose one."""
    catalogs = request.app[keys.SERVICES].catalogs
    chosen = request.query.get("lang")
    translator = catalogs.get(chosen, request.cookies.get(LANG_COOKIE))
    return translator, translator.locale if chosen else None


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Sign-in, CSRF and role checks for every dashboard route."""
    path = request.path
    if not (path == PREFIX or path.startswith(PREFIX + "/")) or path.startswith(OPEN_PREFIXES):
        return await handler(request)
    translator, remember = _resolve_language(request)
    request[TRANSLATOR] = translator
    response = await _guarded(request, handler, path)
    if remember:
        response.set_cookie(
            LANG_COOKIE,
            remember,
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="Lax",
            path=PREFIX,
            secure=secure_cookies(request),
        )
    return response


async def _guarded(request: web.Request, handler: Handler, path: str) -> web.StreamResponse:
    if path in OPEN_PATHS:
        return await _call(request, handler)
    found = await _signed_in(request)
    if found is None:
        if _wants_page(request):
            raise web.HTTPFound(f"{PREFIX}/login?next={quote(request.path_qs)}")
        return web.Response(status=403, text="sign in first")
    # Signed-in staff may upload a photo as large as MEDIA_MAX_BYTES; everyone else stays at the app's 1 MB.
    request = keep_forwarded(request, client_max_size=request.app[keys.SETTINGS].media_max_bytes + UPLOAD_ROOM)
    request[LOGIN], request[STAFF] = found
    if request.method not in SAFE_METHODS and not await _csrf_ok(request, found[0].csrf_token):
        log.warning("dashboard: %s %s without a valid CSRF token (staff %s)", request.method, path, found[1].username)
        return web.Response(status=403, text="CSRF token missing or wrong: reload the page and try again")
    if found[1].must_change_password and path not in PASSWORD_PATHS:
        if _wants_page(request):
            raise web.HTTPFound(f"{PREFIX}/password")
        return web.Response(status=403, text="change your one-time password first")
    allowed = getattr(handler, "dashboard_roles", ALL_ROLES)
    if found[1].role not in allowed:
        return forbidden(request)
    return await _call(request, handler)


async def _call(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return not_found(request)
    except SQLAlchemyError as error:
        if not timed_out(error):
            raise
        staff = request.get(STAFF)
        log.warning(
            "dashboard: %s %s stopped: its database work took too long (staff %s): %s",
            request.method,
            request.path,
            staff.username if staff else "-",
            error.__class__.__name__,
        )
        return too_slow(request)


async def _signed_in(request: web.Request) -> tuple[StaffSession, Staff] | None:
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        return None
    async with request.app[keys.SESSIONS]() as session:
        found = await resume_session(session, token, now_of(request))
        await session.commit()
        if found is not None:
            session.expunge_all()
    return found


async def _csrf_ok(request: web.Request, expected: str) -> bool:
    sent = request.headers.get("X-CSRF-Token", "")
    if not sent and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        value = form.get("csrf", "")
        sent = value if isinstance(value, str) else ""
    return bool(sent) and hmac.compare_digest(sent, expected)
