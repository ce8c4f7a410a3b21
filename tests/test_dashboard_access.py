"""Dashboard access: every route is guarded, sign-in is throttled per account and address, CSRF and roles are enforced."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import time
from datetime import timedelta

import pytest
from aiohttp import web
from sqlmodel import select

from bot import keys
from bot.app import create_app
from bot.dashboard import ensure_admin
from bot.dashboard.web import OPEN_PATHS, PREFIX, SESSION_COOKIE
from handlers.engine import utc_now
from storage import staff as staff_module
from storage.db import create_engine, session_factory
from storage.models import AuditEntry, Staff, StaffRole, StaffSession
from tests.dashboard import COMMUNE, CSRF_FIELD, PASSWORD, add_staff, sign_in

SAMPLE = {"code": "PA-AAAAAA", "username": "nobody", "faq_id": "x", "story_id": "x", "id": "1", "question_id": "1",
          "area": COMMUNE, "name": "x", "campaign_id": "x", "attachment_id": "1", "token": "x"}


def dashboard_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, path) of every dashboard route, with sample values in the variable parts."""
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix") or ""
        if not path.startswith(PREFIX) or route.method == "HEAD":
            continue
        path = re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: SAMPLE.get(m[1], "1"), path)
        found.append((route.method, path))
    return found


async def test_every_dashboard_route_turns_away_anonymous_visitors(settings, aiohttp_client) -> None:
    app = create_app(settings)
    client = await aiohttp_client(app)
    routes = dashboard_routes(app)
    assert len(routes) >= 8
    unguarded = []
    for method, path in routes:
        if path in OPEN_PATHS or path.startswith(f"{PREFIX}/static"):
            continue
        response = await client.request(method, path, allow_redirects=False)
        if method == "GET":
            ok = response.status == 302 and response.headers["Location"].startswith("/admin/login?next=")
        else:
            ok = response.status == 403
        if not ok:
            unguarded.append((method, path, response.status))
    assert unguarded == []


async def test_every_post_route_refuses_a_request_without_the_csrf_token(settings, aiohttp_client, sessions) -> None:
    app = create_app(settings)
    client = await aiohttp_client(app)
    await add_staff(sessions, "boss", StaffRole.admin)
    admin = await sign_in(client, "boss")
    refused = []
    for method, path in dashboard_routes(app):
        if method != "POST" or path in OPEN_PATHS:
            continue
        without = await admin.post(path, {"csrf": "forged"}, csrf=False)
        if without.status != 403:
            refused.append((path, without.status))
    assert refused == []


