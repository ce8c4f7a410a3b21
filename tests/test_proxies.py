"""Behind the reverse proxy: X-Forwarded-For, -Proto and -Host are believed from TRUSTED_PROXIES only
(loopback by default, where the test client connects from). Then the visitor's own address counts
in logs, flood control, login throttling and /metrics; cookies are Secure over https; the web chat
accepts its own page's https origin; and no link is ever built from a Host header."""

from __future__ import annotations

import logging
import re
from ipaddress import ip_network

import pytest
from aiohttp import DummyCookieJar
from aiohttp.test_utils import make_mocked_request

from bot.app import create_app
from bot.config import ConfigError, Settings, load_settings
from bot.proxies import client_address, keep_forwarded
from storage.models import StaffRole
from tests.conftest import telegram_settings
from tests.dashboard import COMMUNE, CSRF_FIELD, add_staff, sign_in

VISITOR = "203.0.113.7"
OTHER = "198.51.100.23"
SITE = "caunoi.example.vn"
TLS = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": SITE, "X-Forwarded-For": VISITOR}
LOOPBACK = [ip_network("127.0.0.0/8"), ip_network("::1")]


def untrusting(settings: Settings) -> Settings:
    """Settings whose trusted proxy is elsewhere: the test client's loopback address is a visitor's."""
    return settings.model_copy(update={"trusted_proxies": "10.0.0.0/8"})


def test_trusted_proxies_are_loopback_unless_set_and_a_wrong_entry_is_named() -> None:
    assert Settings(_env_file=None).trusted_networks == (ip_network("127.0.0.0/8"), ip_network("::1"))
    chosen = load_settings(trusted_proxies="10.0.0.5, 192.168.1.0/24,fd00::/8", _env_file=None)
    assert chosen.trusted_networks == (ip_network("10.0.0.5/32"), ip_network("192.168.1.0/24"), ip_network("fd00::/8"))
    assert load_settings(trusted_proxies="", _env_file=None).trusted_networks == ()
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES: 'nginx' is not an IP address or network"):
        load_settings(trusted_proxies="127.0.0.1,nginx", _env_file=None)


def test_the_visitor_is_the_right_most_address_that_is_not_a_trusted_proxy() -> None:
    chain = [ip_network("10.0.0.0/8"), *LOOPBACK]
    assert client_address("127.0.0.1", [VISITOR], LOOPBACK) == VISITOR
    # What the visitor wrote stands to the left of what nginx added: never believed.
    assert client_address("127.0.0.1", [f"{OTHER}, {VISITOR}"], LOOPBACK) == VISITOR
    assert client_address("127.0.0.1", [f"{VISITOR}, 10.0.0.2"], chain) == VISITOR  # a second proxy on the way
    assert client_address("127.0.0.1", [f"{VISITOR}", "10.0.0.2"], chain) == VISITOR  # the header twice
    assert client_address("127.0.0.1", ["127.0.0.9"], LOOPBACK) == "127.0.0.9"  # all proxies: the left-most
    assert client_address("127.0.0.1", [f"{VISITOR}, unknown"], LOOPBACK) == "127.0.0.1"  # a proxy wrote nonsense
    assert client_address("127.0.0.1", [], LOOPBACK) == "127.0.0.1"


def test_a_clone_keeps_the_visitor() -> None:
    request = make_mocked_request("GET", "/admin").clone(remote=VISITOR, scheme="https", host=SITE)
    assert request.clone(client_max_size=5).remote != VISITOR  # why keep_forwarded exists
    kept = keep_forwarded(request, client_max_size=5)
    assert (kept.remote, kept.scheme, kept.host, kept.client_max_size) == (VISITOR, "https", SITE, 5)


async def test_the_web_chat_answers_its_page_behind_tls_with_secure_cookies(settings, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(settings))
    page = await client.get("/chat", headers=TLS)
    assert page.status == 200 and "Secure" in page.headers["Set-Cookie"]
    own = await client.post("/chat/api/messages", json={"text": "/start"}, headers={**TLS, "Origin": f"https://{SITE}"})
    assert own.status == 200, await own.text()
    assert (await own.json())["replies"] and "Secure" in own.headers["Set-Cookie"]
    foreign = await client.post("/chat/api/messages", json={"text": "/start"}, headers={**TLS, "Origin": "https://evil.example"})
    assert foreign.status == 403
    plain = await client.post("/chat/api/messages", json={"text": "/start"}, headers={"Origin": f"http://{SITE}", "Host": SITE})
    assert plain.status == 200 and "Secure" not in plain.headers["Set-Cookie"]


async def test_forwarded_headers_from_an_untrusted_peer_change_nothing(settings, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(untrusting(settings)))
    assert "Secure" not in (await client.get("/chat", headers=TLS)).headers["Set-Cookie"]
    spoofed = await client.post("/chat/api/messages", json={"text": "/start"}, headers={**TLS, "Origin": f"https://{SITE}"})
    assert spoofed.status == 403
    assert (await client.get("/metrics", headers={"X-Forwarded-For": VISITOR})).status == 200  # still this machine


