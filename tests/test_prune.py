"""Retention (storage/prune.py): each rule removes only what is older than its period, in small
transactions, the same the dry run counts, and nothing more the second time; `db prune` as a real
process; the nightly job of the worker; a backup of a pruned SQLite database shrinks with it."""

from __future__ import annotations

import asyncio
import importlib
import sqlite3
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Text, cast, event, func
from sqlmodel import SQLModel, col, select

from bot import keys
from bot.app import create_app
from bot.config import Settings
from bot.roles import Role
from handlers.engine import utc_now
from storage import backup, prune
from storage.db import SessionFactory, create_engine, session_factory, sqlite_path
from storage.models import (
    AuditEntry, Citizen, Conversation, Nomination, OutboxMessage, QuizContest, QuizPlay, Ticket, TicketAttachment,
    UnansweredQuestion,
)
from tests.test_staff_cli import run_cli

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2027, 6, 1, 20, 0, tzinfo=UTC)  # 03:00 in Việt Nam
SECOND = timedelta(seconds=1)
PAYLOAD = {"text": "Thông báo: họp thôn lúc 8 giờ sáng thứ Hai tại nhà văn hóa", "buttons": []}
LOCAL_RULES = ("outbox-payloads", "conversations", "unanswered-questions", "quiz-rounds", "audit-log", "ticket-media",
               "nomination-media")


def retention(settings: Settings) -> prune.Retention:
    return settings.retention


def chosen(settings: Settings, *names: str) -> list[prune.Rule]:
    return [rule for rule in prune.rules(retention(settings)) if rule.name in names]


def counts(outcomes: list[prune.Outcome]) -> dict[str, int]:
    return {outcome.rule.name: outcome.count for outcome in outcomes}


async def add(sessions: SessionFactory, *rows: Any) -> list[Any]:
    async with sessions() as session:
        session.add_all(rows)
        await session.commit()
    return list(rows)


def outbox(chat: str, status: str, *, sent_at: datetime | None = None, attempt: datetime = NOW,
           broadcast_id: int | None = None) -> OutboxMessage:
    return OutboxMessage(channel="telegram", chat_id=chat, payload=dict(PAYLOAD), status=status, next_attempt_at=attempt,
                         created_at=attempt - timedelta(days=1), sent_at=sent_at, broadcast_id=broadcast_id)


def ticket(code: str, status: str, updated_at: datetime) -> Ticket:
    return Ticket(code=code, kind="feedback", status=status, body="Đường liên thôn bị sạt lở", due_at=updated_at,
                  created_at=updated_at - timedelta(days=30), updated_at=updated_at)


def media_file(data_dir: Path, name: str) -> str:
    relative = f"media/2026/05/{name}"
    (data_dir / relative).parent.mkdir(parents=True, exist_ok=True)
    (data_dir / relative).write_bytes(b"\xff\xd8photo")
    return relative


