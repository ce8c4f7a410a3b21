"""Hostile and malformed input, fuzzed with hypothesis: random Unicode (combining marks, zero-width
and direction marks, emoji, NUL, lone surrogates), messages past 4,096 characters, every button
payload of the route table (and mangled or stale ones) sent through the engine, the web chat and the
Telegram and Zalo Bot API webhooks; malformed, truncated, huge and mistyped bodies. Nothing may
raise, no webhook may answer 500, and what was stored must render escaped on the dashboard.

Runs are derandomized (reproducible) by default; `FUZZ_PROFILE=explore` draws new random examples
and more of them.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from itertools import count
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from bot import keys
from bot.app import create_app
from bot.config import Settings
from bot.features import build_router
from content.i18n import Catalogs
from content.text import well_formed
from handlers.types import Reply
from storage.models import Staff
from tests.channel import InMemoryChannel
from tests.conftest import telegram_settings
from tests.dashboard import add_staff, sign_in
from tests.drivers import zalo_bot_settings

settings.register_profile(
    "fuzz-ci", max_examples=25, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz-debug", max_examples=25, deadline=None, derandomize=True, database=None, phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz-explore", max_examples=200, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = settings.get_profile(f"fuzz-{os.environ.get('FUZZ_PROFILE', 'ci')}")


def fuzz(examples: int) -> settings:
    """The module's profile with a number of examples (scaled up when exploring)."""
    scale = 8 if os.environ.get("FUZZ_PROFILE") == "explore" else 1
    return settings(PROFILE, max_examples=examples * scale)


TELEGRAM_SECRET = "fuzz-Secret_1"
ZALO_SECRET = "fuzz-Secret_2"
CATALOGS = Catalogs(ZoneInfo("Asia/Ho_Chi_Minh"))
APOLOGY = tuple(CATALOGS.get(locale).gettext("Sorry, something went wrong on our side. Please try again in a moment.")
                for locale in ("vi", "en"))
ROUTER = build_router()
COMMANDS = sorted(ROUTER.commands)
ACTION_KEYS = sorted(ROUTER.actions)

