"""One broadcast to N subscribed citizens through the whole Cầu Nối bot, against a rate-limited fake Telegram.

What is measured. A fresh SQLite database is migrated with Alembic and holds the areas and content;
N subscribed, consenting Telegram citizens are bulk-inserted into it (a fifth of them read English).
A fake Telegram Bot API server (`tests/fakes/telegram.py`) on loopback accepts `sendMessage` at R
messages a second — a token bucket holding one second's worth, refilled at R a second — and answers
429 "Too Many Requests" with `retry_after` when the bot goes faster. The real application from
`bot.app.create_app` runs against it (long polling, the outbox sender with TELEGRAM_RATE_LIMIT=R,
no quiet hours). One broadcast to everyone is created with `storage.broadcasts.create_broadcast`
due now; the bot's own scheduler job queues it and the sender delivers it. The bench waits until the
outbox holds nothing pending or in flight for that broadcast (or the time limit passes), then a
moment longer to catch late repeats, and reports:

* delivered/s: accepted messages from the first to the last delivery, and that as a fraction of R
  (target >= 0.9);
* duplicates: chats that got the broadcast more than once (target 0);
* losses: recipients that never got it (target 0);
* 429 answers, the outbox's final counts, the wait before the first delivery (the queueing job
  runs every few seconds), and the peak RSS of this one process — bot, fake server and driver
  together (resource.getrusage).

Exit status: 0 when every recipient got exactly one message in time, 1 otherwise (duplicates,
losses, or the time limit). Falling short of the delivery-rate target is reported, not an error.

Usage, from the repository root:

    .venv/bin/python bench/broadcast.py [--citizens N] [--rate R] [--bot-rate B] [--timeout SECONDS]

`--citizens 2000` makes a quick run; the default is 20,000 citizens at 50 messages a second.
`--bot-rate` sets the bot's own limit apart from Telegram's, to see what headroom costs or saves.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import shlex
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from sqlmodel import select  # noqa: E402

from bot.app import create_app  # noqa: E402
from bot.config import Settings, load_settings  # noqa: E402
from content.importer import import_all  # noqa: E402
from handlers.engine import utc_now  # noqa: E402
from storage.broadcasts import create_broadcast, status_counts  # noqa: E402
from storage.db import SessionFactory, create_engine, session_factory  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Area, AreaLevel, Citizen, HouseholdStatus  # noqa: E402
from tests.fakes.telegram import ApiError, FakeTelegram, JSONDict  # noqa: E402

FIRST_CHAT_ID = 700_000_001
TARGET_FRACTION = 0.9
QUEUE_DEADLINE = 60.0
SETTLE = 2.0
POLL = 0.5
TEXTS = {
    "vi": "Kính chào bà con! Đây là thông báo thử của Cầu Nối. Bà con có câu hỏi, cứ gõ ngay tại đây.",
    "en": "Hello! This is a test notice from Cầu Nối. If you have a question, just type it here.",
}
STATUSES = [HouseholdStatus.poor, HouseholdStatus.near_poor, HouseholdStatus.other, HouseholdStatus.unknown]


class RateLimitedTelegram(FakeTelegram):
    """The fake Bot API, with `sendMessage` limited to `rate` a second and every delivery counted."""

    def __init__(self, rate: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rate = rate
        self.delivered: Counter[int] = Counter()
        self.too_many = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self._tokens = rate
        self._refilled = time.monotonic()
        self.set_method("sendMessage", self._limited_send)

    def _take_token(self) -> float | None:
        """None when a message may go now, else the seconds until one may."""
        now = time.monotonic()
        self._tokens = min(self.rate, self._tokens + (now - self._refilled) * self.rate)
        self._refilled = now
        if self._tokens >= 1:
            self._tokens -= 1
            return None
        return (1 - self._tokens) / self.rate

    async def _limited_send(self, params: JSONDict) -> JSONDict:
        wait = self._take_token()
        if wait is not None:
            self.too_many += 1
            retry_after = max(1, round(wait + 0.5))  # whole seconds, as Telegram sends them
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int) or not str(params.get("text") or "").strip():
            raise ApiError(400, "Bad Request: chat_id or text is missing")
        now = time.monotonic()
        self.first_at = self.first_at or now
        self.last_at = now
        self.delivered[chat_id] += 1
        # Not stored like the base fake does: 20,000 kept messages would weigh on the RSS measured.
        return {"message_id": self.delivered[chat_id], "from": self.bot_user, "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}, "text": params["text"]}


class WarningCounter(logging.Handler):
    """Counts the bot's warnings (one per 429, among others) instead of printing thousands of lines."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.samples: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Count it; keep the first few distinct messages."""
        self.count += 1
        text = f"{record.levelname} {record.name}: {record.getMessage()}"[:160]
        if len(self.samples) < 5 and text not in self.samples:
            self.samples.append(text)


