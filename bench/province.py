"""A province after 18 months: every staff and public page, the reports, a backup and a chat turn,
timed on an empty database and on one filled with what a province accumulates.

What is generated. A database migrated with Alembic and holding the areas and content (SQLite in a
temporary folder, or a new database on the PostgreSQL server of `--postgres`), then, over the 18
months before today: H consenting, subscribed households spread over the 102 communes and the four
channels; N province-wide notices, each with one outbox row per household (sent, a few failed or
skipped, payloads of a real notice's size), so N × H outbox rows; T tickets of every kind and status
with E timeline events each, and an outbox reply for each answered one; F hourly FAQ counters
(hour × commune × entry); Q quiz rounds of 5 questions; P polls of A answers each. Defaults are the
issue's numbers: H 100,000, N 100 (10,000,000 outbox rows), T 60,000, E 4, F 3,000,000, Q 200,000,
P 10 × 30,000. `--scale S` multiplies every count (so the outbox by S²); `--scale 0.05` makes a
run of a few minutes.

What is measured, in this process, on the empty database first (the baseline) and then on the
filled one, through the real aiohttp app (`bot.app.create_app`, all roles, its own engine) on a
loopback port, signed in as an administrator:

* each dashboard page and each public page: the median of 5 requests (public pages with their
  minute cache emptied before each, i.e. the first request of a minute); a page slower than 5 s
  is timed once, and one slower than `--report-limit` is shown as "> limit";
* the 6-monthly and the annual reports, from asking for one in the dashboard to its file downloaded
  (a background job: the request, its page until done, the download; a run longer than
  `--report-limit` seconds is stopped and shown as "> limit");
* `python -m bot db backup` as its own process, and the size of what it wrote;
* a web chat turn alone, and while a 6-monthly report is being made (the citizen waits for that).

It prints one table: the time on the empty database, on the filled one, and their ratio. Exit
status 0 unless something failed to answer 200; the targets (every page under 300 ms, reports
under 30 s, a chat turn under 1 s while a report runs) are reported, not enforced.

Usage, from the repository root:

    .venv/bin/python bench/province.py [--scale S] [--postgres URL] [--households H] [--notices N] ...

`--keep DIR` keeps the filled database (generating the full size takes a while) and measures it
again, migrated to the current schema, on a later run with the same DIR.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from aiohttp.test_utils import TestServer  # noqa: E402

from bot.app import create_app  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.public import CACHE  # noqa: E402
from content.importer import import_database  # noqa: E402
from storage import faq_summary  # noqa: E402
from storage import tally  # noqa: E402
from storage.db import create_engine, session_factory  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import (  # noqa: E402
    Area, Broadcast, Citizen, FaqUsageRow, FaqUsageSpan, FaqUsageSummary, OutboxMessage, Poll, PollAnswer,
    QuizAnswerCount, QuizPlay, Ticket, TicketEvent,
)
from storage.staff import create_staff  # noqa: E402
from storage.tickets import search_text_of  # noqa: E402

SIZES = {  # the province after 18 months
    "households": 100_000, "notices": 100, "tickets": 60_000, "events": 4, "faq_rows": 3_000_000,
    "quiz_rounds": 200_000, "polls": 10, "poll_answers": 30_000,
}
CHUNK = 5_000
SLOW = 5.0  # seconds: a page this slow is timed once
MONTHS = 18
CHANNELS = ("zalo_oa", "zalo_oa", "telegram", "zalo_bot", "webchat")
KINDS = ("question", "problem", "feedback", "suggestion", "complaint")
STATUSES = ("new", "assigned", "in_progress", "answered", "closed", "closed", "closed", "rejected")
NOTICE = ("Thông báo của UBND tỉnh về việc rà soát hộ nghèo, hộ cận nghèo năm nay: bà con chuẩn bị giấy tờ, "
          "đến nhà văn hóa thôn vào sáng thứ Bảy để cán bộ xã hướng dẫn kê khai theo Mẫu số 01. ") * 3
ADMIN, PASSWORD = "bench.admin", "a long bench password 4821"


@dataclass
class Page:
    name: str
    path: str
    public: bool = False


@dataclass
class Row:
    name: str
    empty: float | None = None
    filled: float | None = None
    note: str = ""


@dataclass
class Seeded:
    ticket_code: str = ""
    broadcast_id: int = 0
    poll_id: int = 0
    counts: dict[str, int] = field(default_factory=dict)


def code(n: int) -> str:
    """The n-th tracking code, in the codes' own alphabet (PA-AAAAAA, PA-AAAAAB, …)."""
    alphabet = "ABCDEFGHJKMNPQRSTWXYZ23456789"
    symbols = []
    for _ in range(6):
        n, rest = divmod(n, len(alphabet))
        symbols.append(alphabet[rest])
    return "PA-" + "".join(reversed(symbols))


