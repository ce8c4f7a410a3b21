"""Throughput and latency of the whole Cầu Nối Telegram bot, next to a bare python-telegram-bot echo bot.

What is measured. One fake Telegram Bot API server (`tests/fakes/telegram.py`) runs on loopback, and
two bots take turns long-polling it, never at the same time:

* full bot: the real application from `bot.app.create_app`, served by aiohttp, on a fresh SQLite
  database migrated with Alembic and holding the imported content (areas, topics, FAQ, stories).
  Every update goes through python-telegram-bot, the per-citizen ordering, the conversation engine
  (one database transaction per message) and the reply rendering.
* echo bot: a bare python-telegram-bot `Application` with `concurrent_updates(True)` and a single
  handler that answers every message with its own text.

Both poll with a 1 s long-poll timeout and no pause between polls. The full bot handles at most
MAX_CONCURRENT_UPDATES (64 by default) updates at once, the echo bot 256; with U <= 64 citizens
neither limit is reached.

Both get the same workload: U citizens each keep exactly one update outstanding. A citizen types a
message (a question in plain text, or a command such as /menu or /trogiup); as soon as the bot has
sent every reply to it, the citizen types the next one, until N updates have been sent. One update
outstanding per chat makes matching replies to updates exact. How many replies each text gets is
learnt in an untimed warm-up before every run, and checked again for every chat after the run.

Latency is the time from queueing an update on the fake server (`time.monotonic()` just before
`user_sends`) to the first reply message to that chat (`Sent.at`, recorded by the fake server).
Throughput is N divided by the time from the first queued update to the last first reply. The
runs alternate (echo, full, echo, full, ...) and the medians over the rounds are reported. Each
run has its own citizens (user ids), and updates left unconfirmed by a bot are confirmed before
the next one starts, so no update or reply of one run can be counted in another.

With U citizens always waiting, both bots run flat out and latency is mostly time spent in line
(p50 is close to U / throughput). Run with `--users 1` to see the latency of a single update on
an idle bot instead.

How to read the ratios. Everything shares one process and one event loop, so the numbers include
the fake server and this driver, and they depend on the machine. The ratios cancel most of that:
`throughput ratio` = full / echo is the fraction of the bare library's throughput the whole bot
keeps (1.0 would mean the bot's own work is free), and `latency ratio` = full / echo is how many
times longer a citizen waits for the first reply than python-telegram-bot alone needs.

Usage, from the repository root:

    .venv/bin/python bench/throughput.py [--updates N] [--users U] [--rounds R] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import telegram  # noqa: E402
from aiohttp import web  # noqa: E402
from telegram import Update  # noqa: E402
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters  # noqa: E402

from bot.app import create_app  # noqa: E402
from bot.config import load_settings  # noqa: E402
from content.importer import import_database  # noqa: E402
from handlers.engine import utc_now  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402

TEXTS = (
    "chuan ngheo la bao nhieu",
    "/menu",
    "hộ cận nghèo được hỗ trợ những gì",
    "/trogiup",
    "lam sao de dang ky bao hiem y te cho ho ngheo",
    "xin chào",
)
REPLY_METHODS = frozenset({"sendMessage", "sendPhoto"})
POLL_TIMEOUT = 1
MAX_POLL_WAIT = 0.5
QUIET = 0.3
STALL = 30.0
WARMUP_USER_OFFSET = 900_000
USERS_PER_RUN = 1_000_000

BotStarter = Callable[[FakeTelegram, Path], AbstractAsyncContextManager[None]]


@dataclass
class ChatState:
    """One citizen of the closed loop: what it sent last and how many replies are still due."""

    user_id: int
    index: int
    sent: int = 0
    queued_at: float = 0.0
    due: int = 0
    answered: bool = True
    expected: int = 0


@dataclass
class Loop:
    """What the closed loop observed."""

    latencies: list[float]
    first_queue: float
    last_reply: float
    chats: dict[int, ChatState]
    stray: int
    last_update_id: int


@dataclass
class RunResult:
    """The numbers and the problems of one run of one bot."""

    bot: str
    round: int
    updates: int
    seconds: float
    throughput: float
    p50_ms: float
    p99_ms: float
    replies_per_text: dict[str, int]
    problems: list[str] = field(default_factory=list)
    log_records: int = 0


class LogCollector(logging.Handler):
    """Keeps every log record at WARNING or above instead of printing it."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Store the record."""
        self.records.append(record)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=800, help="updates per run (default 800)")
    parser.add_argument("--users", type=int, default=50, help="distinct citizens per run (default 50)")
    parser.add_argument("--rounds", type=int, default=3, help="echo/full pairs of runs (default 3)")
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    if args.updates < 1 or args.users < 1 or args.rounds < 1:
        parser.error("--updates, --users and --rounds must be at least 1")
    return args


