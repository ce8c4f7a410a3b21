"""Throughput and latency of the whole Cầu Nối Telegram bot, next to a bare python-telegram-bot echo bot.

One fake Telegram Bot API server (`tests/fakes/telegram.py`) runs on loopback in this process, with
the load driver. Each set-up below runs the full bot and the echo bot in turns (echo, full, echo,
full, ...), never at the same time, with the same workload; the medians over the rounds are
reported with their ratios.

* polling, 1 process (the target, >= 50 % of the echo bot's throughput, is measured here): both
  bots run inside this process and long-poll the fake server (1 s long-poll timeout, no pause
  between polls). The full bot is the real application from `bot.app.create_app`, served by
  aiohttp, receiving through its Telegram inbox (stored, confirmed, handled, marked done). The
  echo bot is a bare `Application` with `concurrent_updates(True)` and one handler that answers
  every message with its own text. The echo bot is the library as it comes, with its default httpx
  client; the full bot makes its Bot API calls through its own aiohttp-based request class
  (`bot/channels/telegram_http.py`, about half httpx's CPU per call: `bench/telegram_http.py`).
* webhook, N processes: N real `python -m bot run --role web` processes in Telegram webhook mode,
  sending to the fake server; the driver POSTs each update to the next process in turn, as a
  reverse proxy would. The baseline is N processes of the echo bot behind the same kind of
  webhook (`--serve-echo`: an aiohttp app that feeds each POSTed update to
  `Application.process_update` and answers when it is handled, as the full bot's webhook does).

The full bot runs on a fresh database, migrated with Alembic and holding the imported content:
SQLite (one file, shared by the N processes), or PostgreSQL, a new database created on the
server in TEST_POSTGRES_URL (`.ci/run` starts one and sets it) and dropped afterwards. Without
TEST_POSTGRES_URL the PostgreSQL set-ups are skipped with a message. Every update goes through
python-telegram-bot, the inbox, the per-citizen ordering, the conversation engine (one database
transaction per message) and the reply rendering. The bots log at WARNING; nothing is logged per
update at INFO either.

The workload: U citizens each keep exactly one update outstanding. A citizen types a message (a
question in plain text, or a command such as /menu or /trogiup); as soon as the bot has sent every
reply to it, the citizen types the next one, until N updates have been sent. One update
outstanding per chat makes matching replies to updates exact. How many replies each text gets is
learnt in an untimed warm-up before every run (by every process), and checked again for every chat
after the run. Each run has its own citizens (user ids), so nothing of one run counts in another.

Latency is the time from queueing an update on the fake server (polling), or from starting its POST
(webhook), to the first reply message to that chat (`Sent.at`, recorded by the fake server).
Throughput is N divided by the time from the first update to the last first reply. CPU is the
processor time per update: of this whole process in polling (bots, fake server and driver), of the
bot processes (and, apart, of this process) in webhook mode.

With U citizens always waiting, the bots run flat out and latency is mostly time spent in line (p50
is close to U / throughput). Run with `--users 1` to see the latency of one update on an idle bot.

How to read the ratios: `throughput ratio` = full / echo is the fraction of the bare library's
throughput the whole bot keeps (1.0 would mean the bot's own work is free); `p99 ratio` = full /
echo is how many times longer the slowest citizens wait. Everything runs on one machine, the fake
server and the driver included, so the absolute numbers depend on it; read the ratios within a
run. On a 2-core machine more than 2 processes cannot add throughput, and in webhook mode this
process (fake server and driver) needs a core of its own at high rates.

Usage, from the repository root (`.ci/run .venv/bin/python bench/throughput.py ...` for PostgreSQL):

    .venv/bin/python bench/throughput.py [--updates N] [--users U] [--rounds R]
        [--modes polling,webhook] [--backends sqlite,postgresql] [--processes 1,2,4] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import platform
import re
import shutil
import signal
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
from sqlalchemy.engine import make_url  # noqa: E402
from aiohttp import web  # noqa: E402
from telegram import Update  # noqa: E402
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters  # noqa: E402

from bench.processes import LoggedProcess, free_port, sqlite_url  # noqa: E402
from bot.app import create_app  # noqa: E402
from bot.config import Settings, load_settings  # noqa: E402
from content.importer import import_database  # noqa: E402
from handlers.engine import utc_now  # noqa: E402
from storage.db import create_engine, session_factory  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import StaffRole  # noqa: E402
from storage.staff import create_staff  # noqa: E402
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
MODES = ("polling", "webhook")
BACKENDS = ("sqlite", "postgresql")
POLL_TIMEOUT = 1
MAX_POLL_WAIT = 0.5
QUIET = 0.3
STALL = 30.0
START_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0
LOG_TAIL = 30  # lines of a process's output shown when it fails
WARMUP_USER_OFFSET = 900_000
USERS_PER_RUN = 1_000_000
SECRET = "bench-webhook-secret"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
FLOOD_BURST = 10_000  # flood control stays on, far above what one citizen sends in a run
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (WARNING|ERROR|CRITICAL) (.*)$")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

Deliver = Callable[[int, str], None]


@dataclass(frozen=True)
class Setup:
    """One comparison: how the bots receive, the full bot's database, how many processes each."""

    mode: str
    backend: str
    processes: int

    @property
    def label(self) -> str:
        """E.g. "webhook postgresql x2"."""
        return f"{self.mode} {self.backend} x{self.processes}"


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