# Characters that break naive code: NUL and controls, zero-width and direction marks, combining
# marks (stacked), emoji sequences, lone surrogates, markup and template syntax, path tricks.
NASTY = [
    "\x00", "\x07", "\x1b[31m", "\r\n", "\t", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad",
    "\u202e", "\u2066", "\u061c", "\u0301\u0301\u0301\u0323", "a\u0308\u0308", "ắ", "Đắk Lắk", "🇻🇳",
    "👨\u200d👩\u200d👧", "🏽", "𝕏", "\ud800", "\udfff", "\U0010ffff", "\ufffe", "ﷺ", "مرحبا", "עברית",
    "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "</textarea><svg onload=alert(1)>",
    "{{7*7}}", "{0}", "%s%n", "' OR 1=1 --", "/start", "/start area_", "/start area_99999", "/tracuu ",
    "PA-", "PA-AAAAAA", "../../etc/passwd", "javascript:alert(1)", "1", "2", "0", "-1", "99",
    "chuẩn nghèo", "ho can ngheo la gi", "ko dc j", " ", "\n\n\n",
]
CHARACTERS = st.characters(exclude_categories=[])  # every code point, surrogates included
PIECE = st.one_of(st.sampled_from(NASTY), st.sampled_from(NASTY), st.text(CHARACTERS, max_size=12))
SHORT_TEXT = st.lists(PIECE, min_size=1, max_size=8).map("".join)
LONG_TEXT = st.builds(lambda size, piece: (piece * (size // max(len(piece), 1) + 1))[:size],
                      st.integers(4_000, 9_000), st.sampled_from(["Đắk Lắk 🇻🇳 ", "a\u0301", "x", "<b>ở</b> "]))
TEXT = st.one_of(SHORT_TEXT, SHORT_TEXT, SHORT_TEXT, LONG_TEXT)
# Telegram's own JSON is well-formed UTF-8: names it echoes back cannot hold lone surrogates.
NAME = SHORT_TEXT.map(well_formed)
ARGUMENT = st.one_of(
    st.sampled_from(["", "0", "1", "-1", "24175", "24169", "99999999999999999999999", "complaint", "question",
                     "other", "yes", "no", "vi", "en", "poor", "near_poor", "done", "skip", "named", "anonymous",
                     "submit", "cancel", "kind", "topic", "area", "PA-AAAAAA", "x" * 80, "None", "null"]),
    SHORT_TEXT,
)
ACTION = st.builds(lambda key, args: ":".join([key, *args]), st.sampled_from(ACTION_KEYS), st.lists(ARGUMENT, max_size=3))
MANGLED = st.one_of(
    ACTION.map(lambda action: action[: len(action) // 2]),
    ACTION.map(lambda action: action + ":"),
    ACTION.map(lambda action: ":" + action),
    ACTION.map(lambda action: action.upper()),
    SHORT_TEXT,
)
COMMAND = st.builds(lambda name, arg: f"/{name} {arg}".rstrip(), st.sampled_from(COMMANDS), st.one_of(st.just(""), SHORT_TEXT))
STEP = st.one_of(
    st.tuples(st.just("press"), st.integers(0, 30)),
    st.tuples(st.just("press"), st.integers(0, 30)),
    st.tuples(st.just("press"), st.integers(0, 30)),
    st.tuples(st.just("text"), TEXT),
    st.tuples(st.just("text"), COMMAND),
    st.tuples(st.just("action"), ACTION),
    st.tuples(st.just("action"), MANGLED),
)
# Any JSON value, to send where an update or a chat message is expected.
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | SHORT_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(
        ["text", "action", "message", "update_id", "callback_query", "from", "chat", "id", "data", "event_name",
         "result", "ok", "caption", "photo", "photo_url", "date", "message_id", "type", "is_bot", "first_name"]
    ) | SHORT_TEXT, inner, max_size=5),
    max_leaves=12,
)
JSON_TYPE = {"Content-Type": "application/json"}
CONTENT_TYPES = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                 "application/xml", "", "application/json; charset=latin-1"]


@pytest.fixture(name="settings")
def calm_settings(settings: Settings) -> Settings:
    """Flood control off: the fuzzer sends far faster than a person, and every answer is checked."""
    return settings.model_copy(update={"flood_burst": 0})


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Log records at ERROR and above (an unhandled exception anywhere is logged as one)."""
    with caplog.at_level(logging.WARNING):
        yield caplog


def fresh_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Messages of the ERROR records logged since the last call; clears them."""
    found = [f"{record.name}: {record.getMessage()}\n{record.exc_text or ''}"
             for record in caplog.records if record.levelno >= logging.ERROR]
    caplog.clear()
    return found


def check_replies(replies: list[Reply]) -> None:
    """Replies every channel can send: a text, labelled buttons, Telegram-sized button data."""
    for reply in replies:
        assert isinstance(reply.text, str) and reply.text.strip(), replies
        assert not any(apology in reply.text for apology in APOLOGY), reply.text
        for button in reply.all_buttons():
            assert button.label.strip(), reply
            assert 1 <= len(button.action.encode("utf-8")) <= 64, button


ids = count(1)


WALK = ([("text", "/start"), ("press", 0), ("press", 0), ("press", 0), ("text", "ea kao"), ("press", 0), ("press", 0),
         ("text", "/phananh"), ("press", 3), ("press", 0), ("text", "x\ud800" * 3000), ("press", 0), ("press", 0),
         ("press", 0), ("press", 0), ("press", 0)])


@given(steps=st.lists(STEP, min_size=1, max_size=12), name=st.one_of(st.none(), SHORT_TEXT))
@example(steps=[("text", f"hộ nghèo {nasty} là gì xyz") for nasty in NASTY], name=None)
@example(steps=WALK, name="Nguyễn Văn A")
@example(steps=WALK, name="\ud83d\u200b<b>A\u0000")
@fuzz(150)
async def test_engine_survives_hostile_conversations(engine, errors, steps, name) -> None:
    """Random walks through the conversations: typed garbage, commands, route-table payloads,
    mangled payloads and presses of whatever buttons were last offered; any sender's name."""
    citizen = InMemoryChannel(engine, user_id=f"fuzz-{next(ids)}", display_name=name)
    for kind, value in steps:
        if kind == "press":
            offered = [button.action for reply in citizen.last for button in reply.all_buttons()]
            replies = await (citizen.act(offered[value % len(offered)]) if offered else citizen.send("/menu"))
        elif kind == "text":
            replies = await citizen.send(value)
        else:
            replies = await citizen.act(value)
        check_replies(replies)
    assert fresh_errors(errors) == []


# ------------------------------------------------------------------------------------ web chat


@pytest.fixture
async def webchat(settings, aiohttp_client):  # type: ignore[no-untyped-def]
    """The whole app with the web chat (the client keeps the visitor's cookie)."""
    client = await aiohttp_client(create_app(settings))
    await (await client.get("/chat")).release()
    return client


@given(body=st.one_of(
    st.builds(lambda text: {"text": text}, TEXT),
    st.builds(lambda action: {"action": action}, st.one_of(ACTION, MANGLED, SHORT_TEXT)),
    st.builds(lambda text, action: {"text": text, "action": action}, SHORT_TEXT, ACTION),
    JSON,
))
@fuzz(60)
async def test_webchat_answers_any_json_without_a_server_error(webchat, errors, body) -> None:
    response = await webchat.post("/chat/api/messages", data=json.dumps(body), headers=JSON_TYPE)
    assert response.status in (200, 400), (response.status, await response.text())
    data = await response.json()
    if response.status == 200:
        assert data["replies"] and all(reply["text"] for reply in data["replies"])
        assert not any(apology in reply["text"] for reply in data["replies"] for apology in APOLOGY)
    assert fresh_errors(errors) == []


@given(raw=st.one_of(
    st.binary(max_size=200),
    st.builds(lambda text, cut: json.dumps({"text": text})[:cut], SHORT_TEXT, st.integers(0, 40)),
), content_type=st.sampled_from(["application/json", *CONTENT_TYPES]))
@fuzz(40)
async def test_webchat_refuses_malformed_bodies_and_wrong_content_types(webchat, errors, raw, content_type) -> None:
    response = await webchat.post("/chat/api/messages", data=raw, headers={"Content-Type": content_type})
    assert 200 <= response.status < 500, response.status
    if content_type.startswith("multipart/"):
        assert response.status == 403  # files come only from the chat page, with its header
    elif content_type.partition(";")[0] != "application/json":
        assert response.status == 415
    for path in ("/chat/api/messages", "/chat/api/updates"):
        updates = await webchat.post(path, data=raw, headers={"Content-Type": content_type})
        assert updates.status < 500, (path, updates.status)
    assert fresh_errors(errors) == []


PART = st.tuples(
    st.sampled_from(["photo", "voice", "file", ""]),
    st.one_of(st.binary(max_size=300), st.sampled_from([b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"OggS", b"\x1a\x45\xdf\xa3webm"]).flatmap(
        lambda magic: st.binary(max_size=200).map(lambda rest: magic + rest))),
)


@given(parts=st.lists(PART, max_size=7), cut=st.one_of(st.none(), st.integers(0, 400)))
@fuzz(40)
async def test_webchat_uploads_of_any_shape_never_fail_and_leave_nothing_waiting(webchat, errors, settings, parts, cut) -> None:
    boundary = "fuzz-boundary"
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="f"\r\n\r\n'.encode() + data + b"\r\n"
        for name, data in parts
    ) + f"--{boundary}--\r\n".encode()
    response = await webchat.post("/chat/api/messages", data=body[:cut] if cut is not None else body, headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}", "X-Requested-With": "fetch"})
    assert response.status in (200, 400, 413), (response.status, await response.text())
    data = await response.json()
    assert data.get("replies") or data.get("error")
    assert not list((settings.data_dir / "media" / "incoming").glob("*/*")), "an upload left files waiting"
    assert fresh_errors(errors) == []