def sqlite_url(path: Path) -> str:
    """The async SQLite URL of a file."""
    return f"sqlite+aiosqlite:///{path}"


def build_template(path: Path) -> Path:
    """Migrate a fresh SQLite file with Alembic and import the content; runs outside any event loop."""
    upgrade(sqlite_url(path))
    asyncio.run(import_database(sqlite_url(path), now=utc_now()))
    return path


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def is_reply(method: str, chat_id: object, user_id: int) -> bool:
    """Whether a recorded call is a message to the chat of `user_id`."""
    return method in REPLY_METHODS and str(chat_id) == str(user_id)


async def settle(fake: FakeTelegram) -> None:
    """Wait until the bot has made no Bot API call for QUIET seconds."""
    while True:
        start = fake.mark()
        try:
            await fake.wait_for(lambda sent: True, timeout=QUIET, start=start)
        except AssertionError:
            return


async def calibrate(fake: FakeTelegram, first_user: int) -> dict[str, int]:
    """Untimed warm-up: send each text from its own new citizen and count the replies it gets."""
    start = fake.mark()
    users = {text: first_user + index for index, text in enumerate(TEXTS)}
    for text, user_id in users.items():
        fake.user_sends(user_id, text)
    for user_id in users.values():
        await fake.wait_for(lambda s, u=user_id: is_reply(s.method, s.chat_id, u), timeout=STALL, start=start)
    await settle(fake)
    calls = fake.sent[start:]
    return {text: sum(is_reply(s.method, s.chat_id, u) for s in calls) for text, u in users.items()}


def next_text(chat: ChatState) -> str:
    """The text a citizen types next: each citizen walks through TEXTS from its own starting point."""
    return TEXTS[(chat.index + chat.sent) % len(TEXTS)]


async def drive(
    fake: FakeTelegram, first_user: int, users: int, updates: int, replies_per_text: dict[str, int]
) -> Loop:
    """Run the closed loop until `updates` updates got their first reply."""
    chats = {first_user + i: ChatState(first_user + i, i) for i in range(min(users, updates))}
    by_chat = {str(user_id): chat for user_id, chat in chats.items()}
    latencies: list[float] = []
    queued = 0
    stray = 0
    last_reply = 0.0
    last_update_id = 0

    def queue(chat: ChatState) -> None:
        nonlocal queued, last_update_id
        text = next_text(chat)
        chat.due = replies_per_text[text]
        chat.expected += chat.due
        chat.sent += 1
        chat.answered = False
        queued += 1
        chat.queued_at = time.monotonic()
        last_update_id = fake.user_sends(chat.user_id, text)["update_id"]

    cursor = fake.mark()
    for chat in chats.values():
        queue(chat)
    first_queue = min(chat.queued_at for chat in chats.values())
    while len(latencies) < updates:
        try:
            await fake.wait_for(lambda sent: True, timeout=STALL, start=cursor)
        except AssertionError:
            waiting = sorted(c.user_id for c in chats.values() if c.due)
            raise RuntimeError(
                f"no Bot API call for {STALL:.0f} s with {len(latencies)}/{updates} updates answered; "
                f"chats still waiting for replies: {waiting[:10]}{' ...' if len(waiting) > 10 else ''}"
            ) from None
        fresh = fake.sent[cursor:]
        cursor += len(fresh)
        for sent in fresh:
            if sent.method not in REPLY_METHODS:
                continue
            chat = by_chat.get(str(sent.chat_id))
            if chat is None or chat.due == 0:
                stray += 1
                continue
            chat.due -= 1
            if not chat.answered:
                chat.answered = True
                latencies.append(sent.at - chat.queued_at)
                last_reply = max(last_reply, sent.at)
            if chat.due == 0 and queued < updates:
                queue(chat)
    return Loop(latencies, first_queue, last_reply, chats, stray, last_update_id)


