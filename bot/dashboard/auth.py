"""Signing in and out of the dashboard, throttled per (account, client address) and per address.

No account is ever locked for everyone: someone guessing a password from one address cannot keep
its owner out, who signs in from another. Failures are counted in the database (storage/logins.py),
so every web process sees the same counts.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from datetime import timedelta

from aiohttp import web

from bot import keys
from bot.config import Settings
from bot.dashboard import web as dash
from content.i18n import N_
from storage import audit, logins
from storage.core import id_of
from storage.staff import check_password, close_sessions, login_candidate, open_session, purge_sessions, signed_in

routes = web.RouteTableDef()

FAILED = N_("Wrong username or password.")
SLOW_DOWN = N_("Too many failed attempts from this computer. Wait a few minutes and try again.")
EXPIRED_FORM = N_("The form expired. Please try again.")
MAX_DELAY = 10.0  # seconds: the longest a slowed-down attempt waits
KEEP_FAILURES = timedelta(hours=1)  # at least this long, for the dashboard's notice


def refusal(settings: Settings, failures: logins.Failures) -> str | None:
    """Why this attempt is refused before its password is checked ("account_address", "address"), or None."""
    if failures.pair >= settings.login_pair_limit:
        return "account_address"
    if failures.address >= settings.login_address_limit:
        return "address"
    return None


def delay(settings: Settings, failures: logins.Failures) -> float:
    """Seconds this attempt waits: longer with each failure of the pair past LOGIN_SLOW_AFTER."""
    beyond = failures.pair - settings.login_slow_after + 1
    return min(settings.login_delay_seconds * beyond, MAX_DELAY) if beyond > 0 else 0.0


def _next_url(value: str) -> str:
    """Where to go after signing in: only a dashboard path of this site."""
    if value.startswith(dash.PREFIX) and not value.startswith("//") and "\\" not in value and "\n" not in value:
        return value
    return dash.PREFIX


def _login_page(request: web.Request, error: str = "", *, status: int = 200, username: str = "") -> web.Response:
    token = secrets.token_urlsafe(24)
    response = dash.render(
        request,
        "admin/login.html",
        {
            "error": dash.translator_of(request).gettext(error) if error else "",
            "login_csrf": token,
            "next": _next_url(request.query.get("next", "")),
            "username": username,
        },
        status=status,
    )
    _strict_cookie(request, response, dash.LOGIN_CSRF_COOKIE, token, path=f"{dash.PREFIX}/login")
    return response


def _strict_cookie(
    request: web.Request, response: web.StreamResponse, name: str, value: str, *, path: str, max_age: int | None = None
) -> None:
    """Set a cookie that scripts cannot read and no other site's page sends back; Secure when the
    dashboard is served over https."""
    response.set_cookie(
        name, value, httponly=True, samesite="Strict", secure=dash.secure_cookies(request), path=path, max_age=max_age
    )


@routes.get(f"{dash.PREFIX}/login", name="admin-login")
async def login_form(request: web.Request) -> web.Response:
    """GET /admin/login."""
    return _login_page(request)


@routes.post(f"{dash.PREFIX}/login", name="admin-login-post")
async def login(request: web.Request) -> web.StreamResponse:
    """POST /admin/login: username, password, csrf, next."""
    form = await request.post()
    username = str(form.get("username", ""))[:64].strip().lower()
    password = str(form.get("password", ""))[:1024]
    sent, expected = str(form.get("csrf", "")), request.cookies.get(dash.LOGIN_CSRF_COOKIE, "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        return _login_page(request, EXPIRED_FORM, status=403, username=username)
    address = request.remote or "?"  # the visitor's own address, also behind a trusted proxy (bot/proxies.py)
    now = dash.now_of(request)
    settings = request.app[keys.SETTINGS]
    async with request.app[keys.SESSIONS]() as session:
        failures = await logins.failures_since(
            session, username, address, now - timedelta(minutes=settings.login_window_minutes)
        )
        reason = refusal(settings, failures)
        if reason is not None:
            await audit.record(
                session,
                None,
                "login.refused",
                now=now,
                actor=username,
                object_type="staff",
                object_id=username,
                address=address,
                reason=reason,
            )
            await session.commit()
            return _login_page(request, SLOW_DOWN, status=429, username=username)
        staff_id, stored = await login_candidate(session, username)
    # Waiting and hashing hold no database connection (SQLite has one for the whole process).
    if wait := delay(settings, failures):
        await asyncio.sleep(wait)
    matches = await check_password(stored, password)
    async with request.app[keys.SESSIONS]() as session:
        staff = await signed_in(session, staff_id, now) if matches and staff_id is not None else None
        if staff is None:
            logins.record_failure(session, username, address, now)
            await logins.purge_failures(
                session, now - max(KEEP_FAILURES, timedelta(minutes=settings.login_window_minutes))
            )
            await audit.record(
                session,
                None,
                "login.failed",
                now=now,
                actor=username,
                object_type="staff",
                object_id=username,
                address=address,
            )
            await session.commit()
            return _login_page(request, FAILED, status=401, username=username)
        await purge_sessions(session, now)
        token, _row = await open_session(session, staff, now, timedelta(hours=settings.staff_session_hours))
        await audit.record(session, staff, "login", now=now, object_type="staff", object_id=staff.username)
        await session.commit()
    response = web.HTTPSeeOther(_next_url(str(form.get("next", ""))))
    max_age = int(settings.staff_session_hours * 3600)
    _strict_cookie(request, response, dash.SESSION_COOKIE, token, path=dash.PREFIX, max_age=max_age)
    response.del_cookie(dash.LOGIN_CSRF_COOKIE, path=f"{dash.PREFIX}/login")
    raise response


@routes.post(f"{dash.PREFIX}/logout", name="admin-logout")
async def logout(request: web.Request) -> web.StreamResponse:
    """POST /admin/logout: ends this session."""
    staff = dash.staff_of(request)
    async with request.app[keys.SESSIONS]() as session:
        await close_sessions(session, id_of(staff), token=request.cookies.get(dash.SESSION_COOKIE, ""))
        await dash.record(session, request, "logout", object_type="staff", object_id=staff.username)
        await session.commit()
    response = dash.redirect(request, "admin-login")
    response.del_cookie(dash.SESSION_COOKIE, path=dash.PREFIX)
    raise response