async def seed(settings: Settings, sessions: SessionFactory) -> dict[str, Any]:
    """For each rule: a row just older than its period (goes), one exactly at it and one younger (stay)."""
    kept = retention(settings)
    data_dir = settings.data_dir
    payload_cut = NOW - kept.outbox_payload
    messages = await add(
        sessions,
        outbox("goes-sent", "sent", sent_at=payload_cut - SECOND),
        outbox("stays-sent-at-boundary", "sent", sent_at=payload_cut),
        outbox("stays-sent-young", "sent", sent_at=NOW - timedelta(days=1)),
        outbox("goes-failed", "failed", attempt=payload_cut - SECOND),
        outbox("goes-skipped", "skipped", attempt=payload_cut - timedelta(days=300)),
        outbox("stays-skipped-at-boundary", "skipped", attempt=payload_cut),
        outbox("stays-pending-old", "pending", attempt=payload_cut - timedelta(days=90)),
        outbox("stays-sending-old", "sending", attempt=payload_cut - timedelta(days=90)),
    )
    citizens = await add(sessions, *(Citizen(channel="telegram", channel_user_id=f"c{n}", created_at=NOW, last_seen_at=NOW)
                                     for n in range(3)))
    await add(sessions,
              Conversation(citizen_id=citizens[0].id, state="feedback_text", data={"draft": "nhà tôi"}, updated_at=NOW,
                           expires_at=NOW - SECOND),
              Conversation(citizen_id=citizens[1].id, state="feedback_text", data={}, updated_at=NOW, expires_at=NOW),
              Conversation(citizen_id=citizens[2].id, state="feedback_text", data={}, updated_at=NOW,
                           expires_at=NOW + timedelta(hours=1)))
    asked_cut = NOW - kept.unanswered
    await add(sessions, *(UnansweredQuestion(key=key, text=key, first_asked_at=at - timedelta(days=9), last_asked_at=at)
                          for key, at in (("goes", asked_cut - SECOND), ("stays-boundary", asked_cut), ("stays", NOW))))
    round_cut = NOW - kept.quiz_rounds
    cut_day = round_cut.astimezone(VIETNAM).date()
    ended_long_ago, ended_recently = await add(
        sessions,
        QuizContest(titles={"vi": "Hội thi 1"}, starts_on=cut_day - timedelta(days=40), ends_on=cut_day - timedelta(days=1),
                    created_at=round_cut - timedelta(days=50)),
        QuizContest(titles={"vi": "Hội thi 2"}, starts_on=cut_day - timedelta(days=30), ends_on=cut_day,
                    created_at=round_cut - timedelta(days=40)),
    )
    await add(sessions, *(QuizPlay(area_code="66001", contest_id=contest, question_ids=["q1"], answers=[0], score=1,
                                   public_name=name, started_at=at, finished_at=at)
                          for name, contest, at in (
                              ("goes", None, round_cut - SECOND), ("stays-boundary", None, round_cut),
                              ("goes-contest-ended", ended_long_ago.id, round_cut - SECOND),
                              ("stays-contest-recent", ended_recently.id, round_cut - timedelta(days=10)),
                              ("stays-young", None, NOW))))
    audit_cut = NOW - kept.audit
    await add(sessions, *(AuditEntry(at=at, actor=name, action="ticket.view") for name, at in
                          (("goes", audit_cut - SECOND), ("stays-boundary", audit_cut), ("stays", NOW))))
    media_cut = NOW - kept.media
    tickets = await add(sessions, ticket("PA-1", "closed", media_cut - SECOND), ticket("PA-2", "rejected", media_cut - SECOND),
                        ticket("PA-3", "closed", media_cut), ticket("PA-4", "in_progress", media_cut - timedelta(days=90)))
    (data_dir / "secret_key").write_text("keep me")
    files = {code: media_file(data_dir, f"{code}.jpg") for code in ("PA-1", "PA-2", "PA-3", "PA-4")}
    await add(sessions, *(TicketAttachment(ticket_id=row.id, kind="photo", path=files[row.code], created_at=row.created_at)
                          for row in tickets),
              TicketAttachment(ticket_id=tickets[0].id, kind="photo", path="media/../secret_key", created_at=media_cut))
    nominated = {code: media_file(data_dir, f"{code}.ogg") for code in ("GT-1", "GT-2", "GT-3")}
    await add(sessions, *(Nomination(code=code, nominee="self", body="Nuôi bò sinh sản", consent="self", status=status,
                                     files=[{"kind": "voice", "path": nominated[code]}], created_at=at - timedelta(days=9),
                                     updated_at=at)
                          for code, status, at in (("GT-1", "published", media_cut - SECOND), ("GT-2", "not_used", media_cut),
                                                   ("GT-3", "checking", media_cut - timedelta(days=90)))))
    return {"messages": messages, "files": files, "nominated": nominated}


async def snapshot(sessions: SessionFactory) -> dict[str, Any]:
    """What the rules may change, read back."""
    async with sessions() as session:
        async def names(query: Any) -> list[str]:
            return sorted(str(value) for value in (await session.exec(query)).all())

        return {
            "payloads": await names(select(OutboxMessage.chat_id).where(col(OutboxMessage.payload_dropped_at).is_(None))),
            "statuses": await names(select(OutboxMessage.chat_id + ":" + OutboxMessage.status)),
            "conversations": await names(select(Conversation.citizen_id)),
            "unanswered": await names(select(UnansweredQuestion.key)),
            "rounds": await names(select(QuizPlay.public_name)),
            "audit": await names(select(AuditEntry.actor)),
            "attachments": await names(select(TicketAttachment.path)),
            "nominations": await names(select(Nomination.code).where(cast(Nomination.files, Text) != "[]")),
        }