@dataclass
class RunResult:
    """The numbers and the problems of one run of one bot."""

    setup: str
    bot: str
    round: int
    updates: int
    seconds: float
    throughput: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float  # per update: this process (polling) or the bot processes (webhook)
    driver_cpu_ms: float | None  # per update, this process, in webhook mode
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


def csv_of(allowed: tuple[str, ...] | None, kind: type = str) -> Callable[[str], list]:
    """An argparse type: a comma-separated list of allowed words, or of positive integers."""

    def parse(text: str) -> list:
        items = [item.strip() for item in text.split(",") if item.strip()]
        if not items:
            raise argparse.ArgumentTypeError("empty list")
        if kind is int:
            if not all(item.isdigit() and int(item) > 0 for item in items):
                raise argparse.ArgumentTypeError(f"{text!r}: positive whole numbers, comma-separated")
            return sorted({int(item) for item in items})
        unknown = [item for item in items if item not in (allowed or ())]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {unknown}; choose from {', '.join(allowed or ())}")
        return [item for item in (allowed or ()) if item in items]

    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=800, help="updates per run (default 800)")
    parser.add_argument("--users", type=int, default=50, help="distinct citizens per run (default 50)")
    parser.add_argument("--rounds", type=int, default=3, help="echo/full pairs of runs per set-up (default 3)")
    parser.add_argument("--modes", type=csv_of(MODES), default=list(MODES), help="polling,webhook (default both)")
    parser.add_argument("--backends", type=csv_of(BACKENDS), default=list(BACKENDS),
                        help="sqlite,postgresql (default both; postgresql needs TEST_POSTGRES_URL)")
    parser.add_argument("--processes", type=csv_of(None, int), default=[1, 2, 4],
                        help="process counts for webhook mode (default 1,2,4; polling always uses 1)")
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    parser.add_argument("--serve-echo", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.updates < 1 or args.users < 1 or args.rounds < 1:
        parser.error("--updates, --users and --rounds must be at least 1")
    return args


def setups(args: argparse.Namespace) -> list[Setup]:
    """Every comparison the options ask for, in the order they run."""
    found = []
    for mode in args.modes:
        for backend in args.backends:
            for processes in ([1] if mode == "polling" else args.processes):
                found.append(Setup(mode, backend, processes))
    return found


async def _prepare(url: str) -> None:
    """Import the content and create the dashboard's admin (so no bot start creates one and warns)."""
    now = utc_now()
    await import_database(url, now=now)
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            await create_staff(session, "admin", StaffRole.admin, None, "bench-admin-password", now, display_name="Admin")
            await session.commit()
    finally:
        await engine.dispose()


class Databases:
    """Fresh databases for the full bot, each a copy of one template migrated with Alembic and
    holding the content: a SQLite file, or a PostgreSQL database on TEST_POSTGRES_URL's server."""

    def __init__(self, workdir: Path, postgres_server: str | None) -> None:
        self.workdir = workdir
        self.postgres_server = postgres_server
        self.sqlite_template = workdir / "template.db"
        self.postgres_template: str | None = None
        self.created: list[str] = []

    def build(self, backends: set[str]) -> None:
        """Build the templates needed; runs outside any event loop."""
        if "sqlite" in backends:
            upgrade(sqlite_url(self.sqlite_template))
            asyncio.run(_prepare(sqlite_url(self.sqlite_template)))
        if "postgresql" in backends and self.postgres_server:
            from tests.postgres import create_database

            url = create_database(self.postgres_server, prefix="caunoi_bench_template")
            self.created.append(url)
            upgrade(url)
            asyncio.run(_prepare(url))
            self.postgres_template = make_url(url).database

    def fresh(self, backend: str, directory: Path) -> str:
        """The URL of a new copy of the template."""
        if backend == "sqlite":
            directory.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.sqlite_template, directory / "bot.db")
            return sqlite_url(directory / "bot.db")
        from tests.postgres import create_database

        assert self.postgres_server and self.postgres_template
        url = create_database(self.postgres_server, template=self.postgres_template, prefix="caunoi_bench")
        self.created.append(url)
        return url

    def drop_all(self) -> None:
        """Drop every PostgreSQL database made here (copies first, the template last)."""
        if not self.created:
            return
        from tests.postgres import drop_database

        for url in reversed(self.created):
            with contextlib.suppress(Exception):
                drop_database(self.postgres_server or "", url)
        self.created.clear()


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


