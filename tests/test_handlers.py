"""The channel-agnostic core: routing, numbered fallbacks, text splitting, layer boundaries."""

from __future__ import annotations

import dataclasses

import ast
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.features import FEATURES, build_router
from handlers.render import number_choices, split_text
from handlers.router import Routes, Router, choice_for, parse_command
from handlers.types import Button, Capabilities, Reply
from tests.channel import InMemoryChannel

ROOT = Path(__file__).resolve().parent.parent
PLATFORM_MODULES = {"telegram", "aiohttp", "aiohttp_jinja2", "jinja2", "httpx"}


@pytest.mark.parametrize("package", ["handlers", "content", "storage"])
def test_core_layers_never_import_a_platform_or_the_runtime(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top not in PLATFORM_MODULES | {"bot"}, f"{path.relative_to(ROOT)} imports {name}"


def test_routes_compose_without_clashes_and_a_clash_is_refused() -> None:
    router = build_router()
    assert {"start", "menu", "help", "trogiup", "huy", "cancel", "caidat", "settings", "dangky", "subscribe",
            "huydangky", "unsubscribe", "xoadulieu", "deletemydata"} <= set(router.commands)
    with pytest.raises(ValueError, match="route defined twice"):
        Router([*FEATURES, Routes(commands={"menu": router.commands["menu"]})], router.fallbacks)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/start", ("start", [])),
        ("/start area_24175", ("start", ["area_24175"])),
        ("/START@caunoi_bot  x y", ("start", ["x", "y"])),
        ("start", None),
        ("/", None),
        ("/ start", None),
    ],
)
def test_parse_command(text: str, expected: tuple | None) -> None:
    assert parse_command(text) == expected


def test_choice_by_number_or_label_without_diacritics() -> None:
    choices = [["✅ Đồng ý", "consent:yes"], ["Không, tôi chỉ hỏi đáp", "consent:no"]]
    assert choice_for("1", choices) == "consent:yes"
    assert choice_for(" 2. ", choices) == "consent:no"
    assert choice_for("3", choices) is None
    assert choice_for("0", choices) is None
    assert choice_for("dong y", choices) == "consent:yes"
    assert choice_for("KHONG, TOI CHI HOI DAP", choices) == "consent:no"
    assert choice_for("dong", choices) is None


def test_buttons_degrade_to_a_numbered_list() -> None:
    reply = Reply("Chọn:", buttons=((Button("A", "a"), Button("B", "b")), (Button("C", "c"),)))
    plain = number_choices(reply, "Gõ số để chọn.")
    assert plain.buttons == ()
    assert plain.text == "Chọn:\n\n1. A\n2. B\n3. C\n\n(Gõ số để chọn.)"


async def test_a_channel_without_keyboards_gets_numbers_that_work(engine) -> None:
    citizen = InMemoryChannel(engine, capabilities=Capabilities(buttons=False))
    [greeting, consent] = await citizen.send("/start")
    assert consent.buttons == () and "\n1. ✅ Đồng ý\n2. Không, tôi chỉ hỏi đáp" in consent.text
    await citizen.send("1")
    assert "ngôn ngữ nào" in citizen.text() and "1. Tiếng Việt" in citizen.text()
    await citizen.send("1")
    await citizen.send("ea kao")
    await citizen.send("2")
    assert "đã cài đặt xong" in citizen.text()
    assert "1. ❓ Hỏi đáp chính sách" in citizen.text()


async def test_a_failing_turn_is_rolled_back_and_answered_politely(engine, sessions) -> None:
    from sqlmodel import select

    from handlers.router import Fallbacks
    from storage.models import Citizen

    async def broken(turn):  # type: ignore[no-untyped-def]
        turn.citizen.display_name = "must not be saved"
        raise RuntimeError("boom")

    router = build_router()
    engine.router = Router(FEATURES, dataclasses.replace(router.fallbacks, question=broken))
    replies = await InMemoryChannel(engine).send("hello")
    assert "hệ thống đang gặp sự cố" in replies[0].text
    async with sessions() as session:
        assert (await session.exec(select(Citizen))).all() == []


async def test_expired_conversation_state_starts_fresh(engine) -> None:
    from datetime import timedelta

    from handlers.engine import utc_now

    citizen = InMemoryChannel(engine)
    await citizen.send("/start")
    engine.clock = lambda: utc_now() + timedelta(hours=73)
    await citizen.act("consent:yes")
    assert "hết hạn" in citizen.text()


@given(st.text(min_size=0, max_size=3000), st.integers(min_value=20, max_value=600))
def test_split_text_keeps_every_word_and_respects_the_limit(text: str, limit: int) -> None:
    parts = split_text(text, limit)
    assert all(0 < len(part) <= limit for part in parts)
    assert "".join("".join(parts).split()) == "".join(text.split())


def test_split_text_prefers_sentence_ends() -> None:
    text = "Câu một rất dài. " * 30
    parts = split_text(text, 100)
    assert all(part.endswith(".") for part in parts)