async def test_each_rule_removes_only_what_is_older_than_its_period_and_the_dry_run_said_so(
    settings: Settings, sessions: SessionFactory,
) -> None:
    seeded = await seed(settings, sessions)
    rules = chosen(settings, *LOCAL_RULES)
    before = await snapshot(sessions)

    planned = counts(await prune.dry_run(sessions, rules, NOW))
    assert planned == {"outbox-payloads": 3, "conversations": 1, "unanswered-questions": 1, "quiz-rounds": 2,
                       "audit-log": 1, "ticket-media": 3, "nomination-media": 1}
    assert await snapshot(sessions) == before  # the dry run changed nothing
    assert all(Path(settings.data_dir / path).exists() for path in seeded["files"].values())

    done = await prune.run(sessions, rules, NOW)
    assert counts(done) == planned and not any(outcome.error for outcome in done)
    after = await snapshot(sessions)
    assert after["payloads"] == ["stays-pending-old", "stays-sending-old", "stays-sent-at-boundary",
                                 "stays-sent-young", "stays-skipped-at-boundary"]
    assert after["statuses"] == before["statuses"]  # statuses, and so the counters, stay
    assert len(after["conversations"]) == 2
    assert after["unanswered"] == ["stays", "stays-boundary"]
    assert after["rounds"] == ["stays-boundary", "stays-contest-recent", "stays-young"]
    assert after["audit"] == ["stays", "stays-boundary"]
    assert after["attachments"] == [seeded["files"]["PA-3"], seeded["files"]["PA-4"]]
    assert after["nominations"] == ["GT-2", "GT-3"]
    data_dir = settings.data_dir
    assert [code for code, path in seeded["files"].items() if (data_dir / path).exists()] == ["PA-3", "PA-4"]
    assert [code for code, path in seeded["nominated"].items() if (data_dir / path).exists()] == ["GT-2", "GT-3"]
    assert (data_dir / "secret_key").read_text() == "keep me"  # a path outside media/ is never deleted
    async with sessions() as session:
        dropped = (await session.exec(select(OutboxMessage).where(OutboxMessage.chat_id == "goes-sent"))).one()
        kept = (await session.exec(select(OutboxMessage).where(OutboxMessage.chat_id == "stays-sent-at-boundary"))).one()
    assert (dropped.payload, dropped.status, dropped.payload_dropped_at) == ({}, "sent", NOW)
    assert dropped.sent_at == NOW - retention(settings).outbox_payload - SECOND
    assert kept.payload == PAYLOAD

    again = await prune.run(sessions, rules, NOW)
    assert set(counts(again).values()) == {0}
    assert await snapshot(sessions) == after
    assert set(counts(await prune.dry_run(sessions, rules, NOW)).values()) == {0}


async def test_dropping_payloads_leaves_the_notice_counters_alone(settings: Settings, sessions: SessionFactory) -> None:
    """Only payload and payload_dropped_at change: the triggers that count a notice's deliveries do not fire."""
    journal = SQLModel.metadata.tables.get("notice_tally_change")
    if journal is None:
        pytest.skip("no notice counters in this schema")
    from storage.models import Broadcast

    [notice] = await add(sessions, Broadcast(texts={"vi": "Họp thôn"}, send_at=NOW - timedelta(days=60),
                                             created_at=NOW - timedelta(days=60)))
    await add(sessions, outbox("a", "sent", sent_at=NOW - timedelta(days=59), broadcast_id=notice.id),
              outbox("b", "failed", attempt=NOW - timedelta(days=59), broadcast_id=notice.id))

    async def journal_rows() -> int:
        async with sessions() as session:
            return int((await session.exec(select(func.count()).select_from(journal))).one())

    written = await journal_rows()
    assert counts(await prune.run(sessions, chosen(settings, "outbox-payloads"), NOW)) == {"outbox-payloads": 2}
    assert await journal_rows() == written