def next_text(chat: ChatState) -> str:
    """The text a citizen types next: each citizen walks through TEXTS from its own starting point."""
    return TEXTS[(chat.index + chat.sent) % len(TEXTS)]


async def drive(
    fake: FakeTelegram, deliver: Deliver, first_user: int, users: int, updates: int, replies_per_text: dict[str, int]
) -> Loop:
    """Run the closed loop until `updates` updates got their first reply."""
    chats = {first_user + i: ChatState(first_user + i, i) for i in range(min(users, updates))}
    by_chat = {str(user_id): chat for user_id, chat in chats.items()}
    latencies: list[float] = []
    queued = 0
    stray = 0
    last_reply = 0.0

    def queue(chat: ChatState) -> None:
        nonlocal queued
        text = next_text(chat)
        chat.due = replies_per_text[text]
        chat.expected += chat.due
        chat.sent += 1
        chat.answered = False
        queued += 1
        chat.queued_at = time.monotonic()
        deliver(chat.user_id, text)

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
    return Loop(latencies, first_queue, last_reply, chats, stray)


# ---------------------------------------------------------------------------------------------
# How updates reach the bots


class Receiving:
    """How a started bot gets its updates: `deliver` hands one over; `finish` waits for the hand-overs
    and returns what went wrong; `cpu_seconds` is the bots' processor time so far (None: in here)."""

    def deliver(self, user_id: int, text: str) -> None:
        raise NotImplementedError

    async def finish(self) -> list[str]:
        return []

    async def tidy(self) -> list[str]:
        """After a run: leave nothing behind for the next one; what was left."""
        return []

    def cpu_seconds(self) -> float | None:
        return None

    def warm_up_targets(self) -> int:
        """How many receivers must each see every text once in the warm-up."""
        return 1


class Polled(Receiving):
    """The bot long-polls the fake server: an update is queued there for getUpdates."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.last_update_id = 0

    def deliver(self, user_id: int, text: str) -> None:
        """Queue a message for getUpdates."""
        self.last_update_id = self.fake.user_sends(user_id, text)["update_id"]

    async def tidy(self) -> list[str]:
        """Confirm, as Telegram's offset does, the updates the bot left unconfirmed."""
        pending = self.fake.pending_updates
        if not pending:
            return []
        async with aiohttp.ClientSession() as session:
            url = f"{self.fake.base_url}{self.fake.token}/getUpdates"
            async with session.post(url, data={"offset": str(self.last_update_id + 1), "timeout": "0"}) as response:
                response.raise_for_status()
        return [f"{pending} updates left unconfirmed by the bot; confirmed them before the next run"]