# A value of the wrong kind for any field: null, booleans, numbers past every range, strings huge or
# odd, lists and nested objects.
HOSTILE = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from([0, -1, 2**63, 2**64, 10**400, -(10**400)]),
    st.floats(), st.sampled_from(["", " ", "\x00", "\ud800", "\ufeff\u202e", "1", "[]", "null"]),
    SHORT_TEXT, st.builds(lambda n: "Đắk Lắk 🇻🇳\u0301" * n, st.integers(1_000, 4_000)),
    st.lists(JSON, max_size=4), st.dictionaries(SHORT_TEXT, JSON, max_size=4), JSON,
)
CHAT_FIELDS = {  # endpoint -> a valid body and the paths of its fields (a path through nested objects)
    "/chat/api/messages": [({"text": "hộ nghèo là gì"}, ("text",)), ({"action": "menu"}, ("action",)),
                           ({"location": {"latitude": 12.7, "longitude": 108.0}}, ("location",)),
                           ({"location": {"latitude": 12.7, "longitude": 108.0}}, ("location", "latitude")),
                           ({"location": {"latitude": 12.7, "longitude": 108.0}}, ("location", "longitude"))],
    "/chat/api/updates": [({"ack": [1, 2]}, ("ack",)), ({"ack": [1, 2]}, ("ack", 0))],
}
FIELD_CASES = [(path, body, field) for path, cases in CHAT_FIELDS.items() for body, field in cases]