async def test_dashboard_cookies_are_secure_behind_tls(settings, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(settings))
    assert "Secure" in (await client.get("/admin/login", headers=TLS)).headers["Set-Cookie"]
    assert "Secure" not in (await client.get("/admin/login")).headers["Set-Cookie"]


async def failed_login(client, forwarded_for: str) -> int:  # type: ignore[no-untyped-def]
    form = await (await client.get("/admin/login")).text()
    csrf = CSRF_FIELD.search(form)
    assert csrf, form
    response = await client.post("/admin/login", data={"username": "nobody", "password": "wrong", "csrf": csrf[1]},
                                 headers={"X-Forwarded-For": forwarded_for}, allow_redirects=False)
    return response.status


async def test_login_throttling_counts_each_visitor_behind_the_proxy(settings, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(create_app(settings))
    await add_staff(sessions, "lan", StaffRole.province)
    for _ in range(settings.login_pair_limit):
        assert await failed_login(client, VISITOR) == 401
    assert await failed_login(client, VISITOR) == 429
    assert await failed_login(client, f"{OTHER}, {VISITOR}") == 429  # a made-up address in front changes nothing
    assert await failed_login(client, OTHER) == 401  # someone else behind the same proxy may still try
    staff = await sign_in(client, "lan")  # from the proxy's own address, nothing was counted
    assert "lan" in await staff.page("/admin")


async def test_new_web_chat_visitors_are_flood_controlled_per_address(settings, aiohttp_client, caplog) -> None:
    # Posts without the visitor cookie: each one would be a new citizen, out of reach of the per-citizen limit.
    app = create_app(settings.model_copy(update={"flood_burst": 3}))
    client = await aiohttp_client(app, cookie_jar=DummyCookieJar())

    async def post(address: str, **headers: str) -> int:
        response = await client.post("/chat/api/messages", json={"text": "chào"}, headers={"X-Forwarded-For": address, **headers})
        return response.status

    caplog.set_level(logging.INFO, logger="bot.flood")
    assert [await post(VISITOR) for _ in range(4)] == [200, 200, 200, 429]
    assert await post(OTHER) == 200
    assert f"flood: {VISITOR} sends faster" in caplog.text
    first = await client.post("/chat/api/messages", json={"text": "chào"}, headers={"X-Forwarded-For": OTHER})
    token = re.search(r"caunoi_chat=([^;]+)", first.headers["Set-Cookie"])
    assert token
    # A visitor with a cookie is the same citizen each time: only the per-citizen limit applies.
    assert await post(VISITOR, Cookie=f"caunoi_chat={token[1]}") == 200


async def test_logs_name_the_visitor_not_the_proxy(settings, tg, aiohttp_client, caplog) -> None:
    webhook = telegram_settings(settings, tg, telegram_webhook_url="https://bot.example.invalid/webhook/telegram",
                                telegram_webhook_secret="s3cret-Token_1")
    client = await aiohttp_client(create_app(webhook))
    caplog.set_level(logging.WARNING, logger="bot.channels.telegram")
    response = await client.post("/webhook/telegram", json={"update_id": 1},
                                 headers={"X-Telegram-Bot-Api-Secret-Token": "wrong", "X-Forwarded-For": VISITOR})
    assert response.status == 403
    assert f"wrong secret token from {VISITOR}" in caplog.text


async def test_metrics_are_for_this_machine_not_for_visitors_through_the_proxy(settings, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/metrics")).status == 200
    assert (await client.get("/metrics", headers={"X-Forwarded-For": VISITOR})).status == 404


async def test_links_come_from_public_base_url_or_are_relative_never_from_the_host(settings, aiohttp_client, sessions) -> None:
    forged = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    client = await aiohttp_client(create_app(settings))
    home = await (await client.get("/", headers=forged)).text()
    assert "evil.example" not in home and 'href="/chat"' in home
    assert "/qr/web.svg" not in home and (await client.get("/qr/web.svg", headers=forged)).status == 404
    await add_staff(sessions, "lan", StaffRole.province)
    staff = await sign_in(client, "lan")
    poster = await (await staff.get(f"/admin/posters/{COMMUNE}", headers=forged)).text()
    assert "evil.example" not in poster and "chat?start=" not in poster and "PUBLIC_BASE_URL" in poster
    assert (await staff.get(f"/admin/posters/{COMMUNE}.svg?via=web", headers=forged)).status == 404

    public = await aiohttp_client(create_app(settings.model_copy(update={"public_base_url": f"http://{SITE}"})))
    home = await (await public.get("/", headers=forged)).text()
    assert "evil.example" not in home and f"http://{SITE}/chat" in home and 'src="/qr/web.svg"' in home
    assert f"http://{SITE}/chat" in await (await public.get("/qr/web.svg", headers=forged)).text()
    staff = await sign_in(public, "lan")
    poster = await (await staff.get(f"/admin/posters/{COMMUNE}", headers=forged)).text()
    assert "evil.example" not in poster and f"http://{SITE}/chat?start=area_{COMMUNE}" in poster
    assert f"area_{COMMUNE}" in await (await staff.get(f"/admin/posters/{COMMUNE}.svg?via=web", headers=forged)).text()