# ----- the data --------------------------------------------------------------------------------


def chunks(rows: Iterable[dict], size: int = CHUNK) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


async def insert(engine: Any, table: Any, rows: Iterable[dict]) -> int:
    """Insert in chunks, one transaction per chunk; how many rows."""
    count = 0
    for batch in chunks(rows):
        async with engine.begin() as connection:
            await connection.execute(sa.insert(table), batch)
        count += len(batch)
    return count


async def summarize(engine: Any, now: datetime) -> None:
    """What the scheduler keeps up to date: the notice counters folded, the FAQ days and months summed."""
    began = time.monotonic()
    async with session_factory(engine)() as session:
        folded = await tally.fold_all(session, limit=100_000)
    log(f"notice counters: {folded:,} changes folded in {time.monotonic() - began:.0f} s")
    began = time.monotonic()
    tz = ZoneInfo(Settings.model_fields["timezone"].default)
    days = 0
    while True:  # what the scheduler does as each day ends (bot.app, "faq-summaries")
        async with session_factory(engine)() as session:
            made = await faq_summary.refresh(session, tz, now, limit=31)
            await session.commit()
        days += made
        if made < 31:
            break
    log(f"faq_usage summed for {days} days in {time.monotonic() - began:.0f} s")


async def resummarize(url: str) -> None:
    """A kept database: the FAQ summaries made again by this version's code (their tables too)."""
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for table in (FaqUsageSummary.__table__, FaqUsageSpan.__table__):
                await connection.run_sync(table.drop, checkfirst=True)
                await connection.run_sync(table.create)
        await summarize(engine, datetime.now(UTC))
    finally:
        await engine.dispose()


