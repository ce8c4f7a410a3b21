"""Signing in and out of the dashboard, with a throttle per address and a lock per account."""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from datetime import timedelta

from aiohttp import web

from bot import keys
from bot.dashboard.web import (
    LOGIN_CSRF_COOKIE, PREFIX, SESSION_COOKIE, now_of, record, redirect, render, secure_cookies, staff_of, translator_of,
)
from content.i18n import N_
from storage import audit
from storage.staff import LoginResult, authenticate, close_sessions, open_session, purge_sessions

routes = web.RouteTableDef()

FAILED = N_("Wrong username or password.")
LOCKED = N_("Too many failed attempts: this account is locked for 15 minutes.")
SLOW_DOWN = N_("Too many failed attempts from this computer. Wait a few minutes and try again.")
EXPIRED_FORM = N_("The form expired. Please try again.")


class LoginThrottle:
    """At most `limit` failed logins per address in `window` seconds."""

    def __init__(self, limit: int = 20, window: float = 15 * 60) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def blocked(self, address: str) -> bool:
        """Whether this address has failed too often lately."""
        failures = self._failures.get(address)
        if not failures:
            return False
        cutoff = time.monotonic() - self.window
        while failures and failures[0] < cutoff:
            failures.popleft()
        if not failures:
            del self._failures[address]
        return bool(failures) and len(failures) >= self.limit

    def failed(self, address: str) -> None:
        """Count one failure."""
        if len(self._failures) > 10_000:  # many addresses: forget the oldest rather than grow
            self._failures.pop(next(iter(self._failures)))
        self._failures.setdefault(address, deque()).append(time.monotonic())


THROTTLE = web.AppKey("login_throttle", LoginThrottle)


def _next_url(value: str) -> str:
    """Where to go after signing in: only a dashboard path of this site."""
    if value.startswith(PREFIX) and not value.startswith("//") and "\\" not in value and "\n" not in value:
        return value
    return PREFIX


def _login_page(request: web.Request, error: str = "", *, status: int = 200, username: str = "") -> web.Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "admin/login.html", {
        "error": translator_of(request).gettext(error) if error else "", "login_csrf": token,
        "next": _next_url(request.query.get("next", "")), "username": username,
    }, status=status)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", secure=secure_cookies(request), path=f"{PREFIX}/login")
    return response


@routes.get(f"{PREFIX}/login", name="admin-login")
async def login_form(request: web.Request) -> web.Response:
    """GET /admin/login."""
    return _login_page(request)


@routes.post(f"{PREFIX}/login", name="admin-login-post")
async def login(request: web.Request) -> web.StreamResponse:
    """POST /admin/login: username, password, csrf, next."""
    form = await request.post()
    username = str(form.get("username", ""))[:64].strip().lower()
    password = str(form.get("password", ""))[:1024]
    sent, expected = str(form.get("csrf", "")), request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        return _login_page(request, EXPIRED_FORM, status=403, username=username)
    address = request.remote or "?"  # the visitor's own address, also behind a trusted proxy (bot/proxies.py)
    throttle = request.app[THROTTLE]
    if throttle.blocked(address):
        return _login_page(request, SLOW_DOWN, status=429, username=username)
    now = now_of(request)
    settings = request.app[keys.SETTINGS]
    async with request.app[keys.SESSIONS]() as session:
        result, staff = await authenticate(session, username, password, now)
        if result != LoginResult.ok or staff is None:
            throttle.failed(address)
            await audit.record(session, None, f"login.{result}", now=now, actor=username, object_type="staff", object_id=username)
            await session.commit()
            return _login_page(request, LOCKED if result == LoginResult.locked else FAILED, status=401, username=username)
        await purge_sessions(session, now)
        token, _row = await open_session(session, staff, now, timedelta(hours=settings.staff_session_hours))
        await audit.record(session, staff, "login", now=now, object_type="staff", object_id=staff.username)
        await session.commit()
    response = web.HTTPSeeOther(_next_url(str(form.get("next", ""))))
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="Strict", secure=secure_cookies(request), path=PREFIX,
        max_age=int(settings.staff_session_hours * 3600),
    )
    response.del_cookie(LOGIN_CSRF_COOKIE, path=f"{PREFIX}/login")
    raise response


@routes.post(f"{PREFIX}/logout", name="admin-logout")
async def logout(request: web.Request) -> web.StreamResponse:
    """POST /admin/logout: ends this session."""
    staff = staff_of(request)
    async with request.app[keys.SESSIONS]() as session:
        await close_sessions(session, staff.id, token=request.cookies.get(SESSION_COOKIE, ""))  # type: ignore[arg-type]
        await record(session, request, "logout", object_type="staff", object_id=staff.username)
        await session.commit()
    response = redirect(request, "admin-login")
    response.del_cookie(SESSION_COOKIE, path=PREFIX)
    raise response