async def test_a_rule_works_in_small_transactions(settings: Settings) -> None:
    """batch=2 over 5 due rows: three transactions (2, 2, 1), then it stops."""
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    cut = NOW - retention(settings).unanswered
    await add(sessions, *(UnansweredQuestion(key=f"q{n}", text="?", first_asked_at=cut - timedelta(days=n + 1),
                                             last_asked_at=cut - timedelta(days=n + 1)) for n in range(5)))
    commits: list[int] = []
    event.listen(engine.sync_engine, "commit", lambda _connection: commits.append(1))
    try:
        [outcome] = await prune.run(sessions, chosen(settings, "unanswered-questions"), NOW, batch=2)
    finally:
        await engine.dispose()
    assert (outcome.count, outcome.transactions, len(commits)) == (5, 3, 3)


@pytest.mark.sqlite_only
async def test_the_outbox_rule_finds_its_rows_through_the_partial_index(settings: Settings) -> None:
    """Each query the payload rule runs on the outbox is answered from ix_outbox_payload_kept, which
    holds only the rows whose payload is still there: never a scan of every message."""
    engine = create_engine(settings.database_url)
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM outbox" in statement:
            statements.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    sessions = session_factory(engine)
    await add(sessions, outbox("a", "sent", sent_at=NOW - timedelta(days=40)))
    rules = chosen(settings, "outbox-payloads")
    await prune.dry_run(sessions, rules, NOW)
    await prune.run(sessions, rules, NOW)
    await engine.dispose()
    assert len(statements) == 4  # two counts, two id lookups
    path = sqlite_path(settings.database_url)
    with closing(sqlite3.connect(path)) as connection:
        for statement, parameters in statements:
            plan = " ".join(row[-1] for row in connection.execute(f"EXPLAIN QUERY PLAN {statement}", parameters))
            assert "ix_outbox_payload_kept" in plan, (statement, plan)


async def test_faq_hours_are_rolled_up_only_for_summed_days_older_than_the_period(
    settings: Settings, sessions: SessionFactory,
) -> None:
    summary = pytest.importorskip(prune.FAQ_SUMMARY_MODULE)
    from storage.models import FaqUsageRow

    before = datetime.combine((NOW - retention(settings).faq_hourly).astimezone(VIETNAM).date(), datetime.min.time(),
                              tzinfo=VIETNAM).astimezone(UTC)
    hours = [before - timedelta(hours=30), before - timedelta(hours=1), before, before + timedelta(hours=5)]
    await add(sessions, *(FaqUsageRow(hour=hour, area_code="", faq_id="chuan-ngheo", shown=1) for hour in hours))
    async with sessions() as session:
        while await summary.refresh(session, VIETNAM, NOW):
            pass
        await session.commit()
    rules = chosen(settings, "faq-hours")
    assert counts(await prune.dry_run(sessions, rules, NOW)) == {"faq-hours": 2}
    assert counts(await prune.run(sessions, rules, NOW, batch=1)) == {"faq-hours": 2}
    async with sessions() as session:
        left = sorted((await session.exec(select(FaqUsageRow.hour))).all())
    assert left == [before, before + timedelta(hours=5)]
    assert counts(await prune.run(sessions, rules, NOW)) == {"faq-hours": 0}


async def test_report_files_go_after_their_days(settings: Settings, sessions: SessionFactory) -> None:
    pytest.importorskip(prune.REPORT_JOBS_MODULE)
    from storage.models import ReportJob, Staff

    [staff] = await add(sessions, Staff(username="tinh", role="province", created_at=NOW))
    made = {name: NOW - timedelta(days=days) for name, days in (("old", settings.report_files_days + 1), ("new", 1))}
    jobs = await add(sessions, *(ReportJob(staff_id=staff.id, period_first=date(2027, 1, 1), period_last=date(2027, 6, 30),
                                           status="done", created_at=at, updated_at=at, finished_at=at)
                                 for at in made.values()))
    folder = settings.data_dir / "reports"
    folder.mkdir()
    async with sessions() as session:
        for job in jobs:
            row = await session.get(ReportJob, job.id)
            assert row is not None
            row.file_name = f"reports/{job.id}.xlsx"
            (settings.data_dir / row.file_name).write_bytes(b"PK")
        await session.commit()
    rules = chosen(settings, "report-files")
    assert counts(await prune.dry_run(sessions, rules, NOW)) == {"report-files": 1}
    assert counts(await prune.run(sessions, rules, NOW)) == {"report-files": 1}
    assert sorted(path.name for path in folder.iterdir()) == [f"{jobs[1].id}.xlsx"]


