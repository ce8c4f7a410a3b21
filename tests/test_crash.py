"""Crash safety of the feedback flow: the real bot (`python -m bot run`) runs as a subprocess on the
fake Telegram server and is killed with SIGKILL at the worst moments, then started again.

- Killed right after the confirmation with the tracking code was sent: the ticket is in the
  database, once, and the press of "Gửi" that Telegram delivers again to the restarted bot (it may
  not have been confirmed by a getUpdates offset) creates no second ticket.
- Killed in the middle of the flow: the citizen continues from the same step after the restart.
- Killed after an update was fetched (and confirmed to Telegram by the next offset) but before it
  was handled: the restarted bot handles it from its inbox, and answers it exactly once.
- `python -m bot content import` killed while its transaction is open: the content is the old one,
  whole; the next import brings the new one.

The database is SQLite, or PostgreSQL under `make test-postgres`; every check reads it through its
own connection, apart from the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text

from bot.config import Settings
from storage.db import create_engine
from tests.browser import free_port
from tests.drivers import TelegramDriver, find_button, joined
from tests.fakes.telegram import FakeTelegram, Sent

ROOT = Path(__file__).resolve().parents[1]
CODE = re.compile(r"PA-[A-Z0-9]{6}")
CONFIRMATION = "Mã tra cứu"
START_TIMEOUT = 25.0
LOG_TAIL = 6000


class BotProcess:
    """`python -m bot run` as a child process; each start logs to its own file in the work dir."""

    def __init__(self, workdir: Path, env: dict[str, str], port: int, *, args: tuple[str, ...] = (),
                 healthy: str = '"polling"', name: str = "bot") -> None:
        self.workdir = workdir
        self.env = env
        self.port = port
        self.args = args  # after `python -m bot run`, e.g. ("--role", "web")
        self.healthy = healthy  # a healthy /healthz says this (default: Telegram polls)
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0
        self.logs: list[Path] = []

    @property
    def pid(self) -> int:
        assert self.proc is not None, "the bot was never started"
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the bot and wait until GET /healthz answers 200 (the Telegram poller is up by then)."""
        assert not self.running, "the bot is already running"
        self.runs += 1
        log = self.workdir / f"{self.name}-run-{self.runs}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", *self.args], cwd=self.workdir, env=self.env,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{self.port}/healthz"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last_error = "no answer yet"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while loop.time() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(f"the bot exited with status {self.proc.returncode} while starting\n{self.output()}")
                try:
                    async with http.get(url) as response:
                        body = await response.text()
                        if response.status == 200:
                            assert self.healthy in body, f"/healthz lacks {self.healthy}: {body}\n{self.output()}"
                            return
                        last_error = f"HTTP {response.status}: {body}"
                except (aiohttp.ClientError, TimeoutError) as exc:
                    last_error = repr(exc)
                await asyncio.sleep(0.1)
        raise AssertionError(f"the bot was not healthy within {timeout:.0f}s ({last_error})\n{self.output()}")

    async def kill(self, timeout: float = 10.0) -> None:
        """SIGKILL the bot and wait for it to end (without blocking the fake server's event loop)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGKILL)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.proc.poll() is None:
            if loop.time() > deadline:
                raise AssertionError(f"the bot (pid {self.proc.pid}) did not end within {timeout:.0f}s of SIGKILL")
            await asyncio.sleep(0.02)
        assert self.proc.returncode == -signal.SIGKILL, f"unexpected exit status {self.proc.returncode}"

    def kill_now(self) -> None:
        """Last-resort cleanup (sync): kill and reap the process if it still runs."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)

    def output(self) -> str:
        """The (tail of the) output of every run, for failure messages."""
        parts = []
        for index, log in enumerate(self.logs, start=1):
            text = log.read_text(errors="replace") if log.exists() else "(no log)"
            if len(text) > LOG_TAIL:
                text = "…" + text[-LOG_TAIL:]
            parts.append(f"----- {self.name} run {index} output (stdout+stderr) -----\n{text}")
        return "\n".join(parts) or "(the bot was never started)"