async def confirm_updates(fake: FakeTelegram, last_update_id: int) -> None:
    """Confirm every update up to `last_update_id` with getUpdates, as Telegram's offset does."""
    async with aiohttp.ClientSession() as session:
        url = f"{fake.base_url}{fake.token}/getUpdates"
        async with session.post(url, data={"offset": str(last_update_id + 1), "timeout": "0"}) as response:
            response.raise_for_status()


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a message with its own text."""
    assert update.message is not None
    await update.message.reply_text(update.message.text or "")


@asynccontextmanager
async def echo_bot(fake: FakeTelegram, workdir: Path) -> AsyncIterator[None]:
    """A bare python-telegram-bot echo bot long-polling the fake server."""
    application: Application = (
        ApplicationBuilder()
        .token(fake.token)
        .base_url(fake.base_url)
        .base_file_url(fake.base_file_url)
        .concurrent_updates(True)
        .build()
    )
    application.add_handler(MessageHandler(filters.ALL, _echo))
    await application.initialize()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0, timeout=POLL_TIMEOUT)
    await application.start()
    try:
        yield
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()


def full_bot_factory(template: Path) -> BotStarter:
    """The whole Cầu Nối app on a copy of the migrated template database."""

    @asynccontextmanager
    async def full_bot(fake: FakeTelegram, workdir: Path) -> AsyncIterator[None]:
        """Serve `create_app` with aiohttp on 127.0.0.1; its start-up begins long polling."""
        data = workdir / "data"
        data.mkdir(parents=True)
        shutil.copy(template, data / "bot.db")
        settings = load_settings(
            database_url=sqlite_url(data / "bot.db"),
            data_dir=data,
            secret_key="bench",
            telegram_bot_token=fake.token,
            telegram_base_url=fake.base_url,
            telegram_base_file_url=fake.base_file_url,
            telegram_poll_timeout=POLL_TIMEOUT,
            _env_file=None,
        )
        runner = web.AppRunner(create_app(settings))
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            yield
        finally:
            await runner.cleanup()

    return full_bot


async def measure(
    name: str,
    starter: BotStarter,
    fake: FakeTelegram,
    workdir: Path,
    round_number: int,
    run_number: int,
    args: argparse.Namespace,
    logs: LogCollector,
) -> RunResult:
    """Start one bot, warm it up, drive the workload, check every chat's replies, stop it."""
    first_log = len(logs.records)
    first_user = USERS_PER_RUN * run_number
    start_mark = fake.mark()
    problems: list[str] = []
    async with starter(fake, workdir):
        replies_per_text = await calibrate(fake, first_user + WARMUP_USER_OFFSET)
        missing = [text for text, count in replies_per_text.items() if count == 0]
        if missing:
            raise RuntimeError(f"{name} bot sent no reply to {missing} in the warm-up")
        loop = await drive(fake, first_user, args.users, args.updates, replies_per_text)
        await settle(fake)
    calls = fake.sent[start_mark:]
    for chat in loop.chats.values():
        got = sum(is_reply(s.method, s.chat_id, chat.user_id) for s in calls)
        if got != chat.expected:
            problems.append(f"chat {chat.user_id}: {got} replies, expected {chat.expected}")
    run_chats = {str(u) for u in loop.chats} | {str(first_user + WARMUP_USER_OFFSET + i) for i in range(len(TEXTS))}
    foreign = sum(1 for s in calls if s.method in REPLY_METHODS and str(s.chat_id) not in run_chats)
    if loop.stray or foreign:
        problems.append(f"{loop.stray} replies arrived after all expected ones, {foreign} went to chats of other runs")
    pending = fake.pending_updates
    if pending:
        problems.append(f"{pending} updates left unconfirmed by the bot; confirmed them before the next run")
        await confirm_updates(fake, loop.last_update_id)
    seconds = loop.last_reply - loop.first_queue
    return RunResult(
        bot=name,
        round=round_number,
        updates=len(loop.latencies),
        seconds=seconds,
        throughput=len(loop.latencies) / seconds,
        p50_ms=percentile(loop.latencies, 0.50) * 1000,
        p99_ms=percentile(loop.latencies, 0.99) * 1000,
        replies_per_text=replies_per_text,
        problems=problems,
        log_records=len(logs.records) - first_log,
    )


def median_of(results: list[RunResult], bot: str) -> dict[str, float]:
    """Median throughput and latencies of one bot over its runs."""
    mine = [r for r in results if r.bot == bot]
    return {
        "throughput": statistics.median(r.throughput for r in mine),
        "p50_ms": statistics.median(r.p50_ms for r in mine),
        "p99_ms": statistics.median(r.p99_ms for r in mine),
    }


