"""The web chat page and its JSON endpoint: identity cookie, bad input, security headers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from bot.app import create_app
from bot.channels import telegram, zalo_bot
from bot.features import build_router
from handlers.engine import Engine
from storage.models import Citizen
from tests.channel import InMemoryChannel
from tests.conftest import telegram_settings
from tests.drivers import TelegramDriver, WebChatDriver


async def test_page_renders_in_vietnamese_with_the_deep_link_and_strict_headers(settings, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(settings))
    response = await client.get("/chat?start=area_24175")
    assert response.status == 200
    html = await response.text()
    assert '<html lang="vi">' in html
    assert 'data-start-param="area_24175"' in html
    assert "Hỏi đáp chính sách giảm nghèo và gửi phản ánh" in html
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    cookie = response.cookies["caunoi_chat"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    for asset in ("/chat/static/chat.js", "/chat/static/chat.css"):
        assert (await client.get(asset)).status == 200


async def test_page_in_english_and_hostile_start_parameter_is_dropped(settings, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(settings))
    html = await (await client.get("/chat?lang=en&start=%22%3E%3Cscript%3E")).text()
    assert '<html lang="en">' in html and "<script>" not in html.split("</head>")[1]
    assert 'data-start-param=""' in html


async def test_the_cookie_keeps_the_conversation_and_the_database_holds_only_a_hash(settings, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(create_app(settings))
    await client.post("/chat/api/messages", json={"text": "/start"})
    response = await client.post("/chat/api/messages", json={"action": "consent:yes"})
    data = await response.json()
    assert "ngôn ngữ nào" in data["replies"][-1]["text"]
    token = client.session.cookie_jar.filter_cookies(client.make_url("/chat"))["caunoi_chat"].value
    async with sessions() as session:
        citizen = (await session.exec(select(Citizen))).one()
    assert citizen.channel == "webchat" and token not in citizen.channel_user_id
    assert citizen.consent_at is not None


async def test_two_visitors_are_two_citizens(settings, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(create_app(settings))
    await client.post("/chat/api/messages", json={"text": "/menu"})
    client.session.cookie_jar.clear()
    await client.post("/chat/api/messages", json={"text": "/menu"})
    async with sessions() as session:
        assert len((await session.exec(select(Citizen))).all()) == 2


async def test_bad_requests_get_clear_json_errors(settings, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(settings))
    cases = [
        ({"data": b"{broken", "headers": {"Content-Type": "application/json"}}, 400),
        ({"data": b"text=hi", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 415),
        ({"json": {"text": "   "}}, 400),
        ({"json": {"text": 5}}, 400),
        ({"json": ["list"]}, 400),
        ({"json": {"text": "hi"}, "headers": {"Origin": "https://evil.example"}}, 403),
        ({"data": json.dumps({"text": "a" * 70_000}), "headers": {"Content-Type": "application/json"}}, 413),
    ]
    for kwargs, status in cases:
        response = await client.post("/chat/api/messages", **kwargs)
        assert response.status == status, (kwargs, status)
        assert (await response.json())["error"]


async def test_long_text_is_cut_with_a_note_and_odd_unicode_is_handled(settings, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(settings))
    response = await client.post("/chat/api/messages", json={"text": "x" * 5000})
    replies = (await response.json())["replies"]
    assert "4096" in replies[0]["text"]
    for text in ("\u200b\u200b", "e\u0301a kao", "\x00\x01/menu", "👨‍👩‍👧" * 50, "\u202eabc", "ﷺ" * 10):
        response = await client.post("/chat/api/messages", json={"text": text})
        assert response.status in (200, 400), text
        assert (await response.json()).get("replies") or (await response.json()).get("error")


async def test_healthz_and_home(settings, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(settings))
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "database": "ok", "role": "all", "telegram": "off"}
    home = await client.get("/", allow_redirects=False)
    assert home.status == 200 and 'href="/chat"' in await home.text()  # the public page links the chat


LONG_QUESTION_QUERY = "vay von ngan hang chinh sach"  # a close call offering questions of more than 60 characters
ON = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


async def test_did_you_mean_labels_are_whole_on_the_web_chat_and_zalo_and_cut_only_for_telegram(
    settings, tg, aiohttp_client, sessions, services
) -> None:
    client = await aiohttp_client(create_app(settings, clock=lambda: ON))
    [choices] = await WebChatDriver(client).send(LONG_QUESTION_QUERY)
    questions = {action.removeprefix("faq:show:"): label for label, action in choices.buttons if action.startswith("faq:show:")}
    assert questions and all(services.library.faq(id_).text("vi").question == label for id_, label in questions.items())
    longest = max(questions.values(), key=len)
    assert len(longest) > 60, "the query no longer offers a long question: pick another one"

    zalo = InMemoryChannel(Engine(sessions, build_router(), services, clock=lambda: ON, conversation_ttl=timedelta(hours=1)),
                           channel="zalo_bot", capabilities=zalo_bot.CAPABILITIES)
    [listed] = await zalo.send(LONG_QUESTION_QUERY)
    assert f". {longest}\n" in listed.text, "a numbered list shows the whole question"

    await aiohttp_client(create_app(telegram_settings(settings, tg), clock=lambda: ON))
    citizen = TelegramDriver(tg)
    [offered] = await citizen.send(LONG_QUESTION_QUERY)
    shortened = next(label for label, action in offered.buttons if questions.get(action.removeprefix("faq:show:")) == longest)
    assert len(shortened) <= telegram.BUTTON_LABEL_LIMIT and shortened.endswith("…") and longest.startswith(shortened[:-1])
    await citizen.press(shortened)
    assert "Nguồn:" in citizen.last[-1].text, "the button's action is whole"