async def test_db_prune_dry_run_then_run_as_a_process(settings: Settings, sessions: SessionFactory) -> None:
    old = utc_now() - retention(settings).unanswered - timedelta(days=1)
    await add(sessions, UnansweredQuestion(key="ho ngheo la gi", text="hộ nghèo là gì", first_asked_at=old, last_asked_at=old))

    dry = run_cli(settings, "db", "prune", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "unanswered-questions: would remove 1 rows" in dry.stdout
    assert "outbox-payloads: would remove 0 payloads" in dry.stdout
    async with sessions() as session:
        assert len((await session.exec(select(UnansweredQuestion))).all()) == 1
        assert (await session.exec(select(AuditEntry).where(AuditEntry.action == prune.AUDIT_ACTION))).all() == []

    done = run_cli(settings, "db", "prune")
    assert done.returncode == 0, done.stderr
    assert "unanswered-questions: removed 1 rows" in done.stdout
    async with sessions() as session:
        assert (await session.exec(select(UnansweredQuestion))).all() == []
        [entry] = (await session.exec(select(AuditEntry).where(AuditEntry.action == prune.AUDIT_ACTION))).all()
    assert (entry.actor, entry.object_id, entry.detail["removed"]) == ("cli", "unanswered-questions", 1)
    assert "db prune [--dry-run]" in Path(__file__).resolve().parent.parent.joinpath("README.md").read_text()


async def test_the_worker_prunes_nightly_at_half_past_three(settings: Settings, sessions: SessionFactory,
                                                           aiohttp_client: Any) -> None:
    old = utc_now() - retention(settings).unanswered - timedelta(days=1)
    await add(sessions, UnansweredQuestion(key="vay von", text="vay vốn", first_asked_at=old, last_asked_at=old))
    client: TestClient = await aiohttp_client(create_app(settings, role=Role.worker))
    job = client.server.app[keys.SCHEDULER].get_job("retention")
    assert job is not None
    trigger = job.trigger
    assert isinstance(trigger, CronTrigger) and str(trigger.timezone) == "Asia/Ho_Chi_Minh"
    local = job.next_run_time.astimezone(VIETNAM)
    assert (local.hour, local.minute) == (3, 30)
    job.modify(next_run_time=datetime.now(VIETNAM))
    for _ in range(100):
        async with sessions() as session:
            entries = (await session.exec(select(AuditEntry).where(AuditEntry.action == prune.AUDIT_ACTION))).all()
        if entries:
            break
        await asyncio.sleep(0.05)
    assert [(entry.actor, entry.object_id) for entry in entries] == [("scheduler", "unanswered-questions")]


async def test_a_web_process_runs_no_prune(settings: Settings, aiohttp_client: Any) -> None:
    client: TestClient = await aiohttp_client(create_app(settings, role=Role.web))
    assert keys.SCHEDULER not in client.server.app


@pytest.mark.sqlite_only
async def test_a_backup_of_a_pruned_sqlite_database_shrinks_with_it(settings: Settings, sessions: SessionFactory,
                                                                   tmp_path: Path) -> None:
    """Dropped payloads leave half-empty pages in the file; the backup carries only what is kept."""
    long = {"text": "Thông báo về chính sách hỗ trợ nhà ở cho hộ nghèo. " * 16, "buttons": []}
    async with sessions() as session:
        for n in range(3000):
            row = outbox(f"chat{n}", "sent", sent_at=NOW - timedelta(days=40))
            row.payload = long
            session.add(row)
        await session.commit()
    backup.backup(settings.database_url, tmp_path / "before.db")
    await prune.run(sessions, chosen(settings, "outbox-payloads"), NOW)
    database = sqlite_path(settings.database_url)
    assert database is not None
    with closing(sqlite3.connect(database)) as live:
        live.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    backup.backup(settings.database_url, tmp_path / "after.db")
    before, after, live_size = ((tmp_path / "before.db").stat().st_size, (tmp_path / "after.db").stat().st_size,
                                database.stat().st_size)
    assert after < before / 2 and after < live_size / 2, (before, after, live_size)
    assert not list(tmp_path.glob(".*partial*"))  # nor -wal / -shm files left beside the backups
    with closing(sqlite3.connect(tmp_path / "after.db")) as copy:
        assert copy.execute("SELECT count(*) FROM outbox").fetchone() == (3000,)
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