class Database:
    """The bot's database as the checks read it, each query on a connection of its own."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")

    async def query(self, sql: str, **params: object) -> list[tuple]:
        """Run one statement and commit; its rows (on SQLite's WAL, committed data is visible without the bot)."""
        engine = create_engine(self.url)
        try:
            async with engine.begin() as connection:
                result = await connection.execute(text(sql), params)
                return [tuple(row) for row in result.all()] if result.returns_rows else []
        finally:
            await engine.dispose()

    async def holders_gone(self, timeout: float = 10.0) -> None:
        """On PostgreSQL, wait until the server has seen the killed process's connections end, and
        with them its lease-holder lock (storage.holders): from then on a restart takes over what
        that process held at once. Nothing is expired by hand; SQLite has one process, which takes
        everything over at start-up anyway."""
        if self.is_sqlite:
            return
        deadline = time.monotonic() + timeout
        while await self.query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                               "(SELECT oid FROM pg_database WHERE datname = current_database())") != [(0,)]:
            assert time.monotonic() < deadline, "the killed process's lease-holder lock outlived it"
            await asyncio.sleep(0.05)


@pytest.fixture
def database(settings: Settings) -> Database:
    """A copy of the migrated, seeded template database: SQLite, or PostgreSQL with TEST_DATABASE=postgresql."""
    return Database(settings.database_url)


@pytest.fixture
async def bot(tmp_path: Path, database: Database, tg: FakeTelegram) -> AsyncIterator[BotProcess]:
    """The real bot as a subprocess on the fake Telegram server (not started yet); always killed."""
    # Nothing from the developer's environment that the bot reads as a setting.
    env = {key: value for key, value in os.environ.items() if key.lower() not in Settings.model_fields}
    port = free_port()
    env.update(
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        DATABASE_URL=database.url,
        DATA_DIR=str(tmp_path / "data"),
        SECRET_KEY="crash-test-secret-key",
        WEB_HOST="127.0.0.1",
        WEB_PORT=str(port),
        TELEGRAM_BOT_TOKEN=tg.token,
        TELEGRAM_BASE_URL=tg.base_url,
        TELEGRAM_BASE_FILE_URL=tg.base_file_url,
        TELEGRAM_POLL_TIMEOUT="1",
        LOG_LEVEL="INFO",
    )
    process = BotProcess(tmp_path, env, port)
    try:
        yield process
    finally:
        process.kill_now()


@contextlib.contextmanager
def explained(bot: BotProcess, tg: FakeTelegram) -> Iterator[None]:
    """Add the bot's output and the fake's record to any failure inside the block."""
    try:
        yield
    except (AssertionError, TimeoutError) as exc:
        calls = "\n".join(f"  {sent.method} chat={sent.chat_id} text={(sent.text or '')[:120]!r}" for sent in tg.sent[-40:])
        raise AssertionError(f"{exc}\n----- last Bot API calls -----\n{calls}\n{bot.output()}") from exc


