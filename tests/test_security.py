"""Security checks: session fixation, forged webhook secrets, media links that cannot be guessed,
forged or kept past their expiry, and no secret in the logs of a whole run.

Every `/admin` route refusing anonymous visitors, area scoping (IDOR) and CSRF are covered by
tests/test_dashboard_access.py; password lockout by tests of the dashboard's sign-in.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import aiohttp
from aiohttp.test_utils import TestClient
from sqlmodel import select

from bot import keys
from bot.app import create_app
from bot.dashboard.web import SESSION_COOKIE
from bot.logs import QUIET, setup_logging
from bot.media_links import MediaLinks
from handlers.engine import utc_now
from storage.models import Citizen
from tests.conftest import telegram_settings
from tests.dashboard import CSRF_FIELD, add_staff, sign_in
from tests.drivers import zalo_bot_settings

TELEGRAM_SECRET = "tg-Webhook_Secret-7f3a9c"
ZALO_SECRET = "zalo-Webhook_Secret-2b8e1d"
ADMIN_PASSWORD = "Adm1n-Pass-never-logged-91"
STAFF_PASSWORD = "Staff-Pass-never-logged-37"
JPEG = b"\xff\xd8\xff\xe0" + b"photo" * 100


def webhook_settings(settings, tg, zalo, **extra):  # type: ignore[no-untyped-def]
    """Telegram and the Zalo Bot API both in webhook mode, on the fakes."""
    return zalo_bot_settings(telegram_settings(
        settings, tg, telegram_webhook_url="https://bot.example.invalid/webhook/telegram",
        telegram_webhook_secret=TELEGRAM_SECRET,
    ), zalo, zalo_bot_webhook_url="https://bot.example.invalid/webhook/zalo-bot", zalo_bot_webhook_secret=ZALO_SECRET,
        **extra)


# ------------------------------------------------------------------------------------ sessions


async def test_session_fixation_a_cookie_set_before_login_is_replaced_and_never_accepted(settings, sessions, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(settings))
    await add_staff(sessions, "canbo", "province")
    planted = "attacker-chosen-session-value-0123456789"
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: planted})
    staff = await sign_in(client, "canbo")
    issued = re.search(rf"{SESSION_COOKIE}=([^;]+)", staff.set_cookie)
    assert issued and issued[1] != planted and len(issued[1]) >= 32

    async with browser(client) as other:
        other.cookie_jar.update_cookies({SESSION_COOKIE: planted})
        refused = await other.get("/admin", allow_redirects=False)
        assert refused.status in (302, 303) and "/admin/login" in refused.headers["Location"]

    again = await sign_in(client, "canbo")  # a second sign-in gets yet another session id
    second = re.search(rf"{SESSION_COOKIE}=([^;]+)", again.set_cookie)
    assert second and second[1] != issued[1]
    await again.post("/admin/logout")
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: second[1]})
    after_logout = await client.get("/admin", allow_redirects=False)
    assert after_logout.status in (302, 303)


@asynccontextmanager
async def browser(client: TestClient) -> AsyncIterator[aiohttp.ClientSession]:
    """A second browser on the same server, with its own cookies."""
    async with aiohttp.ClientSession(base_url=str(client.make_url("/")), cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


# ------------------------------------------------------------------------------------ webhooks


FORGED = ["", "wrong", TELEGRAM_SECRET[:-1], TELEGRAM_SECRET + "x", TELEGRAM_SECRET.upper(), ZALO_SECRET, TELEGRAM_SECRET + " x"]


async def test_forged_webhook_secrets_are_refused_and_nothing_is_handled(settings, tg, zalo, sessions, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(webhook_settings(settings, tg, zalo)))
    for forged in FORGED:
        headers = {"X-Telegram-Bot-Api-Secret-Token": forged} if forged else {}
        response = await client.post("/webhook/telegram", json=tg.make_message_update(31, "/start"), headers=headers)
        assert response.status == 403, forged
    for forged in ["", "wrong", ZALO_SECRET[:-1], ZALO_SECRET + "x", ZALO_SECRET.lower(), TELEGRAM_SECRET, ZALO_SECRET + " x"]:
        headers = {"X-Bot-Api-Secret-Token": forged} if forged else {}
        update = zalo.make_update("message.text.received", "zalo-31", text="/start")
        response = await client.post("/webhook/zalo-bot", json=update, headers=headers)
        assert response.status == 403, forged
    assert tg.messages_to(31) == [] and zalo.messages_to("zalo-31") == []
    async with sessions() as session:
        assert (await session.exec(select(Citizen))).all() == []
    # the right secrets still work
    ok = await client.post("/webhook/telegram", json=tg.make_message_update(31, "/start"),
                           headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
    assert ok.status == 200 and tg.messages_to(31)


# ------------------------------------------------------------------------------------ media links


async def test_media_links_are_unguessable_signed_and_expire(settings, aiohttp_client) -> None:
    photo = settings.data_dir / "media" / "2026" / "12" / "a.jpg"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(JPEG)
    (settings.data_dir / "media" / "note.txt").write_text("not a photo")
    now = utc_now()
    client = await aiohttp_client(create_app(settings.model_copy(update={"public_base_url": "https://bot.example.invalid"}),
                                             clock=lambda: now))
    links = client.app[keys.MEDIA_LINKS]
    url = links.url_for("media/2026/12/a.jpg", now)
    token = url.rsplit("/", 1)[1]
    served = await client.get(f"/media/{token}")
    assert served.status == 200 and await served.read() == JPEG

    body, _, signature = token.partition(".")
    assert len(signature) >= 26  # 160 bits of HMAC-SHA256: not guessable
    other_key = MediaLinks("another-secret-key", settings.data_dir, "https://bot.example.invalid")
    expired = links.token("media/2026/12/a.jpg", now - timedelta(seconds=1))
    forged = [
        other_key.token("media/2026/12/a.jpg", now + timedelta(hours=1)),  # signed with another key
        f"{body}.{'A' * len(signature)}",  # a made-up signature
        f"{links.token('media/2026/12/a.jpg', now + timedelta(days=365)).split('.')[0]}.{signature}",  # extended expiry
        links.token("../secret_key", now + timedelta(hours=1)),  # signed, but outside the photos
        links.token("media/note.txt", now + timedelta(hours=1)),
        expired, "", ".", "x" * 500, token[:-1], f"{body}.",
    ]
    for bad in forged:
        response = await client.get(f"/media/{bad}") if bad else await client.get("/media/")
        assert response.status in (403, 404), bad
    assert links.resolve(token, now + timedelta(hours=25)) is None  # a link lasts 24 hours


# ------------------------------------------------------------------------------------ logs


async def test_no_secret_reaches_the_logs_of_a_whole_run(settings, tg, zalo, sessions, aiohttp_client) -> None:
    """A conversation on every channel, a failed and two good sign-ins, a notice sent to citizens,
    all logged at DEBUG the way `python -m bot run` sets logging up."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, {name: logging.getLogger(name).level for name in QUIET})
    setup_logging("DEBUG")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s %(exc_text)s"))
    root.addHandler(handler)
    try:
        app_settings = webhook_settings(settings, tg, zalo, admin_password=ADMIN_PASSWORD, quiet_hours="")
        client = await aiohttp_client(create_app(app_settings))
        cookies = await _whole_run(client, tg, zalo, sessions)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)
    logged = stream.getvalue()
    assert "DEBUG" in logged and "webhook" in logged.lower()  # the capture worked
    secrets = {
        "Telegram bot token": app_settings.telegram_bot_token.get_secret_value(),
        "Telegram bot token's key": app_settings.telegram_bot_token.get_secret_value().split(":", 1)[1],
        "Telegram webhook secret": TELEGRAM_SECRET,
        "Zalo bot token": app_settings.zalo_bot_token.get_secret_value(),
        "Zalo webhook secret": ZALO_SECRET,
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "staff password": STAFF_PASSWORD,
        "SECRET_KEY": app_settings.secret_key.get_secret_value(),
        **{f"session cookie {n}": cookie for n, cookie in enumerate(cookies)},
    }
    leaked = {name: value for name, value in secrets.items() if value and value in logged}
    assert leaked == {}, [line for line in logged.splitlines() if any(v in line for v in leaked.values())][:5]