@dataclass
class Result:
    """What one run observed."""

    citizens: int
    rate: float
    bot_rate: float
    insert_seconds: float = 0.0
    finished: bool = False
    queued: bool = False
    first_delivery_after: float | None = None
    send_seconds: float | None = None
    delivered: int = 0
    duplicates: int = 0
    extra_messages: int = 0
    losses: int = 0
    too_many: int = 0
    outbox: dict[str, int] = field(default_factory=dict)
    warnings: int = 0
    warning_samples: list[str] = field(default_factory=list)
    rss_before_mb: float = 0.0
    rss_peak_mb: float = 0.0

    @property
    def delivered_per_second(self) -> float | None:
        """Accepted messages a second between the first and the last delivery."""
        if not self.send_seconds or self.delivered < 2:
            return None
        return (self.delivered - 1) / self.send_seconds

    @property
    def ok(self) -> bool:
        """Everyone got exactly one message, within the time limit."""
        return self.finished and self.duplicates == 0 and self.losses == 0


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sqlite_url(path: Path) -> str:
    """The async SQLite URL of a file."""
    return f"sqlite+aiosqlite:///{path}"


async def seed(sessions: SessionFactory, citizens: int) -> None:
    """Areas and content, then `citizens` subscribed Telegram users in one bulk insert."""
    async with sessions() as session:
        await import_all(session, now=utc_now())
        await session.commit()
    async with sessions() as session:
        communes = list((await session.exec(select(Area.code).where(Area.level == AreaLevel.commune))).all())
    now = utc_now()
    rows = [
        {
            "channel": "telegram", "channel_user_id": str(FIRST_CHAT_ID + n), "display_name": f"Citizen {n}",
            "locale": "en" if n % 5 == 0 else "vi", "area_code": communes[n % len(communes)],
            "household_status": STATUSES[n % len(STATUSES)], "subscribed": True, "consent_at": now,
            "created_at": now, "last_seen_at": now,
        }
        for n in range(citizens)
    ]
    async with sessions() as session:
        await session.exec(insert(Citizen), params=rows)  # type: ignore[call-overload]
        await session.commit()


def bot_settings(workdir: Path, tg: FakeTelegram, bot_rate: float) -> Settings:
    """Settings for the bot under test: the fake Telegram, its rate limit, no quiet hours."""
    extra: dict[str, object] = {}
    if "telegram_rate_limit" in Settings.model_fields:
        extra["telegram_rate_limit"] = bot_rate
    if "quiet_hours" in Settings.model_fields:
        extra["quiet_hours"] = ""
    return load_settings(
        database_url=sqlite_url(workdir / "bot.db"), data_dir=workdir, secret_key="bench",
        telegram_bot_token=tg.token, telegram_base_url=tg.base_url, telegram_base_file_url=tg.base_file_url,
        telegram_poll_timeout=1, log_level="WARNING", _env_file=None, **extra,
    )


async def run(citizens: int, rate: float, timeout: float, bot_rate: float | None = None) -> Result:
    """Set up, send one broadcast to everyone, and watch it go out."""
    result = Result(citizens=citizens, rate=rate, bot_rate=bot_rate or rate)
    warnings = WarningCounter()
    logging.basicConfig(level=logging.WARNING, handlers=[warnings], force=True)
    with tempfile.TemporaryDirectory(prefix="broadcast-bench-") as folder:
        workdir = Path(folder)
        url = sqlite_url(workdir / "bot.db")
        await asyncio.to_thread(upgrade, url)
        engine = create_engine(url)
        sessions = session_factory(engine)
        started = time.monotonic()
        await seed(sessions, citizens)
        result.insert_seconds = time.monotonic() - started
        result.rss_before_mb = peak_rss_mb()
        async with RateLimitedTelegram(rate, max_poll_wait=0.5) as tg:
            runner = web.AppRunner(create_app(bot_settings(workdir, tg, result.bot_rate)))
            await runner.setup()
            try:
                await watch(result, sessions, tg, timeout)
            finally:
                await runner.cleanup()
        await engine.dispose()
    expected = {FIRST_CHAT_ID + n for n in range(citizens)}
    got = tg.delivered
    result.delivered = sum(got.values())
    result.duplicates = sum(1 for count in got.values() if count > 1)
    result.extra_messages = sum(count - 1 for count in got.values() if count > 1)
    result.losses = len(expected - set(got))
    result.too_many = tg.too_many
    if tg.first_at is not None and tg.last_at is not None:
        result.send_seconds = tg.last_at - tg.first_at
    result.warnings, result.warning_samples = warnings.count, warnings.samples
    result.rss_peak_mb = peak_rss_mb()
    return result