async def settle(tg: FakeTelegram, *, quiet: float = 1.0, timeout: float = 10.0) -> None:
    """Wait until the bot has taken every queued update and sent nothing for `quiet` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while tg.pending_updates:
        if loop.time() > deadline:
            raise AssertionError(f"the bot did not take {tg.pending_updates} queued update(s) within {timeout:.0f}s")
        await asyncio.sleep(0.05)
    count = -1
    while count != len(tg.sent):
        if loop.time() > deadline:
            raise AssertionError(f"the bot kept sending for more than {timeout:.0f}s")
        count = len(tg.sent)
        await asyncio.sleep(quiet)


def confirmations(tg: FakeTelegram, user_id: int) -> list[Sent]:
    """Messages sent to the citizen that carry a tracking code."""
    return [
        sent for sent in tg.sent
        if sent.method == "sendMessage" and str(sent.chat_id) == str(user_id)
        and CONFIRMATION in (sent.text or "") and CODE.search(sent.text or "")
    ]


async def citizen_id(db: Database, user_id: int) -> int:
    rows = await db.query("SELECT id FROM citizen WHERE channel = 'telegram' AND channel_user_id = :user", user=str(user_id))
    assert len(rows) == 1, f"expected one citizen row for Telegram user {user_id}, got {rows}"
    return int(rows[0][0])


async def fill_in_until_summary(citizen: TelegramDriver, body: str) -> None:
    """/phananh → Góp ý → Vay vốn → text → Bỏ qua (photos) → Bỏ qua (location) → Ea Kao → anonymous."""
    await citizen.send("/phananh")
    await citizen.press("Góp ý")
    await citizen.press("Vay vốn")
    await citizen.send(body)
    await finish_from_photos(citizen)


async def finish_from_photos(citizen: TelegramDriver) -> None:
    """From the photos step to the summary."""
    await citizen.press("Bỏ qua")
    assert "vị trí" in joined(citizen.last).lower(), f"expected the location step, got: {joined(citizen.last)!r}"
    await citizen.press("Bỏ qua")
    assert "xã/phường nào" in joined(citizen.last), f"expected the commune step, got: {joined(citizen.last)!r}"
    await citizen.send("Ea Kao")
    await citizen.press("Gửi ẩn danh")
    summary = citizen.last[-1].text
    assert "Ea Kao" in summary and "ẩn danh" in summary, f"unexpected summary: {summary!r}"


async def test_kill_right_after_the_confirmation_keeps_one_ticket(bot: BotProcess, tg: FakeTelegram, database: Database) -> None:
    citizen = TelegramDriver(tg, user_id=6101)
    body = "Cán bộ ngân hàng hướng dẫn thủ tục vay vốn rất tận tình, cảm ơn."
    with explained(bot, tg):
        await bot.start()
        await fill_in_until_summary(citizen, body)

        # Press "Gửi" and kill the bot the moment the confirmation reaches Telegram.
        summary, action = find_button(citizen.last, "📨 Gửi")
        start = tg.mark()
        press = tg.user_presses(citizen.user_id, action, message=summary.raw)  # type: ignore[arg-type]
        sent = await tg.wait_for(
            lambda s: s.method == "sendMessage" and str(s.chat_id) == str(citizen.user_id) and bool(CODE.search(s.text or "")),
            timeout=10, start=start,
        )
        await bot.kill()
        await database.holders_gone()
        code = CODE.search(sent.text or "").group()  # type: ignore[union-attr]
        marked = await database.query("SELECT done_at IS NOT NULL FROM telegram_inbox WHERE update_id = :id",
                                      id=press["update_id"])
        done_at_kill = marked == [(1,)]

        # Telegram delivers the press again unless the dead bot confirmed it with a later offset
        # (PTB confirms on its next getUpdates, usually before the handler is done). Make the
        # redelivery happen either way: the same update, same update_id and callback query id.
        if tg.pending_updates == 0:
            tg.push_update(press)
        assert tg.pending_updates == 1, f"expected only the press of “Gửi” to be queued, got {tg.pending_updates}"

        restart = tg.mark()
        await bot.start()
        await settle(tg)
        again = [s for s in tg.sent[restart:] if s.method == "sendMessage" and str(s.chat_id) == str(citizen.user_id)]
        if done_at_kill:  # the inbox had it handled: the redelivery is only acknowledged
            assert again == [], f"a press already handled was answered again: {[s.text for s in again]}"
        else:  # handled again from the start: the ticket exists, so it is answered without a new one
            assert again, "the restarted bot did not answer the press of “Gửi” delivered again"
            assert not any(CODE.search(s.text or "") for s in again), (
                f"the press delivered again produced another tracking code: {[s.text for s in again]}"
            )

        tickets = await database.query("SELECT code, kind, topic, body, area_code, anonymous, citizen_id FROM ticket")
        assert len(tickets) == 1, f"expected exactly one ticket after the crash and restart, got {len(tickets)}: {tickets}"
        person = await citizen_id(database, citizen.user_id)
        assert tickets[0] == (code, "feedback", "credit", body, "24169", 1, person), tickets[0]
        codes = [c.text for c in confirmations(tg, citizen.user_id)]
        assert len(codes) == 1 and code in codes[0], f"expected one confirmation with {code}, got {codes}"
        state = await database.query("SELECT state FROM conversation WHERE citizen_id = :person", person=person)
        assert state in ([], [("idle",)]), f"the citizen is still in a flow after submitting: {state}"


async def test_kill_in_the_middle_of_the_flow_continues_from_the_same_step(
    bot: BotProcess, tg: FakeTelegram, database: Database
) -> None:
    citizen = TelegramDriver(tg, user_id=6102)
    body = "Đường vào thôn bị sạt lở, xe chở phân bón không vào được."
    with explained(bot, tg):
        await bot.start()
        await citizen.send("/phananh")
        await citizen.press("Góp ý")
        await citizen.press("Vay vốn")
        await citizen.send(body)
        assert "Bỏ qua" in [label for label, _ in citizen.last[-1].buttons], f"expected the photos step: {citizen.last}"
        await bot.kill()
        await database.holders_gone()

        rows = await database.query("SELECT state, data FROM conversation WHERE citizen_id = :person",
                                    person=await citizen_id(database, citizen.user_id))
        assert len(rows) == 1 and rows[0][0] == "feedback.photos", f"the step was not saved before the crash: {rows}"
        data = rows[0][1]
        draft = (json.loads(data) if isinstance(data, str) else data).get("draft", {})
        assert draft.get("body") == body, f"the draft lost the message: {draft}"

        await bot.start()
        await settle(tg, quiet=0.5)  # whatever Telegram delivers again (the text, if unconfirmed)
        await finish_from_photos(citizen)
        await citizen.press("📨 Gửi")
        match = CODE.search(joined(citizen.last))
        assert match, f"no tracking code after submitting: {joined(citizen.last)!r}"

        tickets = await database.query("SELECT code, topic, body, area_code FROM ticket")
        assert tickets == [(match.group(), "credit", body, "24169")], f"expected one ticket {match.group()}, got {tickets}"
        assert len(confirmations(tg, citizen.user_id)) == 1


async def test_kill_after_an_update_was_fetched_but_before_it_was_handled(bot: BotProcess, tg: FakeTelegram, database: Database) -> None:
    citizen = TelegramDriver(tg, user_id=6103)
    reached, never = asyncio.Event(), asyncio.Event()
    answer_callback = tg._methods["answercallbackquery"][1]

    async def stuck_answer(params: dict) -> bool:
        """The bot answers a button press before it handles it: hold it right there."""
        reached.set()
        await never.wait()
        return True

    with explained(bot, tg):
        await bot.start()
        await citizen.send("/start")
        tg.set_method("answerCallbackQuery", stuck_answer)
        summary, action = find_button(citizen.last, "Đồng ý")
        press = tg.user_presses(citizen.user_id, action, message=summary.raw)  # type: ignore[arg-type]
        start = tg.mark()
        await asyncio.wait_for(reached.wait(), 10)
        # The next long poll confirms the press to Telegram, which then forgets it.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while tg.pending_updates and loop.time() < deadline:
            await asyncio.sleep(0.02)
        await bot.kill()
        await database.holders_gone()
        assert tg.pending_updates == 0, "the press was not confirmed to Telegram: nothing was tested"
        assert not [s for s in tg.sent[start:] if s.method == "sendMessage"], "the press was answered before the kill"
        stored = await database.query("SELECT done_at IS NULL, payload IS NOT NULL FROM telegram_inbox WHERE update_id = :id",
                                      id=press["update_id"])
        assert stored == [(1, 1)], f"the press is not waiting in the inbox: {stored}"

        tg.set_method("answerCallbackQuery", answer_callback)
        await bot.start()
        await settle(tg)
        answers = [s.text or "" for s in tg.sent[start:] if s.method == "sendMessage" and str(s.chat_id) == str(citizen.user_id)]
        assert len(answers) == 2 and "cảm ơn" in answers[0] and "ngôn ngữ nào" in answers[1], (
            f"expected the answer to the press once (thanks, then the language question), got {answers}"
        )
        assert await database.query("SELECT done_at IS NOT NULL, payload IS NULL FROM telegram_inbox WHERE update_id = :id",
                                    id=press["update_id"]) == [(1, 1)]
        consent = await database.query("SELECT consent_at IS NOT NULL FROM citizen WHERE id = :person",
                                       person=await citizen_id(database, citizen.user_id))
        assert consent == [(1,)], "the consent given by the press was not saved"


OLD = "2001-01-01 00:00:00.000000"


async def content_snapshot(db: Database) -> tuple[int, int, int, int]:
    """(FAQ entries, of which from the old import, stories, of which old) as stored."""
    counts = []
    for table in ("faq_entry", "story"):
        [(rows, old)] = await db.query(
            f"SELECT COUNT(*), SUM(CASE WHEN updated_at < '2002-01-01' THEN 1 ELSE 0 END) FROM {table}"
        )
        counts += [rows, old or 0]
    return counts[0], counts[1], counts[2], counts[3]


async def test_kill_during_a_content_import_keeps_the_old_content_whole(bot: BotProcess, database: Database) -> None:
    # "The old content": every row from an earlier import, and two entries fewer.
    await database.query(f"UPDATE faq_entry SET updated_at = '{OLD}'")
    await database.query(f"UPDATE story SET updated_at = '{OLD}'")
    await database.query("DELETE FROM faq_entry WHERE id IN (SELECT id FROM faq_entry ORDER BY id LIMIT 2)")
    old = await content_snapshot(database)
    assert old[0] == old[1] and old[2] == old[3], old

    for wait in (0.0, 0.05):
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "content", "import"], cwd=bot.workdir, env=bot.env,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            # The importer writes in one transaction: kill it while that transaction holds its writes.
            assert await _writing(database, process), "the import was never seen writing: nothing was tested"
            await asyncio.sleep(wait)
            process.kill()
            process.wait(10)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        now = await content_snapshot(database)
        assert now == old, f"content after a killed import: {now}, before: {old}"

    finished = subprocess.run(
        [sys.executable, "-m", "bot", "content", "import"], cwd=bot.workdir, env=bot.env,
        capture_output=True, timeout=60,
    )
    assert finished.returncode == 0, finished.stderr.decode(errors="replace")[-2000:]
    faqs, old_faqs, stories, old_stories = await content_snapshot(database)
    assert (faqs, old_faqs, stories, old_stories) == (old[0] + 2, 0, old[2], 0)


async def _writing(db: Database, process: subprocess.Popen[bytes], timeout: float = 30.0) -> bool:
    """Wait until another connection has written in a transaction still open (True), or the
    process ends: on SQLite it holds the write lock, on PostgreSQL a row-exclusive lock."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    if db.is_sqlite:
        path = db.url.removeprefix("sqlite+aiosqlite:///")
        while process.poll() is None and loop.time() < deadline:
            connection = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                connection.execute("BEGIN IMMEDIATE")
                connection.execute("ROLLBACK")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc):
                    return True
                raise
            finally:
                connection.close()
            await asyncio.sleep(0.001)
        return False
    engine = create_engine(db.url)
    held = text("SELECT count(*) FROM pg_locks WHERE mode = 'RowExclusiveLock' AND granted AND pid <> pg_backend_pid()"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
    try:
        async with engine.connect() as connection:
            while process.poll() is None and loop.time() < deadline:
                found = (await connection.execute(held)).scalar_one()
                await connection.rollback()
                if found:
                    return True
                await asyncio.sleep(0.001)
    finally:
        await engine.dispose()
    return False


async def test_kill_in_the_middle_of_onboarding_continues_from_the_same_step(bot: BotProcess, tg: FakeTelegram, database: Database) -> None:
    citizen = TelegramDriver(tg, user_id=6104)
    with explained(bot, tg):
        await bot.start()
        await citizen.send("/start")
        await citizen.press("Đồng ý")
        await citizen.press("Tiếng Việt")
        assert "xã/phường nào" in citizen.last[-1].text
        await bot.kill()
        await database.holders_gone()

        await bot.start()
        await settle(tg, quiet=0.5)
        await citizen.send("ea kao")
        assert "đã lưu: phường Ea Kao" in joined(citizen.last), joined(citizen.last)
        await citizen.press("Hộ cận nghèo")
        assert "đã cài đặt xong" in citizen.last[-1].text
        row = await database.query("SELECT locale, area_code, household_status, consent_at IS NOT NULL FROM citizen "
                                   "WHERE channel_user_id = :user", user=str(citizen.user_id))
        assert row == [("vi", "24169", "near_poor", 1)], row
