"""Flood control: the token bucket on its own, in the engine (replies held back, messages still
handled), and through the fake Telegram server, where one citizen floods while another chats."""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest
from sqlmodel import select

from bot import keys
from bot.app import create_app
from bot.flood import FloodGate, Pace, flood_gate
from storage.models import Ticket
from tests.channel import InMemoryChannel
from tests.conftest import telegram_settings

NOTICE = "Dạ, bà con gửi nhanh quá, xin chờ một chút rồi gửi tiếp"


class FakeClock:
    """Monotonic seconds that only move when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_one_notice_then_silence_until_the_rate_falls() -> None:
    clock = FakeClock()
    gate = FloodGate(burst=20, window=10, clock=clock)
    assert [gate.admit("a") for _ in range(20)] == [Pace.ok] * 20
    assert gate.admit("a") is Pace.notice
    assert gate.admit("a") is Pace.quiet
    for _ in range(50):  # still flooding at 10 a second: refilled 2/s, spent 10/s
        clock.now += 0.1
        assert gate.admit("a") is Pace.quiet
    assert gate.admit("b") is Pace.ok  # others are not affected
    clock.now += 2  # the rate falls, but half the bucket is not back yet
    assert gate.admit("a") is Pace.quiet
    clock.now += 5
    assert gate.admit("a") is Pace.ok
    assert gate.held == 52


def test_the_notice_is_repeated_at_most_once_a_minute_during_a_long_flood() -> None:
    clock = FakeClock()
    gate = FloodGate(burst=5, window=10, clock=clock, notice_every=60)
    paces = []
    for _ in range(1200):  # two minutes at 10 a second
        paces.append(gate.admit("a"))
        clock.now += 0.1
    assert paces.count(Pace.notice) == 2 and paces.count(Pace.ok) == 5


def test_memory_is_bounded_idle_keys_are_forgotten() -> None:
    clock = FakeClock()
    gate = FloodGate(burst=3, window=10, clock=clock, max_keys=100)
    for n in range(1000):
        gate.admit(n)
    assert len(gate) == 100
    clock.now += 11
    gate.admit("new")
    assert len(gate) == 1


def test_flood_burst_zero_switches_it_off() -> None:
    assert flood_gate(0, 10) is None
    assert isinstance(flood_gate(20, 10), FloodGate)
    with pytest.raises(ValueError):
        FloodGate(burst=0)


async def test_messages_over_the_limit_are_handled_and_stored_only_their_replies_held_back(engine, sessions) -> None:
    clock = FakeClock()
    engine.flood = FloodGate(burst=3, window=10, clock=clock)
    citizen = InMemoryChannel(engine, user_id="flooder")
    await citizen.send("/phananh")
    await citizen.press("Khiếu nại")
    await citizen.act("fb:topic:other")
    notice = await citizen.send("Nhà tôi bị bỏ sót khỏi danh sách hộ nghèo năm nay.")  # the 4th: over the limit
    assert len(notice) == 1 and NOTICE in notice[0].text
    assert await citizen.act("fb:photos:done") == []
    assert await citizen.act("fb:location:skip") == []
    clock.now += 10  # the citizen slows down
    await citizen.act("fb:area:24175")
    await citizen.act("fb:identity:named")
    await citizen.act("fb:submit")
    assert "PA-" in citizen.text()
    async with sessions() as session:
        ticket = (await session.exec(select(Ticket))).one()
    assert "bỏ sót" in ticket.body


async def test_the_app_builds_the_flood_gate_from_settings(settings, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(settings.model_copy(update={"flood_burst": 7})))
    gate = client.app[keys.ENGINE].flood
    assert isinstance(gate, FloodGate) and gate.burst == 7
    off = await aiohttp_client(create_app(settings.model_copy(update={"flood_burst": 0})))
    assert off.app[keys.ENGINE].flood is None


async def _latencies(tg, user: int, count: int) -> list[float]:  # type: ignore[no-untyped-def]
    """Send `count` questions one after another; the seconds until each first reply."""
    found = []
    for _ in range(count):
        start = tg.mark()
        began = time.perf_counter()
        tg.user_sends(user, "chuẩn nghèo là bao nhiêu")
        await tg.wait_for(lambda s: s.method == "sendMessage" and str(s.chat_id) == str(user), timeout=60, start=start)
        found.append(time.perf_counter() - began)
        await asyncio.sleep(0.05)
    return found


async def test_a_flooding_citizen_is_slowed_and_others_still_get_their_replies(settings, tg, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(telegram_settings(settings, tg)))
    flooder, other = 61_001, 61_002
    await _latencies(tg, other, 2)  # warm up
    baseline = statistics.median(await _latencies(tg, other, 6))

    start = tg.mark()
    for n in range(100):
        tg.user_sends(flooder, f"câu hỏi số {n} về chuẩn nghèo")
    during = statistics.median(await _latencies(tg, other, 6))
    while tg.pending_updates:
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)

    to_flooder = [s.text or "" for s in tg.sent[start:] if s.method == "sendMessage" and str(s.chat_id) == str(flooder)]
    assert sum(NOTICE in text for text in to_flooder) == 1
    assert 20 <= len(to_flooder) <= 30, len(to_flooder)  # the burst (plus what refilled meanwhile) and the notice
    print(f"other citizen's median reply latency: {baseline * 1000:.0f} ms alone, {during * 1000:.0f} ms during the flood "
          f"(x{during / baseline:.1f}); flooder answered {len(to_flooder)} of 100")
    assert during / baseline < 10