def with_value(body: dict, field: tuple, value: object) -> dict:
    """A deep copy of `body` with the value at `field` replaced."""
    body = json.loads(json.dumps(body))
    holder = body
    for step in field[:-1]:
        holder = holder[step]
    holder[field[-1]] = value
    return body


@pytest.mark.parametrize(("path", "valid", "field"), FIELD_CASES, ids=lambda value: "/".join(map(str, value)) if isinstance(value, tuple) else None)
@given(value=HOSTILE)
@example(value=None)
@example(value=10**400)
@fuzz(30)
async def test_every_web_chat_api_field_of_any_type_is_a_4xx_never_a_500(webchat, errors, path, valid, field, value) -> None:
    """Each field of each /chat/api endpoint, given a value of any kind: 200 when it fits, 400 (413 when huge) otherwise."""
    response = await webchat.post(path, data=json.dumps(with_value(valid, field, value)), headers=JSON_TYPE)
    assert response.status in (200, 400, 413), (response.status, await response.text())  # 413: past 64 KB
    assert (await response.json()).get("replies" if response.status == 200 else "error") is not None
    assert fresh_errors(errors) == []


async def test_web_chat_api_answers_400_for_mistyped_fields(webchat, errors) -> None:
    for path, body in [("/chat/api/updates", {"ack": None}), ("/chat/api/updates", {"ack": 3}),
                       ("/chat/api/updates", {"ack": [True]}), ("/chat/api/updates", {"ack": ["1"]}),
                       ("/chat/api/updates", {"ack": [{"id": 1}]}), ("/chat/api/updates", []),
                       ("/chat/api/messages", {"text": None}), ("/chat/api/messages", {"text": 5, "action": "menu"}),
                       ("/chat/api/messages", {"action": ["menu"]}),
                       ("/chat/api/messages", {"location": {"latitude": 10**400, "longitude": 1}})]:
        response = await webchat.post(path, data=json.dumps(body), headers=JSON_TYPE)
        assert response.status == 400, (path, body, response.status)
        assert "error" in await response.json()
    for path in CHAT_FIELDS:
        nested = await webchat.post(path, data="[" * 40_000, headers=JSON_TYPE)
        assert nested.status == 400, path
    assert (await webchat.post("/chat/api/updates", data=json.dumps({"ack": [1, 2]}), headers=JSON_TYPE)).status == 200
    assert (await webchat.post("/chat/api/updates", data=b"", headers=JSON_TYPE)).status == 200
    assert fresh_errors(errors) == []


