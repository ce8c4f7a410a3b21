"""Button actions as typed values: the strings they pack into, the 64-byte limit, stale payloads."""

from __future__ import annotations

import pytest

from bot.features import build_router
from handlers.actions import (
    PAYLOADS, ActionTooLong, FaqShow, FeedbackKind, Menu, QuizAnswer, TicketResolved, Topic, parse,
)
from handlers.types import Capabilities
from storage.models import TicketKind
from tests.channel import InMemoryChannel


@pytest.mark.parametrize(("value", "packed"), [
    (Menu("home"), "menu:home"),
    (FeedbackKind(TicketKind.complaint), "fb:kind:complaint"),
    (Topic("poverty_line"), "topic:poverty_line"),
    (Topic("poverty_line", 0), "topic:poverty_line:0"),
    (QuizAnswer(12, 0, 3), "quiz:a:12:0:3"),
    (TicketResolved("PA-ABC234", 4, "yes"), "tk:resolved:PA-ABC234:4:yes"),
])
def test_values_pack_into_the_strings_buttons_already_carry(value: object, packed: str) -> None:
    assert value.pack() == packed  # type: ignore[attr-defined]
    assert parse(packed) == value


def test_the_64_byte_limit_is_checked_when_packing() -> None:
    assert len(FaqShow("a" * 55).pack().encode()) == 64
    with pytest.raises(ActionTooLong):
        FaqShow("a" * 56).pack()
    with pytest.raises(ActionTooLong):
        FaqShow("đ" * 28).pack()  # 28 characters, 56 bytes
    with pytest.raises(ValueError):
        FaqShow("a:b").pack()  # would not read back


@pytest.mark.parametrize("action", [
    "fb:kind:nonsense", "fb:kind", "fb:kind:complaint:extra", "menu:nowhere", "quiz:a:1:x:2", "quiz:a:1:2",
    "tk:resolved:PA-ABC234:4:maybe", "topic:x:-1", "nosuch:thing", "", ":", "fb:area:",
])
def test_what_fits_no_shape_parses_to_nothing(action: str) -> None:
    assert parse(action) is None


def test_every_action_route_is_a_registered_payload() -> None:
    for key in build_router().actions:
        assert parse(key) is not None or key in PAYLOADS, key


@pytest.mark.parametrize("action", ["fb:kind:nonsense", "menu:nowhere", "quiz:a:1:x:2", "zzz"])
async def test_an_unknown_or_old_payload_gets_the_stale_answer(engine, action: str) -> None:
    citizen = InMemoryChannel(engine, capabilities=Capabilities())
    await citizen.act(action)
    assert "hết hạn" in citizen.text()
