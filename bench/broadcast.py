"""One broadcast to N subscribed citizens through the real bot process, against a rate-limited fake Telegram.

What is measured. A fresh SQLite database is migrated with Alembic and holds the areas and content;
N subscribed, consenting Telegram citizens are bulk-inserted into it (a fifth of them read English).
A fake Telegram Bot API server (`tests/fakes/telegram.py`) on loopback accepts `sendMessage` at R
messages a second — a token bucket holding one second's worth, refilled at R a second — and answers
429 "Too Many Requests" with `retry_after` when the bot goes faster.

The bot is the real command `python -m bot run`, started as its own OS process with its settings in
the environment (nothing else from the caller's environment or a `.env` reaches it): that database,
the fake Telegram with long polling, TELEGRAM_RATE_LIMIT=R, QUIET_HOURS empty, LOG_LEVEL=WARNING. The
bench process keeps only the seeding, the fake server and the watching; the two processes share the
machine's cores but not an interpreter. Once the bot's /healthz says it is polling, one broadcast to
everyone is created with `storage.broadcasts.create_broadcast`, due now; the bot's own scheduler job
queues it (it looks every 10 s) and its sender delivers it. The bench waits until the outbox holds
nothing pending or in flight for that broadcast (or the time limit passes), then a moment longer to
catch late repeats, reads the bot's memory one last time, stops it with SIGTERM (SIGKILL if it has
not exited 15 s later) and reports:

* delivered/s: messages the fake accepted from the first to the last delivery, and that as a
  fraction of R (target >= 0.9);
* duplicates: chats that got the broadcast more than once (target 0);
* losses: recipients that never got it (target 0);
* memory of the bot process alone, from /proc/PID/status: its resident size once /healthz answers,
  before the broadcast exists (VmRSS), and its peak resident size over the whole run (VmHWM, read
  every half second and once more just before SIGTERM); target under 200 MB at 100,000 and flat in N;
* 429 answers, the outbox's final counts, the bot's start-up time, the wait before the first
  delivery, the WARNING and ERROR lines in the bot's log (by message, numbers blanked), how the bot
  stopped, and the peak RSS of the bench process (fake Telegram and driver), for comparison.

Exit status: 0 when every recipient got exactly one message in time, 1 otherwise (duplicates,
losses, the time limit, or a bot that did not start or died; then the end of its log is printed).
Falling short of the delivery-rate or memory target is reported, not an error.

Usage, from the repository root:

    .venv/bin/python bench/broadcast.py [--citizens N] [--rate R] [--bot-rate B] [--timeout SECONDS]

`--citizens 2000` makes a quick run; the default is 20,000 citizens at 50 messages a second.
`--bot-rate` sets the bot's own limit apart from Telegram's, to see what headroom costs or saves.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
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

import aiohttp  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from sqlmodel import select  # noqa: E402

from bench.processes import LoggedProcess, free_port, sqlite_url  # noqa: E402
from bot.config import Settings  # noqa: E402
from content.importer import import_all  # noqa: E402
from handlers.engine import utc_now  # noqa: E402
from storage.broadcasts import create_broadcast, status_counts  # noqa: E402
from storage.db import SessionFactory, create_engine, session_factory  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Area, AreaLevel, Citizen, HouseholdStatus  # noqa: E402
from tests.fakes.telegram import ApiError, FakeTelegram, JSONDict  # noqa: E402

FIRST_CHAT_ID = 700_000_001
TARGET_FRACTION = 0.9
TARGET_PEAK_MB = 200
QUEUE_DEADLINE = 60.0
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
SETTLE = 2.0
POLL = 0.5
LOG_TAIL = 40
TEXTS = {
    "vi": "Kính chào bà con! Đây là thông báo thử của Cầu Nối. Bà con có câu hỏi, cứ gõ ngay tại đây.",
    "en": "Hello! This is a test notice from Cầu Nối. If you have a question, just type it here.",
}
STATUSES = [HouseholdStatus.poor, HouseholdStatus.near_poor, HouseholdStatus.other, HouseholdStatus.unknown]
# A line of bot/logs.py's format: "2026-05-01 08:00:00,123 WARNING bot.sender: text".
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (WARNING|ERROR|CRITICAL) (.*)$")


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
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():  # a JSON body may send it as a string
            chat_id = int(chat_id)
        if not isinstance(chat_id, int) or not str(params.get("text") or "").strip():
            raise ApiError(400, "Bad Request: chat_id or text is missing")
        now = time.monotonic()
        self.first_at = self.first_at or now
        self.last_at = now
        self.delivered[chat_id] += 1
        # Not stored like the base fake does: 20,000 kept messages would weigh on the RSS measured.
        return {"message_id": self.delivered[chat_id], "from": self.bot_user, "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}, "text": params["text"]}


class BotProcess(LoggedProcess):
    """`python -m bot run` as a child process, its stdout and stderr kept in a log file."""

    def __init__(self, workdir: Path, env: dict[str, str], port: int) -> None:
        self.workdir = workdir
        self.env = env
        self.port = port
        self.log = workdir / "bot.log"
        self.peak_mb = 0.0

    @property
    def running(self) -> bool:
        """Started and not yet exited."""
        return self.proc is not None and self.proc.poll() is None

    async def start(self) -> str | None:
        """Start the bot and wait until /healthz says Telegram is polling; None, or why it failed."""
        self.spawn([sys.executable, "-m", "bot", "run"], self.workdir, self.env)
        url = f"http://127.0.0.1:{self.port}/healthz"
        deadline = time.monotonic() + START_TIMEOUT
        last = "no answer"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                if not self.running:
                    return f"the bot exited with status {self.proc.returncode} while starting"
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(url) as response:
                        last = f"HTTP {response.status}: {await response.text()}"
                        if response.status == 200 and '"polling"' in last:
                            return None
                await asyncio.sleep(0.1)
        return f"/healthz did not report Telegram polling within {START_TIMEOUT:.0f} s ({last})"

    def memory(self) -> tuple[float, float] | None:
        """Resident size now and its peak so far (VmRSS, VmHWM) in MB; None once the bot is gone.

        The peak seen is also kept in `peak_mb`, so it survives the process."""
        if self.proc is None:
            return None
        try:
            text = Path(f"/proc/{self.proc.pid}/status").read_text()
            fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
            rss, peak = (int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM"))
        except (OSError, KeyError, ValueError):  # gone, or a zombie without memory lines
            return None
        self.peak_mb = max(self.peak_mb, peak)
        return rss, peak

    async def stop(self) -> str:
        """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT; say how it ended."""
        if self.proc is None:
            return "never started"
        if self.proc.poll() is not None:
            return f"had exited by itself, status {self.proc.returncode}"
        took = await self.terminate(STOP_TIMEOUT)
        if took is None:
            return f"did not exit within {STOP_TIMEOUT:.0f} s of SIGTERM: killed"
        return f"SIGTERM, exit status {self.proc.returncode} after {took:.1f} s"

    def problems(self) -> tuple[Counter[str], Counter[str]]:
        """Every WARNING, and every ERROR or CRITICAL line, counted by message with numbers blanked."""
        warnings: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        with self.log.open(errors="replace") as lines:
            for line in lines:
                match = LOG_LINE.match(line.rstrip("\n"))
                if match:
                    kind = warnings if match[1] == "WARNING" else errors
                    kind[f"{match[1]} {re.sub(r'[0-9]+', 'N', match[2])[:150]}"] += 1
        return warnings, errors


@dataclass
class Result:
    """What one run observed."""

    citizens: int
    rate: float
    bot_rate: float
    insert_seconds: float = 0.0
    start_seconds: float | None = None
    failure: str | None = None
    bot_log_tail: str = ""
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
    warnings: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    bot_rss_started_mb: float | None = None
    bot_peak_mb: float | None = None
    bot_stopped: str = ""
    bench_peak_mb: float = 0.0

    @property
    def delivered_per_second(self) -> float | None:
        """Accepted messages a second between the first and the last delivery."""
        if not self.send_seconds or self.delivered < 2:
            return None
        return (self.delivered - 1) / self.send_seconds

    @property
    def ok(self) -> bool:
        """Everyone got exactly one message, within the time limit."""
        return self.failure is None and self.finished and self.duplicates == 0 and self.losses == 0


def bench_peak_rss_mb() -> float:
    """Peak resident memory of the bench process so far (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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


def bot_env(workdir: Path, tg: FakeTelegram, bot_rate: float, port: int) -> dict[str, str]:
    """The bot's environment: the bench's database, the fake Telegram, its rate limit, no quiet hours."""
    env = {key: value for key, value in os.environ.items() if key.lower() not in Settings.model_fields}
    env.update(
        PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1",
        DATABASE_URL=sqlite_url(workdir / "bot.db"), DATA_DIR=str(workdir), SECRET_KEY="bench",
        WEB_HOST="127.0.0.1", WEB_PORT=str(port),
        TELEGRAM_BOT_TOKEN=tg.token, TELEGRAM_BASE_URL=tg.base_url, TELEGRAM_BASE_FILE_URL=tg.base_file_url,
        TELEGRAM_POLL_TIMEOUT="1", TELEGRAM_RATE_LIMIT=f"{bot_rate:g}", QUIET_HOURS="", LOG_LEVEL="WARNING",
    )
    return env


async def run(citizens: int, rate: float, timeout: float, bot_rate: float | None = None) -> Result:
    """Set up, start the bot, send one broadcast to everyone, watch it go out, stop the bot."""
    result = Result(citizens=citizens, rate=rate, bot_rate=bot_rate or rate)
    logging.basicConfig(level=logging.WARNING, force=True)
    with tempfile.TemporaryDirectory(prefix="broadcast-bench-") as folder:
        workdir = Path(folder)
        url = sqlite_url(workdir / "bot.db")
        await asyncio.to_thread(upgrade, url)
        engine = create_engine(url)
        sessions = session_factory(engine)
        started = time.monotonic()
        await seed(sessions, citizens)
        result.insert_seconds = time.monotonic() - started
        async with RateLimitedTelegram(rate, max_poll_wait=0.5) as tg:
            port = free_port()
            bot = BotProcess(workdir, bot_env(workdir, tg, result.bot_rate, port), port)
            try:
                spawned = time.monotonic()
                result.failure = await bot.start()
                if result.failure is None:
                    result.start_seconds = time.monotonic() - spawned
                    memory = bot.memory()
                    result.bot_rss_started_mb = memory[0] if memory else None
                    await watch(result, sessions, tg, bot, timeout)
                    bot.memory()  # the peak, read just before stopping
                result.bot_stopped = await bot.stop()
            finally:
                bot.kill_now()
            result.bot_peak_mb = bot.peak_mb or None
            result.warnings, result.errors = bot.problems()
            if not result.ok:
                result.bot_log_tail = bot.tail(LOG_TAIL)
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
    result.bench_peak_mb = bench_peak_rss_mb()
    return result


async def watch(
    result: Result, sessions: SessionFactory, tg: RateLimitedTelegram, bot: BotProcess, timeout: float
) -> None:
    """Create the broadcast, then wait until its outbox is drained, the bot dies or time runs out,
    reading the bot's memory at every look."""
    now = utc_now()
    async with sessions() as session:
        broadcast = await create_broadcast(session, texts=TEXTS, target={}, send_at=now, now=now, author="bench")
        await session.commit()
    created = time.monotonic()
    deadline = created + timeout
    while time.monotonic() < deadline:
        await asyncio.sleep(POLL)
        bot.memory()
        tg.sent.clear()  # the base fake records every call; the bench counts deliveries itself
        tg.failed.clear()
        if tg.first_at is not None and result.first_delivery_after is None:
            result.first_delivery_after = tg.first_at - created
        async with sessions() as session:
            counts = await status_counts(session, broadcast.id)  # type: ignore[arg-type]
        result.outbox = counts
        result.queued = bool(counts)
        if not bot.running:
            result.failure = f"the bot exited with status {bot.proc.returncode if bot.proc else None} during the run"
            return
        if not counts and time.monotonic() - created > QUEUE_DEADLINE:
            result.failure = (f"the broadcast was not queued within {QUEUE_DEADLINE:.0f} s: is the scheduler job "
                              "that queues due broadcasts running in bot/app.py?")
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

    def megabytes(value: float | None) -> str:
        return f"{value:.0f} MB" if value is not None else "-"

    peak_ok = result.bot_peak_mb is not None and result.bot_peak_mb < TARGET_PEAK_MB
    rows = [
        ("citizens (subscribed)", f"{result.citizens:,}", ""),
        ("Telegram limit R", f"{result.rate:g} msg/s", ""),
        ("TELEGRAM_RATE_LIMIT of the bot", f"{result.bot_rate:g} msg/s", ""),
        ("bulk insert of citizens", f"{result.insert_seconds:.2f} s", ""),
        ("bot start-up", _seconds(result.start_seconds), "spawn -> /healthz polling"),
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
        ("bot warnings logged", f"{result.warnings.total():,}", ""),
        ("bot errors logged", f"{result.errors.total():,}", ""),
        ("bot RSS after start-up", megabytes(result.bot_rss_started_mb), "VmRSS once /healthz answers"),
        ("bot peak RSS", megabytes(result.bot_peak_mb), f"VmHWM; target < {TARGET_PEAK_MB} MB: {mark(peak_ok)}"),
        ("bench process peak RSS", megabytes(result.bench_peak_mb), "fake Telegram and driver, not the bot"),
        ("bot stopped", result.bot_stopped or "-", ""),
        ("finished in time", "yes" if result.finished else "no", mark(result.finished)),
    ]
    width = max(len(name) for name, _, _ in rows)
    value_width = max(len(value) for _, value, _ in rows)
    lines = [f"command: {command}", ""]
    lines += [f"{name:<{width}}  {value:>{value_width}}  {note}".rstrip() for name, value, note in rows]
    logged = (result.errors + result.warnings).most_common(5)
    if logged:
        lines += ["", "most frequent bot log lines (numbers as N):", *(f"  {n:>7,} x {text}" for text, n in logged)]
    if result.failure:
        lines += ["", f"failure: {result.failure}"]
    if result.bot_log_tail:
        lines += ["", "last lines of the bot's output:", result.bot_log_tail]
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
