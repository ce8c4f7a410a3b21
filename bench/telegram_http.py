"""CPU per Bot API call: the bot's aiohttp-based request class against python-telegram-bot's httpx one.

One fake Telegram Bot API server (`tests/fakes/telegram.py`) runs on loopback in this process. A
`telegram.Bot` built with each request class sends the same `sendMessage` calls (20 at a time, after
an untimed warm-up), in alternating rounds; the processor time of the whole process per call is
reported, and the ratio aiohttp / httpx of the medians. The fake server's own work is part of both
figures, so the ratio understates the difference between the two clients.

    .venv/bin/python bench/telegram_http.py [--calls N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from telegram import Bot  # noqa: E402
from telegram.request import BaseRequest, HTTPXRequest  # noqa: E402

from bot.channels.telegram_http import AiohttpRequest  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402

AT_ONCE = 20
CLIENTS: dict[str, Callable[[], BaseRequest]] = {
    "httpx": lambda: HTTPXRequest(connection_pool_size=256),
    "aiohttp": lambda: AiohttpRequest(256),
}


async def cpu_per_call(tg: FakeTelegram, make: Callable[[], BaseRequest], calls: int) -> float:
    """Milliseconds of processor time per sendMessage, after a warm-up."""
    bot = Bot(tg.token, base_url=tg.base_url, request=make(), get_updates_request=make())
    await bot.initialize()
    slots = asyncio.Semaphore(AT_ONCE)

    async def send(number: int) -> None:
        async with slots:
            await bot.send_message(42, f"Dạ, thông báo số {number}")

    try:
        await asyncio.gather(*(send(number) for number in range(AT_ONCE * 10)))
        started = time.process_time()
        await asyncio.gather(*(send(number) for number in range(calls)))
        return (time.process_time() - started) / calls * 1000
    finally:
        await bot.shutdown()


async def run(calls: int, rounds: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {name: [] for name in CLIENTS}
    async with FakeTelegram() as tg:
        for _ in range(rounds):
            for name, make in CLIENTS.items():
                results[name].append(await cpu_per_call(tg, make, calls))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results = asyncio.run(run(args.calls, args.rounds))
    print("Cầu Nối Bot API client: CPU per sendMessage (this process, fake server included)")
    print(f"machine     CPython {platform.python_version()} on {platform.system()} {platform.machine()}")
    print(f"calls       {args.calls} per round, {AT_ONCE} at a time, {args.rounds} rounds\n")
    for name, values in results.items():
        print(f"{name:<8} median {statistics.median(values):.3f} ms   rounds {', '.join(f'{v:.3f}' for v in values)}")
    ratio = statistics.median(results["aiohttp"]) / statistics.median(results["httpx"])
    print(f"\nratio aiohttp / httpx: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