class Posted(Receiving):
    """The bots take webhooks: each update is POSTed to the next process in turn."""

    def __init__(self, fake: FakeTelegram, http: aiohttp.ClientSession, processes: list[ChildProcess]) -> None:
        self.fake = fake
        self.http = http
        self.processes = processes
        self.count = 0
        self.tasks: set[asyncio.Task[None]] = set()
        self.failures: list[str] = []
        self.target: int | None = None  # the warm-up sends to one process at a time
        self.exit_problems: list[str] = []  # found when the processes stop: bad exits, logged warnings

    def deliver(self, user_id: int, text: str) -> None:
        """Start the POST of a new message update to the next process."""
        update = self.fake.make_message_update(user_id, text)
        index = self.target if self.target is not None else self.count % len(self.processes)
        self.count += 1
        task = asyncio.create_task(self._post(self.processes[index], update))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _post(self, process: ChildProcess, update: dict) -> None:
        try:
            async with self.http.post(process.url("/webhook/telegram"), json=update,
                                      headers={SECRET_HEADER: SECRET}) as response:
                await response.read()
                if response.status != 200:
                    self.failures.append(f"{process.name}: HTTP {response.status} for update {update['update_id']}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.failures.append(f"{process.name}: {exc!r} for update {update['update_id']}")

    async def finish(self) -> list[str]:
        """Wait for every POST to be answered; the failures since the last call."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks))
        failures, self.failures = self.failures, []
        return failures

    def cpu_seconds(self) -> float:
        """Processor time of all the bot processes so far."""
        return sum(process.cpu_seconds() for process in self.processes)

    def warm_up_targets(self) -> int:
        return len(self.processes)


async def calibrate(fake: FakeTelegram, receiving: Receiving, first_user: int) -> tuple[dict[str, int], list[str]]:
    """Untimed warm-up: every receiver gets each text from its own new citizen; count the replies
    each text gets (they must agree between processes)."""
    start = fake.mark()
    users: dict[tuple[int, str], int] = {}
    for target in range(receiving.warm_up_targets()):
        if isinstance(receiving, Posted):
            receiving.target = target
        for index, text in enumerate(TEXTS):
            users[target, text] = first_user + target * len(TEXTS) + index
            receiving.deliver(users[target, text], text)
    if isinstance(receiving, Posted):
        receiving.target = None
    problems = await receiving.finish()
    for user_id in users.values():
        await fake.wait_for(lambda s, u=user_id: is_reply(s.method, s.chat_id, u), timeout=STALL, start=start)
    await settle(fake)
    calls = fake.sent[start:]
    counts = {key: sum(is_reply(s.method, s.chat_id, u) for s in calls) for key, u in users.items()}
    replies = {text: counts[0, text] for text in TEXTS}
    for (target, text), count in counts.items():
        if count != replies[text]:
            problems.append(f"warm-up: process {target + 1} sent {count} replies to {text!r}, process 1 {replies[text]}")
    return replies, problems


# ---------------------------------------------------------------------------------------------
# The bots


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a message with its own text."""
    assert update.message is not None
    await update.message.reply_text(update.message.text or "")


def echo_application(token: str, base_url: str, base_file_url: str, *, polling: bool) -> Application:
    """The bare python-telegram-bot echo bot."""
    builder = ApplicationBuilder().token(token).base_url(base_url).base_file_url(base_file_url)
    builder = builder.concurrent_updates(True) if polling else builder.updater(None)
    application = builder.build()
    application.add_handler(MessageHandler(filters.ALL, _echo))
    return application


@asynccontextmanager
async def polling_echo(fake: FakeTelegram, workdir: Path, databases: Databases, setup: Setup) -> AsyncIterator[Receiving]:
    """The echo bot long-polling the fake server, in this process."""
    application = echo_application(fake.token, fake.base_url, fake.base_file_url, polling=True)
    await application.initialize()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0, timeout=POLL_TIMEOUT)
    await application.start()
    try:
        yield Polled(fake)
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()


@asynccontextmanager
async def polling_full(fake: FakeTelegram, workdir: Path, databases: Databases, setup: Setup) -> AsyncIterator[Receiving]:
    """The whole Cầu Nối app in this process, served by aiohttp; its start-up begins long polling."""
    data = workdir / "data"
    settings = load_settings(
        database_url=databases.fresh(setup.backend, data),
        data_dir=data,
        secret_key="bench",
        telegram_bot_token=fake.token,
        telegram_base_url=fake.base_url,
        telegram_base_file_url=fake.base_file_url,
        telegram_poll_timeout=POLL_TIMEOUT,
        flood_burst=FLOOD_BURST,
        quiet_hours="",
        _env_file=None,
    )
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield Polled(fake)
    finally:
        await runner.cleanup()