async def watch(result: Result, sessions: SessionFactory, tg: RateLimitedTelegram, timeout: float) -> None:
    """Create the broadcast, then wait until its outbox is drained or time runs out."""
    now = utc_now()
    async with sessions() as session:
        broadcast = await create_broadcast(session, texts=TEXTS, target={}, send_at=now, now=now, author="bench")
        await session.commit()
    created = time.monotonic()
    deadline = created + timeout
    while time.monotonic() < deadline:
        await asyncio.sleep(POLL)
        tg.sent.clear()  # the base fake records every call; the bench counts deliveries itself
        if tg.first_at is not None and result.first_delivery_after is None:
            result.first_delivery_after = tg.first_at - created
        async with sessions() as session:
            counts = await status_counts(session, broadcast.id)  # type: ignore[arg-type]
        result.outbox = counts
        result.queued = bool(counts)
        if not counts and time.monotonic() - created > QUEUE_DEADLINE:
            print(f"the broadcast was not queued within {QUEUE_DEADLINE:.0f} s: is the scheduler job that queues "
                  "due broadcasts running in bot/app.py?", file=sys.stderr)
            return
        if counts and not counts.get("pending") and not counts.get("sending"):
            await asyncio.sleep(SETTLE)  # a late repeat would show up now
            async with sessions() as session:
                result.outbox = await status_counts(session, broadcast.id)  # type: ignore[arg-type]
            result.finished = True
            return
    print(f"time limit of {timeout:.0f} s reached before the outbox was drained", file=sys.stderr)


def report(result: Result, command: str) -> str:
    """The table printed at the end."""
    rate = result.delivered_per_second
    fraction = rate / result.rate if rate is not None else None

    def mark(good: bool) -> str:
        return "ok" if good else "FAIL"

    rows = [
        ("citizens (subscribed)", f"{result.citizens:,}", ""),
        ("Telegram limit R", f"{result.rate:g} msg/s", ""),
        ("TELEGRAM_RATE_LIMIT of the bot", f"{result.bot_rate:g} msg/s" if "telegram_rate_limit" in Settings.model_fields else "-", ""),
        ("bulk insert of citizens", f"{result.insert_seconds:.2f} s", ""),
        ("broadcast queued", "yes" if result.queued else "no", mark(result.queued)),
        ("first delivery after", _seconds(result.first_delivery_after), "creation -> first message"),
        ("sending time", _seconds(result.send_seconds), "first -> last message"),
        ("messages delivered", f"{result.delivered:,}", ""),
        ("delivered/s", f"{rate:.1f}" if rate is not None else "-", ""),
        ("delivered/s as fraction of R", f"{fraction:.3f}" if fraction is not None else "-",
         f"target >= {TARGET_FRACTION}: {mark(fraction is not None and fraction >= TARGET_FRACTION)}"),
        ("429 answers", f"{result.too_many:,}", ""),
        ("duplicates (chats messaged twice)", f"{result.duplicates:,}", f"target 0: {mark(result.duplicates == 0)}"),
        ("losses (never messaged)", f"{result.losses:,}", f"target 0: {mark(result.losses == 0)}"),
        ("outbox at the end", ", ".join(f"{k}={v}" for k, v in sorted(result.outbox.items())) or "-", ""),
        ("bot warnings logged", f"{result.warnings:,}", ""),
        ("peak RSS after setup", f"{result.rss_before_mb:.0f} MB", "one process: bot, fake, driver"),
        ("peak RSS", f"{result.rss_peak_mb:.0f} MB", ""),
        ("finished in time", "yes" if result.finished else "no", mark(result.finished)),
    ]
    width = max(len(name) for name, _, _ in rows)
    value_width = max(len(value) for _, value, _ in rows)
    lines = [f"command: {command}", ""]
    lines += [f"{name:<{width}}  {value:>{value_width}}  {note}".rstrip() for name, value, note in rows]
    if result.warning_samples:
        lines += ["", "first warnings:", *(f"  {sample}" for sample in result.warning_samples)]
    lines += ["", "result: " + ("OK" if result.ok else "FAILED")]
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return f"{value:.2f} s" if value is not None else "-"


def positive(kind: type) -> Any:
    """An argparse type accepting only numbers above zero."""
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError("must be above zero")
        return value
    return parse


def main(argv: list[str] | None = None) -> int:
    """Run the bench and print the table; exit 1 unless everyone got exactly one message."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--citizens", type=positive(int), default=20_000, help="subscribed citizens (default 20000)")
    parser.add_argument("--rate", type=positive(float), default=50.0, help="messages a second Telegram allows (default 50)")
    parser.add_argument("--bot-rate", type=positive(float), default=None,
                        help="TELEGRAM_RATE_LIMIT given to the bot (default: the same as --rate)")
    parser.add_argument("--timeout", type=positive(float), default=None,
                        help="give up after this many seconds (default: 3 x citizens / rate + 90)")
    args = parser.parse_args(argv)
    timeout = args.timeout or 3 * args.citizens / args.rate + 90
    result = asyncio.run(run(args.citizens, args.rate, timeout, args.bot_rate))
    command = shlex.join([".venv/bin/python", "bench/broadcast.py", *(argv if argv is not None else sys.argv[1:])])
    print(report(result, command))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