async def test_webchat_huge_bodies_and_wrong_methods(webchat, errors) -> None:
    big = json.dumps({"text": "Đắk Lắk " * 20_000})
    assert (await webchat.post("/chat/api/messages", data=big, headers={"Content-Type": "application/json"})).status == 413
    huge = b'{"text": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    assert (await webchat.post("/chat/api/messages", data=huge, headers={"Content-Type": "application/json"})).status == 413

    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"text": "'
        for _ in range(40):
            yield b"x" * 4096
        yield b'"}'

    chunked = await webchat.post("/chat/api/messages", data=chunks(), headers={"Content-Type": "application/json"})
    assert chunked.status == 413  # no Content-Length: the body is measured as it comes
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        assert (await webchat.request(method, "/chat/api/messages")).status == 405
    assert fresh_errors(errors) == []


# ------------------------------------------------------------------------------------ Telegram webhook


def telegram_webhook_settings(settings: Settings, tg) -> Settings:  # type: ignore[no-untyped-def]
    """`settings` with Telegram in webhook mode on the fake Bot API server."""
    return telegram_settings(settings, tg, telegram_webhook_url="https://bot.example.invalid/webhook/telegram",
                             telegram_webhook_secret=TELEGRAM_SECRET)


@pytest.fixture
async def telegram(settings, tg, aiohttp_client):  # type: ignore[no-untyped-def]
    """The whole app with Telegram in webhook mode on the fake Bot API server."""
    return await aiohttp_client(create_app(telegram_webhook_settings(settings, tg)))


TELEGRAM_HEADERS = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
telegram_users = count(900_001)


@given(text=TEXT, name=NAME, language=st.one_of(st.none(), SHORT_TEXT), press=st.one_of(ACTION, MANGLED))
@fuzz(40)
async def test_telegram_webhook_handles_hostile_messages_and_button_data(telegram, tg, errors, text, name, language, press) -> None:
    user = next(telegram_users)
    message = tg.make_message_update(user, text, first_name=name or "x")
    message["message"]["from"]["language_code"] = language
    response = await telegram.post("/webhook/telegram", json=message, headers=TELEGRAM_HEADERS)
    assert response.status == 200, await response.text()
    callback = tg.make_callback_update(user, press, check_button=False)
    response = await telegram.post("/webhook/telegram", json=callback, headers=TELEGRAM_HEADERS)
    assert response.status == 200, await response.text()
    sent = tg.messages_to(user)
    assert sent and not any(apology in (s.text or "") for s in sent for apology in APOLOGY)
    assert fresh_errors(errors) == []


@given(body=st.one_of(
    JSON,
    st.builds(lambda message: {"update_id": 1, "message": message}, JSON),
    st.builds(lambda query: {"update_id": 2, "callback_query": query}, JSON),
    st.builds(lambda data: {"update_id": 3, "callback_query": {"id": "1", "from": {"id": 5, "is_bot": False, "first_name": "a"},
                                                               "chat_instance": "1", "data": data}}, JSON),
))
@fuzz(60)
@example(body={"update_id": 2, "callback_query": -1})
async def test_telegram_webhook_answers_4xx_for_malformed_updates(telegram, errors, body) -> None:
    response = await telegram.post("/webhook/telegram", data=json.dumps(body), headers={**TELEGRAM_HEADERS, **JSON_TYPE})
    assert response.status in (200, 400), (response.status, body)
    assert fresh_errors(errors) == []