async def serve_echo(port: int) -> None:
    """`--serve-echo PORT`: the echo bot behind a webhook on 127.0.0.1:PORT, until SIGTERM. The
    fake server's address and token come in the environment (BENCH_BASE_URL, ...)."""
    application = echo_application(os.environ["BENCH_TOKEN"], os.environ["BENCH_BASE_URL"],
                                   os.environ["BENCH_BASE_FILE_URL"], polling=False)

    async def webhook(request: web.Request) -> web.Response:
        if request.headers.get(SECRET_HEADER) != SECRET:
            raise web.HTTPForbidden()
        await application.process_update(Update.de_json(await request.json(), application.bot))
        return web.Response(text="ok")

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/webhook/telegram", webhook)
    app.router.add_get("/healthz", healthz)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with application:
        await application.start()
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
            await application.stop()


class ChildProcess(LoggedProcess):
    """A bot process started by the bench, its output kept in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int, workdir: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.port = port
        self.workdir = workdir
        self.log = workdir / f"{name}.log"

    def url(self, path: str) -> str:
        """An address on this process's web server."""
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        """Start it and wait until GET /healthz answers 200."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.spawn(self.argv, self.workdir, self.env)
        deadline = time.monotonic() + START_TIMEOUT
        last = "no answer"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with status {self.proc.returncode} while starting:\n{self.tail(LOG_TAIL)}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(self.url("/healthz")) as response:
                        last = f"HTTP {response.status}"
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name}: /healthz did not answer 200 within {START_TIMEOUT:.0f} s ({last}):\n{self.tail(LOG_TAIL)}")

    def cpu_seconds(self) -> float:
        """User and system time so far, from /proc/PID/stat."""
        assert self.proc is not None
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    async def stop(self) -> str | None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT; None, or what went wrong."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else f"{self.name} had exited, status {self.proc.returncode}"
        if await self.terminate(STOP_TIMEOUT) is None:
            return f"{self.name} did not exit within {STOP_TIMEOUT:.0f} s of SIGTERM: killed"
        return None if self.proc.returncode == 0 else f"{self.name} exited with status {self.proc.returncode}"


    def log_problems(self) -> list[str]:
        """Every WARNING, ERROR or CRITICAL line and every traceback in its output."""
        if not self.log.exists():
            return []
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            match = LOG_LINE.match(line)
            if match or line.startswith("Traceback"):
                found.append(f"{self.name}: {line[:200]}")
        return found


def _child_env(fake: FakeTelegram) -> dict[str, str]:
    """The environment without any bot setting of the caller's, plus what every child needs."""
    env = {key: value for key, value in os.environ.items() if key.lower() not in Settings.model_fields}
    env.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", BENCH_TOKEN=fake.token,
               BENCH_BASE_URL=fake.base_url, BENCH_BASE_FILE_URL=fake.base_file_url)
    return env


@asynccontextmanager
async def cluster(processes: list[ChildProcess], fake: FakeTelegram) -> AsyncIterator[Posted]:
    """Start the processes, POST updates to them, stop them; their log problems fail the run."""
    posted: Posted | None = None
    try:
        await asyncio.gather(*(process.start() for process in processes))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                         timeout=aiohttp.ClientTimeout(total=60)) as http:
            posted = Posted(fake, http, processes)
            yield posted
    finally:
        stopped = await asyncio.gather(*(process.stop() for process in processes))
        for process in processes:
            process.kill_now()
        problems = [*filter(None, stopped), *(p for process in processes for p in process.log_problems())]
        if posted is not None:
            posted.exit_problems = problems


def webhook_echo(fake: FakeTelegram, workdir: Path, setup: Setup) -> AbstractAsyncContextManager[Posted]:
    """N echo bot processes behind webhooks."""
    env = _child_env(fake)
    processes = []
    for number in range(1, setup.processes + 1):
        port = free_port()
        processes.append(ChildProcess(f"echo{number}", [sys.executable, str(Path(__file__).resolve()), "--serve-echo",
                                                         str(port)], env, port, workdir / f"echo{number}"))
    return cluster(processes, fake)