def machine() -> dict[str, object]:
    """Where the benchmark ran."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": f"{platform.system()} {platform.machine()}",
        "cpu_count": os.cpu_count(),
        "usable_cpus": affinity,
        "python_telegram_bot": telegram.__version__,
        "aiohttp": aiohttp.__version__,
    }


def describe_logs(records: list[logging.LogRecord]) -> Iterator[str]:
    """Lines summarising captured log records: counts per message, then the first ones in full."""
    if not records:
        yield "log records at WARNING or above: none"
        return
    yield f"log records at WARNING or above: {len(records)}"
    counts = Counter((r.levelname, r.name, r.getMessage().splitlines()[0][:160]) for r in records)
    for (level, name, message), count in counts.most_common():
        yield f"  {count:6d} x {level} {name}: {message}"
    formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
    yield "  the first ones in full:"
    for record in records[:3]:
        for line in formatter.format(record).splitlines():
            yield f"    {line}"


def report(args: argparse.Namespace, results: list[RunResult], logs: LogCollector) -> dict[str, object]:
    """Print the table and the ratios; return everything as a JSON-ready dict."""
    context = machine()
    full, echo = median_of(results, "full"), median_of(results, "echo")
    ratios = {
        "throughput": full["throughput"] / echo["throughput"],
        "p50": full["p50_ms"] / echo["p50_ms"],
        "p99": full["p99_ms"] / echo["p99_ms"],
    }
    print("Cầu Nối Telegram throughput: whole bot vs bare python-telegram-bot echo bot")
    print(
        f"machine     {context['python']} on {context['platform']}, {context['cpu_count']} CPUs "
        f"({context['usable_cpus']} usable); python-telegram-bot {context['python_telegram_bot']}, "
        f"aiohttp {context['aiohttp']}"
    )
    print(
        f"parameters  {args.updates} updates per run from {args.users} users (one outstanding each), "
        f"{args.rounds} rounds of echo then full; poll timeout {POLL_TIMEOUT} s"
    )
    print(f"texts       {', '.join(TEXTS)}")
    counts = next((r.replies_per_text for r in results if r.bot == "full"), {})
    print(f"replies     full bot per text: {', '.join(f'{t} -> {n}' for t, n in counts.items())}")
    print()
    headings = ("updates", "seconds", "upd/s", "p50 ms", "p99 ms")
    print(f"{'round':>5}  {'bot':<4}  " + "  ".join(f"{h:>7}" for h in headings) + f"  {'logs':>5}")
    for r in results:
        print(
            f"{r.round:>5}  {r.bot:<4}  {r.updates:>7}  {r.seconds:>7.2f}  {r.throughput:>7.0f}  "
            f"{r.p50_ms:>7.1f}  {r.p99_ms:>7.1f}  {r.log_records:>5}"
        )
    print()
    print(f"median of {args.rounds} rounds")
    print(
        f"throughput  full bot {full['throughput']:.0f} upd/s   echo bot {echo['throughput']:.0f} upd/s   "
        f"ratio {ratios['throughput']:.2f}"
    )
    print(f"latency p50 full {full['p50_ms']:.1f} ms   echo {echo['p50_ms']:.1f} ms   ratio {ratios['p50']:.1f}")
    print(f"latency p99 full {full['p99_ms']:.1f} ms   echo {echo['p99_ms']:.1f} ms   ratio {ratios['p99']:.1f}")
    print()
    problems = [f"round {r.round} {r.bot}: {p}" for r in results for p in r.problems]
    print("problems    " + ("none" if not problems else f"{len(problems)}"))
    for line in problems[:20]:
        print(f"  {line}")
    for line in describe_logs(logs.records):
        print(line)
    return {
        "machine": context,
        "parameters": {
            "updates": args.updates, "users": args.users, "rounds": args.rounds,
            "poll_timeout": POLL_TIMEOUT, "texts": list(TEXTS),
        },
        "runs": [asdict(r) for r in results],
        "median": {"full": full, "echo": echo},
        "ratio": ratios,
        "problems": problems,
        "log_records": len(logs.records),
    }


async def run_all(args: argparse.Namespace, template: Path, workdir: Path, logs: LogCollector) -> list[RunResult]:
    """Alternate echo and full runs against one fake server."""
    bots = (("echo", echo_bot), ("full", full_bot_factory(template)))
    results: list[RunResult] = []
    async with FakeTelegram(max_poll_wait=MAX_POLL_WAIT) as fake:
        run_number = 0
        for round_number in range(1, args.rounds + 1):
            for name, starter in bots:
                run_number += 1
                run_dir = workdir / f"run-{run_number}-{name}"
                results.append(
                    await measure(name, starter, fake, run_dir, round_number, run_number, args, logs)
                )
    return results


def main(argv: list[str] | None = None) -> int:
    """Build the template database, run the benchmark, print (and optionally save) the results."""
    args = parse_args(argv)
    logs = LogCollector()
    logging.basicConfig(level=logging.WARNING, handlers=[logs], force=True)
    logging.captureWarnings(True)
    with tempfile.TemporaryDirectory(prefix="caunoi-bench-") as tmp:
        workdir = Path(tmp)
        template = build_template(workdir / "template.db")
        try:
            results = asyncio.run(run_all(args, template, workdir, logs))
        except RuntimeError as exc:
            print(f"benchmark aborted: {exc}")
            for line in describe_logs(logs.records):
                print(line)
            return 2
    summary = report(args, results, logs)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return 1 if summary["problems"] or logs.records else 0


if __name__ == "__main__":
    sys.exit(main())