async def _whole_run(client, tg, zalo, sessions) -> list[str]:  # type: ignore[no-untyped-def]
    """Drive the app; the session cookies it issued."""
    telegram = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
    user = 41
    for text in ("/start",):
        assert (await client.post("/webhook/telegram", json=tg.make_message_update(user, text), headers=telegram)).status == 200
    for action in ("consent:yes", "lang:vi"):
        await client.post("/webhook/telegram", json=tg.make_callback_update(user, action, check_button=False), headers=telegram)
    await client.post("/webhook/telegram", json=tg.make_message_update(user, "ea kao"), headers=telegram)
    for action in ("area:24169", "household:poor"):
        await client.post("/webhook/telegram", json=tg.make_callback_update(user, action, check_button=False), headers=telegram)
    await client.post("/webhook/telegram", json=tg.make_message_update(user, "/dangky"), headers=telegram)
    await client.post("/webhook/telegram", json=tg.make_message_update(user, "chuẩn nghèo là bao nhiêu"), headers=telegram)
    await client.post("/webhook/telegram", json=tg.make_message_update(user, "/phananh"), headers=telegram)
    for action in ("fb:kind:question", "fb:topic:other"):
        await client.post("/webhook/telegram", json=tg.make_callback_update(user, action, check_button=False), headers=telegram)
    await client.post("/webhook/telegram", json=tg.make_message_update(user, "Khi nào xã rà soát hộ nghèo?"), headers=telegram)
    for action in ("fb:photos:done", "fb:location:skip", "fb:area:24169", "fb:identity:named", "fb:submit"):
        await client.post("/webhook/telegram", json=tg.make_callback_update(user, action, check_button=False), headers=telegram)
    zalo_update = zalo.make_update("message.text.received", "zalo-41", text="/start")
    assert (await client.post("/webhook/zalo-bot", json=zalo_update, headers={"X-Bot-Api-Secret-Token": ZALO_SECRET})).status == 200
    await (await client.get("/chat")).release()
    await client.post("/chat/api/messages", json={"text": "xin chào"})

    form = await (await client.get("/admin/login")).text()
    csrf = CSRF_FIELD.search(form)
    assert csrf
    failed = await client.post("/admin/login", data={"username": "admin", "password": ADMIN_PASSWORD + "-typo", "csrf": csrf[1]},
                               allow_redirects=False)
    assert failed.status == 401
    admin = await sign_in(client, "admin", ADMIN_PASSWORD)
    await add_staff(sessions, "canbo.eakao", "commune", "24169", password=STAFF_PASSWORD)
    async with browser(client) as other:
        officer = await sign_in(other, "canbo.eakao", STAFF_PASSWORD)
        await officer.page("/admin/inbox")
    notice = {"text_vi": "Họp dân lúc 8 giờ sáng Chủ nhật.", "action": "send", "when": "now", "area": "24169"}
    created = await admin.post("/admin/broadcasts/new", notice)
    assert created.status == 303, await created.text()
    await _wait_for_notice(tg, user)
    cookies = [re.search(rf"{SESSION_COOKIE}=([^;]+)", staff.set_cookie)[1] for staff in (admin, officer)]  # type: ignore[index]
    return [*cookies, admin.csrf, officer.csrf]


async def _wait_for_notice(tg, user: int) -> None:  # type: ignore[no-untyped-def]
    """Wait until the notice reached the citizen (the scheduler queues it, the sender sends it)."""
    for _ in range(300):
        if any("Họp dân" in (sent.text or "") for sent in tg.messages_to(user)):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the notice never arrived")