def webhook_full(fake: FakeTelegram, workdir: Path, databases: Databases, setup: Setup) -> AbstractAsyncContextManager[Posted]:
    """N `python -m bot run --role web` processes on one fresh database, in Telegram webhook mode."""
    database_url = databases.fresh(setup.backend, workdir / "data")
    processes = []
    for number in range(1, setup.processes + 1):
        port = free_port()
        env = _child_env(fake)
        env.update(
            DATABASE_URL=database_url, DATA_DIR=str(workdir / "data"), SECRET_KEY="bench", WEB_HOST="127.0.0.1",
            WEB_PORT=str(port), TELEGRAM_BOT_TOKEN=fake.token, TELEGRAM_BASE_URL=fake.base_url,
            TELEGRAM_BASE_FILE_URL=fake.base_file_url, TELEGRAM_WEBHOOK_SECRET=SECRET,
            TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{port}/webhook/telegram", QUIET_HOURS="",
            FLOOD_BURST=str(FLOOD_BURST), LOG_LEVEL="WARNING",
        )
        processes.append(ChildProcess(f"web{number}", [sys.executable, "-m", "bot", "run", "--role", "web"], env, port,
                                      workdir / f"web{number}"))
    return cluster(processes, fake)


# ---------------------------------------------------------------------------------------------
# Runs


async def measure(
    setup: Setup, name: str, receiving: Receiving, fake: FakeTelegram, round_number: int, run_number: int,
    args: argparse.Namespace, logs: LogCollector,
) -> RunResult:
    """Warm a started bot up, drive the workload, check every chat's replies."""
    first_log = len(logs.records)
    first_user = USERS_PER_RUN * run_number
    start_mark = fake.mark()
    replies_per_text, problems = await calibrate(fake, receiving, first_user + WARMUP_USER_OFFSET)
    missing = [text for text, count in replies_per_text.items() if count == 0]
    if missing:
        raise RuntimeError(f"{setup.label} {name} bot sent no reply to {missing} in the warm-up")
    bots_before, own_before = receiving.cpu_seconds(), time.process_time()
    loop = await drive(fake, receiving.deliver, first_user, args.users, args.updates, replies_per_text)
    own_cpu, bots_after = time.process_time() - own_before, receiving.cpu_seconds()
    problems += await receiving.finish()
    await settle(fake)
    problems += await receiving.tidy()
    calls = fake.sent[start_mark:]
    for chat in loop.chats.values():
        got = sum(is_reply(s.method, s.chat_id, chat.user_id) for s in calls)
        if got != chat.expected:
            problems.append(f"chat {chat.user_id}: {got} replies, expected {chat.expected}")
    foreign = sum(1 for s in calls if s.method in REPLY_METHODS and not first_user <= int(s.chat_id) < first_user + USERS_PER_RUN)
    if loop.stray or foreign:
        problems.append(f"{loop.stray} replies arrived after all expected ones, {foreign} went to chats of other runs")
    seconds = loop.last_reply - loop.first_queue
    count = len(loop.latencies)
    if bots_before is None or bots_after is None:
        cpu_ms, driver_ms = own_cpu / count * 1000, None
    else:
        cpu_ms, driver_ms = (bots_after - bots_before) / count * 1000, own_cpu / count * 1000
    return RunResult(
        setup=setup.label, bot=name, round=round_number, updates=count, seconds=seconds,
        throughput=count / seconds, p50_ms=percentile(loop.latencies, 0.50) * 1000,
        p99_ms=percentile(loop.latencies, 0.99) * 1000, cpu_ms=cpu_ms, driver_cpu_ms=driver_ms,
        replies_per_text=replies_per_text, problems=problems, log_records=len(logs.records) - first_log,
    )