@given(raw=st.one_of(st.binary(max_size=200), st.builds(
    lambda cut: json.dumps({"update_id": 9, "message": {"message_id": 1, "date": 0, "text": "hi",
                                                        "chat": {"id": 5, "type": "private"}}})[:cut],
    st.integers(0, 90),
)), content_type=st.sampled_from(["application/json", *CONTENT_TYPES]))
@fuzz(40)
@example(raw=b"0", content_type="application/json")
async def test_telegram_webhook_refuses_truncated_and_mistyped_bodies(telegram, errors, raw, content_type) -> None:
    response = await telegram.post("/webhook/telegram", data=raw, headers={**TELEGRAM_HEADERS, "Content-Type": content_type})
    assert 200 <= response.status < 500, response.status
    assert fresh_errors(errors) == []


# ------------------------------------------------------------------------------------ Zalo Bot API webhook


def zalo_webhook_settings(settings: Settings, zalo) -> Settings:  # type: ignore[no-untyped-def]
    """`settings` with the Zalo Bot API channel in webhook mode on the fake server."""
    return zalo_bot_settings(settings, zalo, zalo_bot_webhook_url="https://bot.example.invalid/webhook/zalo-bot",
                             zalo_bot_webhook_secret=ZALO_SECRET)


@pytest.fixture
async def zalo_webhook(settings, zalo, aiohttp_client):  # type: ignore[no-untyped-def]
    """The whole app with the Zalo Bot API channel in webhook mode."""
    return await aiohttp_client(create_app(zalo_webhook_settings(settings, zalo)))


ZALO_HEADERS = {"X-Bot-Api-Secret-Token": ZALO_SECRET}
zalo_users = count(1)


KNOWN_EVENTS = ("message.text.received", "message.image.received", "message.sticker.received", "message.unsupported.received")


@given(text=TEXT, name=st.one_of(st.none(), SHORT_TEXT), event=st.sampled_from([*KNOWN_EVENTS, "message.link.received", ""]))
@fuzz(40)
async def test_zalo_webhook_handles_hostile_messages(zalo_webhook, zalo, errors, text, name, event) -> None:
    user = f"zalo-fuzz-{next(zalo_users)}"
    update = zalo.make_update(event, user, text=text)
    update["message"]["from"]["display_name"] = name
    response = await zalo_webhook.post("/webhook/zalo-bot", json=update, headers=ZALO_HEADERS)
    assert response.status in (200, 400), await response.text()
    await zalo_webhook.app[keys.CHANNELS]["zalo_bot"].inbox.idle()  # answered once stored: handled from the inbox
    if response.status == 200 and event in KNOWN_EVENTS:
        assert zalo.messages_to(user)
    assert not any(apology in (s.text or "") for s in zalo.messages_to(user) for apology in APOLOGY)
    assert fresh_errors(errors) == []


@given(body=st.one_of(
    JSON,
    st.builds(lambda message: {"event_name": "message.text.received", "message": message}, JSON),
    st.builds(lambda result: {"ok": True, "result": result}, JSON),
), raw=st.one_of(st.none(), st.binary(max_size=120)), content_type=st.sampled_from(["application/json", *CONTENT_TYPES]))
@fuzz(60)
async def test_zalo_webhook_answers_4xx_for_malformed_updates(zalo_webhook, errors, body, raw, content_type) -> None:
    response = await zalo_webhook.post("/webhook/zalo-bot", data=json.dumps(body), headers={**ZALO_HEADERS, **JSON_TYPE})
    assert response.status in (200, 400), (response.status, body)
    if raw is not None:
        response = await zalo_webhook.post("/webhook/zalo-bot", data=raw, headers={**ZALO_HEADERS, "Content-Type": content_type})
        assert 200 <= response.status < 500, response.status
    assert fresh_errors(errors) == []