async def seed(url: str, sizes: dict[str, int], now: datetime, rng: random.Random) -> Seeded:
    """Fill a migrated database with a province's 18 months (see the module docstring)."""
    engine = create_engine(url)
    seeded = Seeded()
    start = now - timedelta(days=30 * MONTHS)
    span = (now - start).total_seconds()

    def moment() -> datetime:
        return start + timedelta(seconds=rng.random() * span)

    try:
        async with engine.connect() as connection:
            communes = [code for (code,) in await connection.execute(
                sa.select(Area.code).where(Area.level != "province").order_by(Area.code))]
            faq_ids = [faq for (faq,) in await connection.execute(sa.text("SELECT id FROM faq_entry ORDER BY id"))]
        began = time.monotonic()
        households = sizes["households"]
        seeded.counts["citizen"] = await insert(engine, Citizen.__table__, (
            {"channel": CHANNELS[n % len(CHANNELS)], "channel_user_id": f"bench-{n}", "locale": "vi",
             "area_code": communes[n % len(communes)], "household_status": ("poor", "near_poor", "other")[n % 3],
             "subscribed": True, "consent_at": start, "created_at": start + timedelta(minutes=n), "last_seen_at": moment()}
            for n in range(households)
        ))
        async with engine.connect() as connection:
            citizen_ids = [cid for (cid,) in await connection.execute(sa.select(Citizen.id).order_by(Citizen.id))]
        log(f"citizens: {len(citizen_ids):,} in {time.monotonic() - began:.0f} s")

        began = time.monotonic()
        sends = sorted(start + timedelta(days=(30 * MONTHS) * (n + 0.5) / max(sizes["notices"], 1))
                       for n in range(sizes["notices"]))
        broadcast_ids = []
        for send_at in sends:
            async with engine.begin() as connection:
                result = await connection.execute(sa.insert(Broadcast.__table__).values(
                    texts={"vi": NOTICE}, buttons=[], target={"areas": ["66"]}, status="done", send_at=send_at,
                    author=ADMIN, recipients=households, created_at=send_at - timedelta(hours=1), queued_at=send_at,
                ).returning(Broadcast.__table__.c.id))
                broadcast_ids.append(result.scalar_one())
        seeded.broadcast_id = broadcast_ids[-1] if broadcast_ids else 0

        def outbox_rows() -> Iterator[dict]:
            for broadcast_id, send_at in zip(broadcast_ids, sends, strict=True):
                for n, cid in enumerate(citizen_ids):
                    status = "failed" if n % 97 == 0 else "skipped" if n % 89 == 0 else "sent"
                    yield {"citizen_id": cid, "channel": CHANNELS[n % len(CHANNELS)], "chat_id": f"bench-{n}",
                           "payload": {"text": NOTICE, "buttons": []}, "priority": 7, "status": status,
                           "attempts": 1, "next_attempt_at": send_at, "dedupe_key": f"broadcast:{broadcast_id}:{cid}",
                           "broadcast_id": broadcast_id, "bulk": True, "created_at": send_at,
                           "sent_at": send_at + timedelta(seconds=n / 25) if status == "sent" else None,
                           "reason": "blocked" if status == "skipped" else None,
                           "area_code": communes[n % len(communes)]}
        seeded.counts["outbox (notices)"] = await insert(engine, OutboxMessage.__table__, outbox_rows())
        log(f"outbox: {seeded.counts['outbox (notices)']:,} in {time.monotonic() - began:.0f} s")

        began = time.monotonic()
        tickets = []
        for n in range(sizes["tickets"]):
            created = moment()
            status = STATUSES[n % len(STATUSES)]
            body = f"Nhà tôi ở thôn {n % 30 + 1} chưa được rà soát hộ nghèo năm nay, mong xã xem lại. Số {n}."
            tickets.append({
                "code": code(n), "kind": KINDS[n % len(KINDS)], "topic": "", "citizen_id": citizen_ids[n % len(citizen_ids)],
                "area_code": communes[n % len(communes)], "status": status, "anonymous": n % 4 == 0,
                "body": body, "search_text": search_text_of(code(n), "", body),  # as tickets.create_ticket writes it
                "locale": "vi", "created_at": created, "due_at": created + timedelta(days=10),
                "answered_at": created + timedelta(days=3) if status in ("answered", "closed") else None,
                "closed_at": created + timedelta(days=5) if status == "closed" else None,
                "updated_at": created + timedelta(days=3), "rating": 4 if status == "closed" else None,
            })
        seeded.counts["ticket"] = await insert(engine, Ticket.__table__, tickets)
        async with engine.connect() as connection:
            ticket_rows = list(await connection.execute(sa.select(Ticket.id, Ticket.code, Ticket.created_at, Ticket.status,
                                                                  Ticket.citizen_id).order_by(Ticket.id)))
        seeded.ticket_code = ticket_rows[len(ticket_rows) // 2].code if ticket_rows else ""
        seeded.counts["ticket_event"] = await insert(engine, TicketEvent.__table__, (
            {"ticket_id": tid, "kind": ("created", "note", "status", "reply", "note")[e % 5], "public": e == 3,
             "text": "Cán bộ xã đã ghi nhận và sẽ trả lời bà con." if e else "", "created_at": created + timedelta(hours=e)}
            for tid, _code, created, _status, _cid in ticket_rows for e in range(sizes["events"])
        ))
        seeded.counts["outbox (replies)"] = await insert(engine, OutboxMessage.__table__, (
            {"citizen_id": cid, "channel": "telegram", "chat_id": f"bench-{cid}", "payload": {"text": "Dạ, xã trả lời."},
             "priority": 1, "status": "sent", "attempts": 1, "next_attempt_at": created, "dedupe_key": f"ticket:{tid}:reply:1",
             "bulk": False, "created_at": created + timedelta(days=3), "sent_at": created + timedelta(days=3)}
            for tid, _code, created, status, cid in ticket_rows if status in ("answered", "closed")
        ))
        log(f"tickets: {len(ticket_rows):,} with events and replies in {time.monotonic() - began:.0f} s")

        began = time.monotonic()
        hours = int(span // 3600)
        per_hour = max(1, -(-sizes["faq_rows"] // max(hours, 1)))
        pairs = [(area, faq) for area in communes for faq in faq_ids]

        def usage_rows() -> Iterator[dict]:
            made = 0
            first = start.replace(minute=0, second=0, microsecond=0)
            for hour in range(hours):
                for area, faq in rng.sample(pairs, min(per_hour, len(pairs), sizes["faq_rows"] - made)):
                    yield {"hour": first + timedelta(hours=hour), "area_code": area, "faq_id": faq,
                           "shown": rng.randint(1, 5), "helpful": rng.randint(0, 1), "unhelpful": 0}
                    made += 1
                if made >= sizes["faq_rows"]:
                    return
        seeded.counts["faq_usage"] = await insert(engine, FaqUsageRow.__table__, usage_rows())
        log(f"faq_usage: {seeded.counts['faq_usage']:,} in {time.monotonic() - began:.0f} s")
        await summarize(engine, now)

        began = time.monotonic()
        async with engine.connect() as connection:
            question_ids = [q for (q,) in await connection.execute(sa.text("SELECT id FROM quiz_question ORDER BY id"))]
        answered: Counter[tuple[str, int]] = Counter()

        def quiz_rounds() -> Iterator[dict]:
            for n in range(sizes["quiz_rounds"]):
                drawn, choices = rng.sample(question_ids, min(5, len(question_ids))), [0, 1, 0, 2, 1]
                answered.update(zip(drawn, choices, strict=False))  # what each answer adds as it is recorded
                yield {"citizen_id": citizen_ids[n % len(citizen_ids)], "area_code": communes[n % len(communes)],
                       "question_ids": drawn, "answers": choices, "score": n % 6, "started_at": (at := moment()),
                       "finished_at": at + timedelta(minutes=3)}
        seeded.counts["quiz_play"] = await insert(engine, QuizPlay.__table__, quiz_rounds())
        await insert(engine, QuizAnswerCount.__table__, (
            {"question_id": question, "choice": choice, "answers": count} for (question, choice), count in sorted(answered.items())
        ))
        for p in range(sizes["polls"]):
            opens = start + timedelta(days=45 * p)
            async with engine.begin() as connection:
                poll_id = (await connection.execute(sa.insert(Poll.__table__).values(
                    texts={"vi": f"Bà con thấy lớp tập huấn số {p + 1} có ích không?"},
                    choices=[{"vi": "Có ích"}, {"vi": "Bình thường"}, {"vi": "Không"}], target={"areas": ["66"]},
                    status="closed", opens_at=opens, closes_at=opens + timedelta(days=14), recipients=households,
                    author=ADMIN, created_at=opens, opened_at=opens,
                ).returning(Poll.__table__.c.id))).scalar_one()
            seeded.poll_id = poll_id
            await insert(engine, PollAnswer.__table__, (
                {"poll_id": poll_id, "citizen_id": cid, "choice": n % 3, "area_code": communes[n % len(communes)],
                 "household_status": "poor", "channel": CHANNELS[n % len(CHANNELS)],
                 "answered_at": opens + timedelta(hours=n % 300), "updated_at": opens + timedelta(hours=n % 300)}
                for n, cid in enumerate(citizen_ids[:sizes["poll_answers"]])
            ))
        seeded.counts["poll_answer"] = sizes["polls"] * min(sizes["poll_answers"], len(citizen_ids))
        log(f"quiz rounds and polls in {time.monotonic() - began:.0f} s")
        if engine.dialect.name == "postgresql":
            async with engine.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.execute(sa.text("ANALYZE"))
        else:
            async with engine.begin() as connection:
                await connection.execute(sa.text("ANALYZE"))
    finally:
        await engine.dispose()
    return seeded


# ----- the timings -----------------------------------------------------------------------------


def pages(seeded: Seeded, today: date) -> list[Page]:
    year_ago = (today - timedelta(days=365)).isoformat()
    found = [
        Page("overview", "/admin"), Page("inbox", "/admin/inbox"), Page("inbox, overdue", "/admin/inbox?overdue=1"),
        Page("notices list", "/admin/broadcasts"), Page("statistics, 12 weeks", "/admin/stats"),
        Page("statistics, 12 months", f"/admin/stats?from={year_ago}&to={today.isoformat()}"),
        Page("quiz", "/admin/quiz"), Page("quiz questions", "/admin/quiz/questions"), Page("polls", "/admin/polls"),
        Page("dialogues", "/admin/dialogues"), Page("content", "/admin/content"), Page("unanswered", "/admin/unanswered"),
        Page("staff", "/admin/staff"), Page("audit log", "/admin/audit"), Page("reports", "/admin/reports"),
        Page("campaigns", "/admin/campaigns"), Page("inbox, a word searched", "/admin/inbox?q=h%E1%BB%99+ngh%C3%A8o"),
        Page("inbox, one commune", "/admin/inbox?area=24175"), Page("new notice", "/admin/broadcasts/new"),
        Page("recipients counted", "/admin/broadcasts/count?province=1"), Page("nominations", "/admin/nominations"),
        Page("self-check questions", "/admin/content/selfcheck"), Page("posters", "/admin/posters"),
        Page("statistics, one commune, 12 months", f"/admin/stats?area=24175&from={year_ago}&to={today.isoformat()}"),
        Page("public /", "/", public=True), Page("public FAQ", "/hoi-dap", public=True),
        Page("public stories", "/cau-chuyen", public=True), Page("public statistics", "/thong-ke", public=True),
        Page("public calendar", "/lich", public=True),
    ]
    if seeded.ticket_code:
        found.insert(2, Page("ticket page", f"/admin/tickets/{seeded.ticket_code}"))
    if seeded.broadcast_id:
        found.insert(4, Page("notice page", f"/admin/broadcasts/{seeded.broadcast_id}"))
    if seeded.poll_id:
        found.append(Page("poll results", f"/admin/polls/{seeded.poll_id}"))
    return found


async def timed(call: Callable[[], Awaitable[int]]) -> tuple[float, int]:
    began = time.perf_counter()
    status = await call()
    return time.perf_counter() - began, status


async def measure(url: str, data_dir: Path, seeded: Seeded, args: argparse.Namespace) -> dict[str, tuple[float | None, str]]:
    """Every timing of the module docstring on the database at `url`: name → (seconds or None, note)."""
    settings = Settings(_env_file=None, database_url=url, data_dir=data_dir, secret_key="b" * 40,  # type: ignore[call-arg]
                        quiet_hours="", admin_password="")
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            from sqlmodel.ext.asyncio.session import AsyncSession
            async with AsyncSession(connection) as session:
                if not (await session.exec(sa.text("SELECT 1 FROM staff WHERE username = :u").bindparams(u=ADMIN))).first():  # type: ignore[call-overload]
                    await create_staff(session, ADMIN, "admin", None, PASSWORD, datetime.now(UTC))
                    await session.commit()
    finally:
        await engine.dispose()
    app = create_app(settings)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    results: dict[str, tuple[float | None, str]] = {}
    try:
        async with aiohttp.ClientSession(base_url=str(server.make_url("/")), timeout=aiohttp.ClientTimeout(total=None),
                                         cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:  # cookies of 127.0.0.1
            await sign_in(http)
            today = datetime.now(settings.tz).date()
            for page in pages(seeded, today):
                results[page.name] = await page_time(app, http, page, args.report_limit)
            for name, period in (("6-monthly report", "last-half"), ("annual report", "last-year")):
                results[name] = await report(http, period, args.report_limit)
            results["chat turn"] = (await chat_turn(http), "")
            results["chat turn while a report runs"] = await turn_during_report(http, args.report_limit)
    finally:
        await server.close()
    results["db backup"] = backup(url, data_dir)
    return results


async def page_time(app: Any, http: aiohttp.ClientSession, page: Page, limit: float) -> tuple[float | None, str]:
    """The median of 5 requests; one only when it takes longer than SLOW, none past `limit`."""
    times: list[float] = []
    for _ in range(5):
        if page.public:
            app[CACHE].entries.clear()
        try:
            took, status = await asyncio.wait_for(timed(lambda: get(http, page.path)), limit)
        except TimeoutError:
            return None, f"> {limit:.0f} s"
        if status != 200:
            raise SystemExit(f"{page.name}: {page.path} answered {status}")
        times.append(took)
        if took > SLOW:
            return took, "1 run"
    return statistics.median(times), ""


async def sign_in(http: aiohttp.ClientSession) -> None:
    import re

    form = await (await http.get("/admin/login")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf, form
    async with http.post("/admin/login", data={"username": ADMIN, "password": PASSWORD, "csrf": csrf[1], "next": "/admin"},
                         allow_redirects=False) as response:
        assert response.status == 303, await response.text()


async def get(http: aiohttp.ClientSession, path: str) -> int:
    async with http.get(path, allow_redirects=False) as response:
        await response.read()
        return response.status


async def report(http: aiohttp.ClientSession, period: str, limit: float) -> tuple[float | None, str]:
    """From asking for the report (the dashboard's form) to its file downloaded."""
    try:
        took, status = await asyncio.wait_for(timed(lambda: make_report(http, period)), limit)
    except TimeoutError:
        return None, f"> {limit:.0f} s"
    return took, "" if status == 200 else f"answered {status}"


async def make_report(http: aiohttp.ClientSession, period: str) -> int:
    """Ask for a report as the form does, follow its job until it is done, download it: the download's status."""
    import re

    async with http.get("/admin/reports") as response:
        csrf = re.search(r'name="csrf" value="([^"]+)"', await response.text())
    assert csrf, "no CSRF token on the reports page"
    async with http.post("/admin/reports/jobs", data={"csrf": csrf[1], "period": period}, allow_redirects=False) as response:
        await response.read()
        if response.status != 303:
            return response.status
        location = response.headers["Location"]
    while not location.endswith("/file"):  # the job's page, until the job is done
        async with http.get(location, allow_redirects=False) as response:
            state = re.search(r'data-status="(\w+)"', await response.text())
        if state is None or state[1] == "failed":
            return 500
        if state[1] == "done":
            location += "/file"
        else:
            await asyncio.sleep(0.2)
    return await get(http, location)


async def chat_turn(http: aiohttp.ClientSession) -> float:
    began = time.perf_counter()
    async with http.post("/chat/api/messages", json={"text": "chuan ngheo nong thon la bao nhieu"},
                         headers={"Accept-Language": "vi"}) as response:
        await response.read()
        assert response.status == 200, response.status
    return time.perf_counter() - began


async def turn_during_report(http: aiohttp.ClientSession, limit: float) -> tuple[float | None, str]:
    making = asyncio.create_task(make_report(http, "last-half"))
    await asyncio.sleep(0.5)
    took = await chat_turn(http) if not making.done() else None
    try:
        await asyncio.wait_for(making, limit)
    except TimeoutError:
        pass
    return took, "" if took is not None else "report done within 0.5 s"


def backup(url: str, data_dir: Path) -> tuple[float | None, str]:
    target = data_dir / "bench-backup"
    env = {key: value for key, value in os.environ.items() if key.lower() not in Settings.model_fields}
    env |= {"DATABASE_URL": url, "DATA_DIR": str(data_dir), "SECRET_KEY": "b" * 40, "PYTHONPATH": str(ROOT)}
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bot", "db", "backup", "-o", str(target)], env=env,  # noqa: S603
                          capture_output=True, text=True, check=False)
    took = time.perf_counter() - began
    if done.returncode != 0:
        return None, f"failed: {done.stderr.strip()[-200:]}"
    size = sum(path.stat().st_size for path in data_dir.glob("bench-backup*"))
    for path in data_dir.glob("bench-backup*"):
        path.unlink()
    return took, f"{size / 1e6:,.0f} MB"


# ----- the run ---------------------------------------------------------------------------------


class Database:
    """A migrated database with the areas and content: a SQLite file, or a new PostgreSQL database."""

    def __init__(self, postgres: str | None, folder: Path, name: str) -> None:
        self.postgres, self.folder = postgres, folder / name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.url = ""

    def create(self) -> str:
        if self.postgres:
            sys.path.insert(0, str(ROOT / "tests"))
            from tests.postgres import create_database

            self.url = create_database(self.postgres, prefix="caunoi_bench")
        else:
            self.url = f"sqlite+aiosqlite:///{self.folder / 'data' / 'bot.db'}"
        upgrade(self.url)
        asyncio.run(import_database(self.url, now=datetime.now(UTC)))
        return self.url

    def drop(self) -> None:
        if self.postgres and self.url:
            from tests.postgres import drop_database

            drop_database(self.postgres, self.url)


def log(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def fmt(seconds: float | None, note: str) -> str:
    if seconds is None:
        return note or "—"
    shown = f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"
    return f"{shown} ({note})" if note else shown


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every count (the outbox by its square)")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server URL (postgresql+asyncpg://…); default SQLite")
    for name, value in SIZES.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=None, help=f"default {value:,} × scale")
    parser.add_argument("--report-limit", type=float, default=600.0,
                        help="stop waiting for a page or a report after this many seconds")
    parser.add_argument("--seed", type=int, default=168)
    parser.add_argument("--keep", metavar="DIR", help="keep the filled database in DIR (a SQLite file, or the "
                        "PostgreSQL database's URL); a later run with the same DIR migrates and measures it again "
                        "instead of generating it")
    args = parser.parse_args()
    sizes = {name: getattr(args, name) if getattr(args, name) is not None else max(1, round(value * args.scale))
             for name, value in SIZES.items()}
    rng = random.Random(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="province-bench-"))
    backend = "PostgreSQL" if args.postgres else "SQLite"
    rows = {}
    try:
        print(f"province bench on {backend}: " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()), flush=True)
        empty = Database(args.postgres, folder, "empty")
        keep = Path(args.keep).resolve() if args.keep else None
        filled = Database(args.postgres, keep or folder, "filled")
        kept = filled.folder / "seeded.json"
        try:
            empty_url = empty.create()
            for name, (took, note) in asyncio.run(measure(empty_url, empty.folder / "data", Seeded(), args)).items():
                rows[name] = Row(name, empty=took, note=note)
            empty.drop()
            if kept.exists():
                filled_url = (filled.folder / "url").read_text()
                upgrade(filled_url)
                asyncio.run(resummarize(filled_url))
                seeded = Seeded(**json.loads(kept.read_text()))
                print("reused the kept database: " + ", ".join(f"{k} {v:,}" for k, v in seeded.counts.items()), flush=True)
            else:
                filled_url = filled.create()
                began = time.monotonic()
                seeded = asyncio.run(seed(filled_url, sizes, datetime.now(UTC), rng))
                print(f"generated in {time.monotonic() - began:,.0f} s: "
                      + ", ".join(f"{k} {v:,}" for k, v in seeded.counts.items()), flush=True)
                if keep:
                    (filled.folder / "url").write_text(filled_url)
                    kept.write_text(json.dumps(asdict(seeded)))
            for name, (took, note) in asyncio.run(measure(filled_url, filled.folder / "data", seeded, args)).items():
                row = rows.setdefault(name, Row(name))
                row.filled, row.note = took, note
        finally:
            if not keep:
                filled.drop()
            empty.drop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    width = max(len(name) for name in rows)
    print(f"\n| {'measure':<{width}} | empty | {backend} filled | ratio |")
    print(f"|{'-' * (width + 2)}|---|---|---|")
    for row in rows.values():
        ratio = f"{row.filled / row.empty:,.1f}×" if row.filled and row.empty else ""
        print(f"| {row.name:<{width}} | {fmt(row.empty, '')} | {fmt(row.filled, row.note)} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