async def run_setup(
    setup: Setup, fake: FakeTelegram, databases: Databases, workdir: Path, args: argparse.Namespace,
    logs: LogCollector, run_numbers: Iterator[int],
) -> list[RunResult]:
    """The rounds of one set-up: echo then full, each round."""
    results: list[RunResult] = []
    here = workdir / setup.label.replace(" ", "-")
    if setup.mode == "polling":
        bots = (("echo", polling_echo), ("full", polling_full))
        for round_number in range(1, args.rounds + 1):
            for name, starter in bots:
                run_number = next(run_numbers)
                async with starter(fake, here / f"run-{run_number}-{name}", databases, setup) as receiving:
                    results.append(await measure(setup, name, receiving, fake, round_number, run_number, args, logs))
        return results
    async with contextlib.AsyncExitStack() as stack:
        echo = await stack.enter_async_context(webhook_echo(fake, here, setup))
        full = await stack.enter_async_context(webhook_full(fake, here, databases, setup))
        for round_number in range(1, args.rounds + 1):
            for name, receiving in (("echo", echo), ("full", full)):
                run_number = next(run_numbers)
                results.append(await measure(setup, name, receiving, fake, round_number, run_number, args, logs))
    for name, posted in (("echo", echo), ("full", full)):
        last = [r for r in results if r.bot == name][-1]
        last.problems += [f"when stopped: {problem}" for problem in posted.exit_problems]
    return results


def median_of(results: list[RunResult], bot: str) -> dict[str, float]:
    """Median throughput, latencies and CPU of one bot over its runs."""
    mine = [r for r in results if r.bot == bot]
    medians = {key: statistics.median(getattr(r, key) for r in mine) for key in ("throughput", "p50_ms", "p99_ms", "cpu_ms")}
    drivers = [r.driver_cpu_ms for r in mine if r.driver_cpu_ms is not None]
    if drivers:
        medians["driver_cpu_ms"] = statistics.median(drivers)
    return medians