@pytest.mark.parametrize("path,headers", [("/webhook/telegram", TELEGRAM_HEADERS), ("/webhook/zalo-bot", ZALO_HEADERS)])
async def test_webhooks_refuse_huge_bodies_and_wrong_methods(settings, tg, zalo, aiohttp_client, errors, path, headers) -> None:
    client = await aiohttp_client(create_app(zalo_webhook_settings(telegram_webhook_settings(settings, tg), zalo)))
    huge = b'{"update_id": 1, "message": {"text": "' + b"a" * (2 * 1024 * 1024) + b'"}}'
    response = await client.post(path, data=huge, headers={**headers, "Content-Type": "application/json"})
    assert response.status == 413
    for method in ("GET", "PUT", "DELETE"):
        assert (await client.request(method, path, headers=headers)).status == 405
    assert fresh_errors(errors) == []


# ------------------------------------------------------------------------------------ dashboard


class MarkupFinder(HTMLParser):
    """Collects what only unescaped input could add to a page: inline scripts, event handler
    attributes, javascript: links, and the elements the payloads below try to open."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and not (values.get("src") or "").startswith("/admin/static/"):
            self.found.append(f"<script {attrs}>")
        if tag == "img" and values.get("src") == "x":
            self.found.append(f"<img {attrs}>")
        for name, value in attrs:
            link = name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith("javascript:")
            if name.startswith("on") or link:
                self.found.append(f"<{tag} {name}={value!r}>")


def assert_escaped(html: str, where: str) -> None:
    """No markup a citizen typed made it into the page unescaped."""
    finder = MarkupFinder()
    finder.feed(html)
    assert finder.found == [], where


INJECTION = st.sampled_from([
    "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "</textarea><svg onload=alert(1)>",
    "<scr\u200bipt>alert(1)</script>", "javascript:alert(1)", "{{7*7}}",
])
dashboard_users = count(800_001)


@given(name=st.builds(lambda a, b: a + b, INJECTION, NAME), body=st.builds(lambda a, b: a + b, INJECTION, TEXT),
       question=st.builds(lambda a, b: a + " " + b, INJECTION, SHORT_TEXT))
@fuzz(15)
async def test_what_citizens_send_renders_escaped_on_the_dashboard(telegram, tg, sessions, errors, name, body, question) -> None:
    """A report and an unanswered question full of markup, sent through the Telegram webhook, then
    the inbox (also searched for it), the ticket and the unanswered questions as an admin."""
    user = next(dashboard_users)

    async def say(update: dict) -> None:
        response = await telegram.post("/webhook/telegram", json=update, headers=TELEGRAM_HEADERS)
        assert response.status == 200

    await say(tg.make_message_update(user, question, first_name=name))
    await say(tg.make_message_update(user, "/phananh", first_name=name))
    for action in ("fb:kind:complaint", "fb:topic:other"):
        await say(tg.make_callback_update(user, action, check_button=False))
    await say(tg.make_message_update(user, body, first_name=name))
    for action in ("fb:photos:done", "fb:location:skip", "fb:area:24175", "fb:identity:named", "fb:submit"):
        await say(tg.make_callback_update(user, action, check_button=False))
    code = re.search(r"PA-[A-Z0-9]{6}", tg.messages_to(user)[-1].text or "")
    assert code, [s.text for s in tg.messages_to(user)[-3:]]

    async with sessions() as session:
        known = (await session.exec(select(Staff).where(Staff.username == "fuzzadmin"))).first()
    if known is None:
        await add_staff(sessions, "fuzzadmin", "admin")
    admin = await sign_in(telegram, "fuzzadmin")
    for path in ("/admin/inbox", f"/admin/inbox?q={code.group()}", f"/admin/tickets/{code.group()}", "/admin/unanswered"):
        assert_escaped(await admin.page(path), path)
    search = await admin.get("/admin/inbox", params={"q": body[:200]})
    assert search.status == 200
    assert_escaped(await search.text(), "inbox search")
    assert fresh_errors(errors) == []