async def test_sign_in_lands_on_the_overview_and_sign_out_ends_the_session(settings, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(create_app(settings))
    await add_staff(sessions, "lan", StaffRole.province)
    lan = await sign_in(client, "lan")
    html = await lan.page("/admin")
    assert '<html lang="vi">' in html and "Tổng quan" in html
    assert lan.set_cookie.startswith(f"{SESSION_COOKIE}=")
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/admin", "Max-Age=43200"):
        assert attribute in lan.set_cookie
    token = lan.set_cookie.split(";")[0].split("=", 1)[1]
    async with sessions() as session:
        stored = (await session.exec(select(StaffSession))).all()
        assert len(stored) == 1 and token not in stored[0].token_hash
    response = await lan.post("/admin/logout")
    assert response.status == 303
    assert (await lan.get("/admin")).status == 302
    async with sessions() as session:
        assert (await session.exec(select(StaffSession))).all() == []
        actions = [entry.action for entry in (await session.exec(select(AuditEntry))).all()]
    assert "login" in actions and "logout" in actions


async def attempt(client, username: str, password: str, address: str = "") -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """One sign-in through the form, from `address` (behind the trusted local proxy) or the test client's own."""
    headers = {"X-Forwarded-For": address} if address else {}
    form = await (await client.get("/admin/login", headers=headers)).text()
    csrf = CSRF_FIELD.search(form)[1]  # type: ignore[index]
    response = await client.post("/admin/login", data={"username": username, "password": password, "csrf": csrf},
                                 headers=headers, allow_redirects=False)
    return response.status, await response.text()


GUESSER, OWNER = "203.0.113.7", "198.51.100.23"
WRONG = "Sai tên đăng nhập hoặc mật khẩu"
SLOWED = "Máy này đã nhập sai quá nhiều lần"


async def test_guessing_from_one_address_never_keeps_the_owner_out(settings, aiohttp_client, sessions) -> None:
    """Failures refuse the pair (account, address), not the account: the owner signs in from elsewhere."""
    client = await aiohttp_client(create_app(settings.model_copy(update={"login_pair_limit": 3})))
    await add_staff(sessions, "lan", StaffRole.province)
    for _ in range(3):
        status, html = await attempt(client, "lan", "wrong password", GUESSER)
        assert status == 401 and WRONG in html
    status, html = await attempt(client, "lan", PASSWORD, GUESSER)  # even the right password, from this address
    assert status == 429 and SLOWED in html
    assert (await attempt(client, "lan", PASSWORD, OWNER))[0] == 303
    assert (await attempt(client, "lan", PASSWORD))[0] == 303
    async with sessions() as session:
        entries = (await session.exec(select(AuditEntry).order_by(AuditEntry.id))).all()
        staff = (await session.exec(select(Staff).where(Staff.username == "lan"))).one()
    assert staff.locked_until is None
    failed = [e for e in entries if e.action == "login.failed"]
    refused = [e for e in entries if e.action == "login.refused"]
    assert len(failed) == 3 and all(e.detail["address"] == GUESSER for e in failed)
    assert [(e.actor, e.detail) for e in refused] == [("lan", {"address": GUESSER, "reason": "account_address"})]
    assert [e.actor for e in entries if e.action == "login"] == ["lan", "lan"]


async def test_unknown_and_known_names_get_the_same_answers(settings, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(create_app(settings.model_copy(update={"login_pair_limit": 2})))
    await add_staff(sessions, "lan", StaffRole.province)
    answers = {}
    for name in ("lan", "nobody"):
        answers[name] = []
        for _ in range(3):
            status, html = await attempt(client, name, "wrong password", GUESSER)
            answers[name].append((status, WRONG in html, SLOWED in html))
    assert answers["lan"] == answers["nobody"] == [(401, True, False), (401, True, False), (429, False, True)]


async def test_one_address_is_refused_after_many_failures_for_any_names(settings, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(create_app(settings.model_copy(update={"login_address_limit": 5})))
    await add_staff(sessions, "lan", StaffRole.province)
    statuses = [(await attempt(client, f"guess{n}", "x" * 8, GUESSER))[0] for n in range(6)]
    assert statuses == [401] * 5 + [429]
    assert (await attempt(client, "lan", PASSWORD, GUESSER))[0] == 429
    assert (await attempt(client, "lan", PASSWORD, OWNER))[0] == 303
    async with sessions() as session:
        refused = (await session.exec(select(AuditEntry).where(AuditEntry.action == "login.refused"))).all()
    assert [(e.actor, e.detail["reason"]) for e in refused] == [("guess5", "address"), ("lan", "address")]


async def test_failures_of_a_pair_slow_it_down(settings, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(create_app(settings.model_copy(update={"login_slow_after": 2, "login_delay_seconds": 0.3})))
    timings = []
    for _ in range(4):
        started = time.monotonic()
        assert (await attempt(client, "lan", "wrong password", GUESSER))[0] == 401
        timings.append(time.monotonic() - started)
    assert timings[0] < 0.3 and timings[1] < 0.3  # 0 and 1 failures before
    assert timings[2] >= 0.3 and timings[3] >= 0.6  # 2, then 3 failures: longer each time
    started = time.monotonic()
    assert (await attempt(client, "lan", "wrong password", OWNER))[0] == 401
    assert time.monotonic() - started < 0.3  # another address is not slowed


async def test_admins_see_which_accounts_are_being_guessed(settings, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(create_app(settings.model_copy(update={"login_alert_after": 3})))
    await add_staff(sessions, "boss", StaffRole.admin)
    await add_staff(sessions, "lan", StaffRole.province)
    for address in (GUESSER, GUESSER, OWNER):
        await attempt(client, "lan", "wrong password", address)
    for _ in range(3):
        await attempt(client, "nobody", "wrong password", GUESSER)  # no such account: nothing to warn about
    await attempt(client, "boss", "wrong password", GUESSER)  # below the threshold
    notice = "3 lần đăng nhập sai vào tài khoản lan từ 2 địa chỉ trong một giờ qua."
    province = await sign_in(client, "lan")
    assert notice not in await province.page("/admin")
    await province.post("/admin/logout")
    admin = await sign_in(client, "boss")
    for page in ("/admin", "/admin/staff"):
        html = await admin.page(page)
        assert notice in html and "nobody" not in html and "tài khoản boss" not in html


async def test_a_login_hashes_in_a_thread_while_other_requests_are_answered(settings, aiohttp_client, sessions) -> None:
    """scrypt costs tens of milliseconds (here ten times more): it must not stop the event loop."""
    client = await aiohttp_client(create_app(settings))
    await add_staff(sessions, "lan", StaffRole.province)
    salt, n = b"0123456789abcdef", 2**17
    key = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=n, r=8, p=1, maxmem=256 * n * 8 + 2**20, dklen=32)
    async with sessions() as session:
        staff = (await session.exec(select(Staff).where(Staff.username == "lan"))).one()
        staff.password_hash = "$".join(["scrypt", str(n), "8", "1", base64.b64encode(salt).decode(), base64.b64encode(key).decode()])
        session.add(staff)
        await session.commit()
    form = await (await client.get("/admin/login")).text()
    csrf = CSRF_FIELD.search(form)[1]  # type: ignore[index]
    started = time.monotonic()
    login = asyncio.create_task(client.post("/admin/login", data={"username": "lan", "password": PASSWORD, "csrf": csrf},
                                            allow_redirects=False))
    await asyncio.sleep(0.05)
    assert (await client.get("/healthz")).status == 200
    assert not login.done(), "the health check waited for the password check"
    assert (await login).status == 303
    assert time.monotonic() - started > 0.1


async def test_the_login_form_needs_its_own_csrf_token_and_next_stays_on_this_site(settings, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(create_app(settings))
    await add_staff(sessions, "lan", StaffRole.province)
    response = await client.post("/admin/login", data={"username": "lan", "password": PASSWORD}, allow_redirects=False)
    assert response.status == 403
    form = await (await client.get("/admin/login?next=//evil.example/x")).text()
    csrf = CSRF_FIELD.search(form)[1]  # type: ignore[index]
    response = await client.post("/admin/login", data={"username": "lan", "password": PASSWORD, "csrf": csrf,
                                                       "next": "https://evil.example/"}, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/admin"


async def test_a_session_expires_and_a_disabled_account_is_signed_out(settings, aiohttp_client, sessions) -> None:
    now = [utc_now()]
    client = await aiohttp_client(create_app(settings, clock=lambda: now[0]))
    await add_staff(sessions, "boss", StaffRole.admin)
    await add_staff(sessions, "lan", StaffRole.province)
    boss = await sign_in(client, "boss")
    assert (await boss.get("/admin")).status == 200
    now[0] += timedelta(hours=2, minutes=1)  # idle too long
    assert (await boss.get("/admin")).status == 302
    boss = await sign_in(client, "boss")
    other = await aiohttp_client(create_app(settings, clock=lambda: now[0]))
    lan = await sign_in(other, "lan")
    assert (await boss.post("/admin/staff/lan", {"action": "disable"})).status == 303
    assert (await lan.get("/admin")).status == 302


async def test_commune_staff_cannot_open_admin_screens(settings, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(create_app(settings))
    await add_staff(sessions, "hoaphu", StaffRole.commune, COMMUNE)
    xa = await sign_in(client, "hoaphu")
    for path in ("/admin/staff", "/admin/audit"):
        assert (await xa.get(path)).status == 403
    assert (await xa.post("/admin/staff", {"username": "sneaky", "role": "admin"})).status == 403
    html = await xa.page("/admin")
    assert "/admin/staff" not in html and "Hòa Phú" in html


async def test_admin_creates_disables_and_resets_accounts_and_the_log_shows_it(settings, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(create_app(settings))
    await add_staff(sessions, "boss", StaffRole.admin)
    boss = await sign_in(client, "boss")
    response = await boss.post("/admin/staff", {"username": "hoa", "role": "commune", "area": COMMUNE, "display_name": "Chị Hoa"})
    html = await response.text()
    assert response.status == 200
    password = re.search(r'<code class="secret">([^<]+)</code>', html)[1]  # type: ignore[index]
    other = await aiohttp_client(create_app(settings))
    assert (await sign_in(other, "hoa", password)).csrf
    response = await boss.post("/admin/staff/hoa", {"action": "reset"})
    new_password = re.search(r'<code class="secret">([^<]+)</code>', await response.text())[1]  # type: ignore[index]
    assert new_password != password
    bad = await boss.post("/admin/staff", {"username": "hoa2", "role": "commune"})
    assert bad.status == 303 and "message=" in bad.headers["Location"]
    log = await boss.page("/admin/audit")
    for action in ("staff.create", "staff.reset", "login"):
        assert action in log
    assert (await boss.post("/admin/staff/boss", {"action": "disable"})).status == 303
    assert (await boss.get("/admin")).status == 200  # still signed in: one cannot disable oneself


@pytest.mark.parametrize("lang, expected", [("en", "Overview"), ("vi", "Tổng quan")])
async def test_the_language_switch_is_remembered(settings, aiohttp_client, sessions, lang, expected) -> None:
    client = await aiohttp_client(create_app(settings))
    await add_staff(sessions, "lan", StaffRole.province)
    lan = await sign_in(client, "lan")
    await lan.page(f"/admin?lang={lang}")
    html = await lan.page("/admin")
    assert f'<html lang="{lang}">' in html and expected in html


async def test_the_first_start_creates_an_admin_from_the_environment(settings, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(create_app(settings.model_copy(update={"admin_password": "first-admin-pass"})))
    assert (await sign_in(client, "admin", "first-admin-pass")).csrf


def starting_app(settings, sessions) -> web.Application:  # type: ignore[no-untyped-def]
    """What `ensure_admin` reads of an app that is starting."""
    app = web.Application()
    app[keys.SETTINGS] = settings.model_copy(update={"admin_password": "first-admin-pass"})
    app[keys.SESSIONS] = sessions
    app[keys.CLOCK] = utc_now
    return app


@pytest.mark.parametrize("moment", ["before the name is checked", "after the name is checked"])
async def test_a_process_that_loses_the_race_to_create_the_first_admin_still_starts(settings, sessions, monkeypatch,
                                                                                   caplog, moment) -> None:
    # Another process (its own engine) creates "admin" between this one's look for an admin and its insert.
    other = create_engine(settings.database_url)
    real_get_staff = staff_module.get_staff
    raced = []

    async def other_process_wins(session, username):  # type: ignore[no-untyped-def]
        if username == "admin" and not raced:
            raced.append(True)
            await add_staff(session_factory(other), "admin", StaffRole.admin)
            if moment == "after the name is checked":
                return None
        return await real_get_staff(session, username)

    monkeypatch.setattr(staff_module, "get_staff", other_process_wins)
    try:
        with caplog.at_level(logging.INFO, logger="bot.dashboard"):
            await ensure_admin(starting_app(settings, sessions))
    finally:
        await other.dispose()
    async with sessions() as session:
        admins = (await session.exec(select(Staff).where(Staff.role == StaffRole.admin))).all()
    assert [staff.username for staff in admins] == ["admin"]
    assert "created by another process" in caplog.text


async def test_several_processes_starting_at_once_create_one_admin(settings, sessions) -> None:
    engines = [create_engine(settings.database_url) for _ in range(4)]
    try:
        await asyncio.gather(*(ensure_admin(starting_app(settings, session_factory(engine))) for engine in engines))
    finally:
        await asyncio.gather(*(engine.dispose() for engine in engines))
    async with sessions() as session:
        admins = (await session.exec(select(Staff.username).where(Staff.role == StaffRole.admin))).all()
    assert admins == ["admin"]


async def test_a_start_goes_on_when_the_name_admin_belongs_to_an_officer(settings, sessions, caplog) -> None:
    await add_staff(sessions, "admin", StaffRole.commune, COMMUNE)
    with caplog.at_level(logging.WARNING, logger="bot.dashboard"):
        await ensure_admin(starting_app(settings, sessions))
    assert "there is no admin account" in caplog.text and "staff add" in caplog.text
    async with sessions() as session:
        assert (await session.exec(select(Staff.id).where(Staff.role == StaffRole.admin))).all() == []


async def test_signed_in_staff_may_upload_up_to_the_media_limit_and_strangers_only_1_mb(settings, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(create_app(settings.model_copy(update={"media_max_bytes": 3_000_000})))
    big = {"csrf": "x", "blob": "x" * 2_000_000}
    assert (await client.post("/admin/login", data=big, allow_redirects=False)).status == 413
    await add_staff(sessions, "lan", StaffRole.province)
    lan = await sign_in(client, "lan")
    response = await lan.post("/admin/broadcasts/new", {"action": "count", "blob": "x" * 2_000_000})
    assert response.status in (200, 400)
    response = await lan.post("/admin/broadcasts/new", {"action": "count", "blob": "x" * 3_100_000})
    assert response.status == 413