def summarise(setup: Setup, results: list[RunResult]) -> dict[str, object]:
    """Medians and ratios of one set-up."""
    full, echo = median_of(results, "full"), median_of(results, "echo")
    return {
        "setup": asdict(setup), "label": setup.label, "rounds": sum(r.bot == "full" for r in results),
        "median": {"full": full, "echo": echo},
        "ratio": {key: full[key] / echo[key] for key in ("throughput", "p50_ms", "p99_ms", "cpu_ms")},
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


def report(args: argparse.Namespace, results: list[RunResult], summaries: list[dict], skipped: list[str],
           logs: LogCollector) -> dict[str, object]:
    """Print every run, then one line per set-up with the medians and ratios; return it all as JSON."""
    context = machine()
    print("Cầu Nối Telegram throughput: whole bot vs bare python-telegram-bot echo bot")
    print(
        f"machine     {context['python']} on {context['platform']}, {context['cpu_count']} CPUs "
        f"({context['usable_cpus']} usable); python-telegram-bot {context['python_telegram_bot']}, "
        f"aiohttp {context['aiohttp']}"
    )
    print(
        f"parameters  {args.updates} updates per run from {args.users} users (one outstanding each), "
        f"{args.rounds} rounds of echo then full per set-up; poll timeout {POLL_TIMEOUT} s"
    )
    print(f"texts       {', '.join(TEXTS)}")
    counts = next((r.replies_per_text for r in results if r.bot == "full"), {})
    print(f"replies     full bot per text: {', '.join(f'{t} -> {n}' for t, n in counts.items())}")
    for line in skipped:
        print(f"skipped     {line}")
    print()
    headings = ("updates", "seconds", "upd/s", "p50 ms", "p99 ms", "cpu ms")
    print(f"{'set-up':<22}  {'round':>5}  {'bot':<4}  " + "  ".join(f"{h:>7}" for h in headings) + f"  {'logs':>5}")
    for r in results:
        print(
            f"{r.setup:<22}  {r.round:>5}  {r.bot:<4}  {r.updates:>7}  {r.seconds:>7.2f}  {r.throughput:>7.0f}  "
            f"{r.p50_ms:>7.1f}  {r.p99_ms:>7.1f}  {r.cpu_ms:>7.2f}  {r.log_records:>5}"
        )
    print()
    print("medians per set-up (cpu: ms of processor time per update, of this process in polling, of the")
    print("bot processes in webhook mode; ratio = full / echo)")
    print(f"{'set-up':<22}  {'rounds':>6}  {'full upd/s':>10}  {'echo upd/s':>10}  {'ratio':>5}  "
          f"{'full p99':>8}  {'echo p99':>8}  {'ratio':>5}  {'full cpu':>8}  {'echo cpu':>8}  {'ratio':>5}")
    for s in summaries:
        full, echo, ratio = s["median"]["full"], s["median"]["echo"], s["ratio"]
        print(
            f"{s['label']:<22}  {s['rounds']:>6}  {full['throughput']:>10.0f}  {echo['throughput']:>10.0f}  "
            f"{ratio['throughput']:>5.2f}  {full['p99_ms']:>8.0f}  {echo['p99_ms']:>8.0f}  {ratio['p99_ms']:>5.2f}  "
            f"{full['cpu_ms']:>8.2f}  {echo['cpu_ms']:>8.2f}  {ratio['cpu_ms']:>5.2f}"
        )
    drivers = [(s["label"], s["median"]["full"].get("driver_cpu_ms")) for s in summaries]
    if any(value is not None for _, value in drivers):
        print("bench process (fake server and driver) cpu ms per update, full runs: "
              + ", ".join(f"{label} {value:.2f}" for label, value in drivers if value is not None))
    print()
    problems = [f"{r.setup} round {r.round} {r.bot}: {p}" for r in results for p in r.problems]
    print("problems    " + ("none" if not problems else f"{len(problems)}"))
    for line in problems[:20]:
        print(f"  {line}")
    for line in describe_logs(logs.records):
        print(line)
    return {
        "machine": context,
        "parameters": {
            "updates": args.updates, "users": args.users, "rounds": args.rounds, "modes": args.modes,
            "backends": args.backends, "processes": args.processes, "poll_timeout": POLL_TIMEOUT, "texts": list(TEXTS),
        },
        "runs": [asdict(r) for r in results],
        "setups": summaries,
        "skipped": skipped,
        "problems": problems,
        "log_records": len(logs.records),
    }


async def run_all(
    args: argparse.Namespace, planned: list[Setup], databases: Databases, workdir: Path, logs: LogCollector
) -> tuple[list[RunResult], list[dict]]:
    """Every set-up, one after the other, against one fake server."""
    results: list[RunResult] = []
    summaries: list[dict] = []
    run_numbers = iter(range(1, 1_000_000))
    async with FakeTelegram(max_poll_wait=MAX_POLL_WAIT) as fake:
        for setup in planned:
            mine = await run_setup(setup, fake, databases, workdir, args, logs, run_numbers)
            results += mine
            summaries.append(summarise(setup, mine))
    return results, summaries


def main(argv: list[str] | None = None) -> int:
    """Build the template databases, run the benchmark, print (and optionally save) the results."""
    args = parse_args(argv)
    if args.serve_echo:
        asyncio.run(serve_echo(args.serve_echo))
        return 0
    logs = LogCollector()
    logging.basicConfig(level=logging.WARNING, handlers=[logs], force=True)
    logging.captureWarnings(True)
    postgres_server = os.environ.get("TEST_POSTGRES_URL", "").strip() or None
    planned = setups(args)
    skipped = []
    if postgres_server is None and "postgresql" in args.backends:
        skipped.append("PostgreSQL set-ups: TEST_POSTGRES_URL is not set "
                       "(`.ci/run .venv/bin/python bench/throughput.py ...` starts a server and sets it)")
        planned = [setup for setup in planned if setup.backend != "postgresql"]
    if not planned:
        print("nothing to run: " + "; ".join(skipped))
        return 2
    with tempfile.TemporaryDirectory(prefix="caunoi-bench-") as tmp:
        workdir = Path(tmp)
        databases = Databases(workdir, postgres_server)
        try:
            databases.build({setup.backend for setup in planned})
            results, summaries = asyncio.run(run_all(args, planned, databases, workdir, logs))
        except RuntimeError as exc:
            print(f"benchmark aborted: {exc}")
            for line in describe_logs(logs.records):
                print(line)
            return 2
        finally:
            databases.drop_all()
    summary = report(args, results, summaries, skipped, logs)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return 1 if summary["problems"] or logs.records else 0


if __name__ == "__main__":
    sys.exit(main())
