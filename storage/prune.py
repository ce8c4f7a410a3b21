"""Retention: the rules that keep the database and the media folder bounded, and the runner that
applies them in small batches.

Each rule names what it bounds, counts what it would remove now (`count`, for the dry run) and
removes one batch (`apply`, at most `batch` rows, never committing). `run` gives each batch a short
transaction of its own and yields to the event loop between batches, so citizens' turns are served
while a large backlog is pruned; on PostgreSQL rows another transaction holds are skipped (the next
night takes them). Every rule only touches what is older than its period (the row at the boundary
stays) and finds nothing more the second time: running twice, or in two processes at once, is safe.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Text, and_, cast, delete, exists, func, or_, update
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit
from storage.db import SessionFactory
from storage.models import (
    AuditEntry,
    Conversation,
    FaqUsageRow,
    Nomination,
    NominationStatus,
    OutboxMessage,
    OutboxStatus,
    QuizContest,
    QuizPlay,
    Ticket,
    TicketAttachment,
    TicketStatus,
    UnansweredQuestion,
)

log = logging.getLogger(__name__)
BATCH = 500  # rows per transaction: a few milliseconds of writing each
AUDIT_ACTION = "retention.prune"
MEDIA_DIR = "media"  # under DATA_DIR: what citizens sent
FAQ_SUMMARY_MODULE = "storage.faq_summary"  # provides roll_up_hours(session, before, limit) -> int
REPORT_JOBS_MODULE = "storage.report_jobs"  # provides prune_report_files(session, data_dir, now, days, dry_run=)
GAVE_UP = (OutboxStatus.failed, OutboxStatus.skipped)
FINISHED_TICKET = (TicketStatus.closed, TicketStatus.rejected)
FINISHED_NOMINATION = (NominationStatus.published, NominationStatus.not_used)


@dataclass(frozen=True)
class Retention:
    """How long each kind of data is kept (the RETENTION_* settings), and where media live."""

    outbox_payload: timedelta = timedelta(days=30)
    faq_hourly: timedelta = timedelta(days=90)
    unanswered: timedelta = timedelta(days=180)
    quiz_rounds: timedelta = timedelta(days=365)
    audit: timedelta = timedelta(days=1095)
    media: timedelta = timedelta(days=365)
    report_files_days: int = 30
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Ho_Chi_Minh"))
    data_dir: Path = Path("data")


Count = Callable[[AsyncSession, datetime], Awaitable[int]]
Apply = Callable[[AsyncSession, datetime, int], Awaitable[int]]


@dataclass(frozen=True)
class Rule:
    """One retention rule: `count` what is due now, `apply` one batch of at most `batch` (returns
    how many it removed, in `unit`); neither commits. `missing` says why the rule cannot run yet."""

    name: str
    bounds: str
    unit: str
    count: Count
    apply: Apply
    missing: str = ""


@dataclass(frozen=True)
class Outcome:
    """What one rule removed (or, in a dry run, would remove), in how many transactions."""

    rule: Rule
    count: int
    transactions: int = 0
    error: str = ""

    def line(self, *, dry_run: bool) -> str:
        """One line for people: the rule, the number, what it bounds."""
        if self.rule.missing:
            return f"{self.rule.name}: not run ({self.rule.missing})"
        if self.error:
            return f"{self.rule.name}: failed after removing {self.count:,} {self.rule.unit} ({self.error})"
        verb = "would remove" if dry_run else "removed"
        return f"{self.rule.name}: {verb} {self.count:,} {self.rule.unit} — {self.rule.bounds}"


def rules(retention: Retention) -> list[Rule]:
    """Every retention rule, in the order they run."""
    return [
        _outbox_payloads(retention.outbox_payload),
        _faq_hours(retention.faq_hourly, retention.tz),
        _conversations(),
        _unanswered(retention.unanswered),
        _quiz_rounds(retention.quiz_rounds, retention.tz),
        _audit_rows(retention.audit),
        _ticket_media(retention.media, retention.data_dir),
        _nomination_media(retention.media, retention.data_dir),
        _report_files(retention.report_files_days, retention.data_dir),
    ]


async def dry_run(sessions: SessionFactory, chosen: Sequence[Rule], now: datetime) -> list[Outcome]:
    """What each rule would remove now; changes nothing."""
    outcomes = []
    async with sessions() as session:
        for rule in chosen:
            outcomes.append(Outcome(rule, 0 if rule.missing else await rule.count(session, now)))
        await session.rollback()
    return outcomes


async def run(
    sessions: SessionFactory, chosen: Sequence[Rule], now: datetime, *, batch: int = BATCH, pause: float = 0.0
) -> list[Outcome]:
    """Apply each rule in batches of `batch`, each in a transaction of its own, until a batch comes
    back short. A rule that fails is logged and the next one runs."""
    outcomes = []
    for rule in chosen:
        removed = transactions = 0
        error = ""
        try:
            while not rule.missing:
                async with sessions() as session:
                    done = await rule.apply(session, now, batch)
                    await session.commit()
                removed, transactions = removed + done, transactions + 1
                await asyncio.sleep(pause)  # let waiting turns have the connection
                if done < batch:
                    break
        except Exception as exc:  # one rule's failure (a file it cannot delete) leaves the others to run
            log.exception("retention rule %s failed", rule.name)
            error = f"{type(exc).__name__}: {exc}"[:300]
        outcomes.append(Outcome(rule, removed, transactions, error))
    return outcomes


async def record(session: AsyncSession, outcomes: Sequence[Outcome], now: datetime, *, actor: str) -> None:
    """Audit-log what a run removed, one entry per rule that removed something or failed."""
    for outcome in outcomes:
        if outcome.count or outcome.error:
            await audit.record(
                session,
                None,
                AUDIT_ACTION,
                now=now,
                actor=actor,
                object_type="rule",
                object_id=outcome.rule.name,
                removed=outcome.count,
                unit=outcome.rule.unit,
                transactions=outcome.transactions,
                error=outcome.error,
            )


# --- the rules ---------------------------------------------------------------------------------


async def _count(session: AsyncSession, query: Any) -> int:
    """The number of rows a select of ids would return."""
    return int((await session.exec(select(func.count()).select_from(query.subquery()))).one())


async def _ids(session: AsyncSession, query: Any, batch: int) -> list[Any]:
    """Up to `batch` ids of `query`, locked (PostgreSQL; rows locked elsewhere are skipped)."""
    return list((await session.exec(query.limit(batch).with_for_update(skip_locked=True))).all())


def _outbox_payloads(period: timedelta) -> Rule:
    """The payload of a message in a final status becomes {} `period` after it was sent (sent) or
    given up (failed, skipped: its last attempt). Only payload and payload_dropped_at change: the
    triggers that keep notice counters watch status and reason, and do not fire."""
    kept = col(OutboxMessage.payload_dropped_at).is_(None)

    def queries(now: datetime) -> tuple[Any, Any]:
        cut = now - period
        sent = select(OutboxMessage.id).where(
            kept, OutboxMessage.status == OutboxStatus.sent, col(OutboxMessage.sent_at) < cut
        )
        gave_up = select(OutboxMessage.id).where(
            kept, col(OutboxMessage.status).in_(GAVE_UP), col(OutboxMessage.next_attempt_at) < cut
        )
        return sent, gave_up

    async def count(session: AsyncSession, now: datetime) -> int:
        sent, gave_up = queries(now)
        return await _count(session, sent) + await _count(session, gave_up)

    async def apply(session: AsyncSession, now: datetime, batch: int) -> int:
        sent, gave_up = queries(now)
        ids = await _ids(session, sent, batch)
        if len(ids) < batch:
            ids += await _ids(session, gave_up, batch - len(ids))
        if not ids:
            return 0
        result = await session.exec(
            update(OutboxMessage).where(col(OutboxMessage.id).in_(ids), kept).values(payload={}, payload_dropped_at=now)
        )
        return int(result.rowcount)

    return Rule(
        "outbox-payloads",
        f"outbox: a delivered, failed or skipped message's text and buttons, "
        f"{period.days} days after it was sent or given up (status and times stay)",
        "payloads",
        count,
        apply,
    )


def _faq_hours(period: timedelta, tz: ZoneInfo) -> Rule:
    """Hourly FAQ counters of local days older than `period`, once the FAQ summaries hold those days
    (`roll_up_hours` of FAQ_SUMMARY_MODULE removes them; a day not summed yet keeps its hours)."""

    def before(now: datetime) -> datetime:
        return datetime.combine((now - period).astimezone(tz).date(), time(), tzinfo=tz)

    roll_up = _provided(FAQ_SUMMARY_MODULE, "roll_up_hours")

    async def count(session: AsyncSession, now: datetime) -> int:
        span = SQLModel.metadata.tables["faq_usage_span"]  # the days summed so far (FAQ_SUMMARY_MODULE)
        hour = col(FaqUsageRow.hour)
        summed = exists().where(
            span.c.span == "day", span.c.ends_at <= before(now), hour >= span.c.starts_at, hour < span.c.ends_at
        )
        return await _count(session, select(FaqUsageRow.faq_id).where(hour < before(now), summed))

    async def apply(session: AsyncSession, now: datetime, batch: int) -> int:
        assert roll_up is not None
        return int(await roll_up(session, before(now), batch))

    missing = "" if roll_up is not None else f"{FAQ_SUMMARY_MODULE}.roll_up_hours is not there yet"
    return Rule(
        "faq-hours",
        f"faq_usage: hourly FAQ counters, rolled up into days after {period.days} days",
        "hourly rows",
        count,
        apply,
        missing,
    )


def _conversations() -> Rule:
    """A conversation state past its expiry (CONVERSATION_TTL_HOURS) is read as none: delete it."""

    def due(now: datetime) -> Any:
        return col(Conversation.expires_at) < now

    return _rows_rule(
        "conversations",
        "conversation: a citizen's unfinished step, once it has expired (CONVERSATION_TTL_HOURS)",
        Conversation,
        Conversation.citizen_id,
        due,
    )


def _unanswered(period: timedelta) -> Rule:
    """An unanswered question nobody asked again within `period`."""

    def due(now: datetime) -> Any:
        return col(UnansweredQuestion.last_asked_at) < now - period

    return _rows_rule(
        "unanswered-questions",
        f"unanswered_question: a question nobody asked again for {period.days} days",
        UnansweredQuestion,
        UnansweredQuestion.id,
        due,
    )


def _quiz_rounds(period: timedelta, tz: ZoneInfo) -> Rule:
    """A quiz round started more than `period` ago, unless it counts in a contest that ended less
    than `period` ago (its leaderboard stays whole)."""

    def due(now: datetime) -> Any:
        cut = now - period
        ended = select(QuizContest.id).where(col(QuizContest.ends_on) < cut.astimezone(tz).date())
        return and_(
            col(QuizPlay.started_at) < cut, or_(col(QuizPlay.contest_id).is_(None), col(QuizPlay.contest_id).in_(ended))
        )

    return _rows_rule(
        "quiz-rounds",
        f"quiz_play: a quiz round, {period.days} days after it started (rounds of a "
        f"contest: {period.days} days after the contest ended)",
        QuizPlay,
        QuizPlay.id,
        due,
    )


def _audit_rows(period: timedelta) -> Rule:
    """An audit entry older than `period`."""

    def due(now: datetime) -> Any:
        return col(AuditEntry.at) < now - period

    return _rows_rule("audit-log", f"audit_log: who did what, kept {period.days} days", AuditEntry, AuditEntry.id, due)


def _ticket_media(period: timedelta, data_dir: Path) -> Rule:
    """The photos and voice messages of a closed or rejected ticket, `period` after its last change:
    the files under DATA_DIR/media and their rows (the ticket, its text and timeline stay)."""

    def due(now: datetime) -> Any:
        return (
            select(TicketAttachment.id, TicketAttachment.path)
            .join(Ticket, col(Ticket.id) == col(TicketAttachment.ticket_id))
            .where(col(Ticket.status).in_(FINISHED_TICKET), col(Ticket.updated_at) < now - period)
        )

    async def count(session: AsyncSession, now: datetime) -> int:
        return await _count(session, due(now))

    async def apply(session: AsyncSession, now: datetime, batch: int) -> int:
        found = list((await session.exec(due(now).limit(batch))).all())
        if not found:
            return 0
        await session.exec(delete(TicketAttachment).where(col(TicketAttachment.id).in_([row[0] for row in found])))
        for _id, path in found:
            _unlink(data_dir, path)
        return len(found)

    return Rule(
        "ticket-media",
        f"ticket_attachment and DATA_DIR/media: a closed or rejected ticket's photos and "
        f"voice messages, {period.days} days after its last change",
        "files",
        count,
        apply,
    )


def _nomination_media(period: timedelta, data_dir: Path) -> Rule:
    """The photos and voice message sent with a nomination published or not used, `period` after its
    last change (a published story keeps its own resized copies under DATA_DIR/stories)."""

    def due(now: datetime) -> Any:
        return select(Nomination).where(
            col(Nomination.status).in_(FINISHED_NOMINATION),
            col(Nomination.updated_at) < now - period,
            cast(Nomination.files, Text) != "[]",
        )

    async def count(session: AsyncSession, now: datetime) -> int:
        return await _count(session, due(now).with_only_columns(col(Nomination.id)))

    async def apply(session: AsyncSession, now: datetime, batch: int) -> int:
        found = list((await session.exec(due(now).order_by(col(Nomination.id)).limit(batch))).all())
        for nomination in found:
            for item in nomination.files:
                _unlink(data_dir, str(item.get("path", "")))
            nomination.files = []
        return len(found)

    return Rule(
        "nomination-media",
        f"nomination and DATA_DIR/media: the photos and voice message of a nomination "
        f"published or not used, {period.days} days after its last change",
        "nominations",
        count,
        apply,
    )


def _report_files(days: int, data_dir: Path) -> Rule:
    """Report workbooks made in the dashboard, `days` after they were finished (`prune_report_files`
    of REPORT_JOBS_MODULE, which deletes the jobs and their files at once)."""
    prune_files = _provided(REPORT_JOBS_MODULE, "prune_report_files")

    async def count(session: AsyncSession, now: datetime) -> int:
        assert prune_files is not None
        return int((await prune_files(session, data_dir, now, days, dry_run=True)).files)

    async def apply(session: AsyncSession, now: datetime, batch: int) -> int:
        assert prune_files is not None
        return int((await prune_files(session, data_dir, now, days)).files)

    missing = "" if prune_files is not None else f"{REPORT_JOBS_MODULE}.prune_report_files is not there yet"
    return Rule(
        "report-files",
        f"report_job and DATA_DIR/reports: report workbooks, {days} days after they were made (REPORT_FILES_DAYS)",
        "files",
        count,
        apply,
        missing,
    )


def _rows_rule(name: str, bounds: str, table: Any, key: Any, due: Callable[[datetime], Any]) -> Rule:
    """A rule that deletes, by the column `key`, the rows of `table` for which `due(now)` holds."""

    async def count(session: AsyncSession, now: datetime) -> int:
        return await _count(session, select(key).where(due(now)))

    async def apply(session: AsyncSession, now: datetime, batch: int) -> int:
        ids = await _ids(session, select(key).where(due(now)), batch)
        return await _delete(session, delete(table).where(col(key).in_(ids), due(now)), ids)

    return Rule(name, bounds, "rows", count, apply)


async def _delete(session: AsyncSession, statement: Any, ids: Sequence[Any]) -> int:
    """Run a delete of the rows `ids` (nothing when there are none); how many went."""
    if not ids:
        return 0
    return int((await session.exec(statement)).rowcount)


def _unlink(data_dir: Path, relative: str) -> None:
    """Delete a file kept under DATA_DIR/media; a path outside it, or a file already gone, is left alone."""
    if not relative:
        return
    media = (data_dir / MEDIA_DIR).resolve()
    path = (data_dir / relative).resolve()
    if path.is_relative_to(media):
        path.unlink(missing_ok=True)
    else:
        log.warning("retention: %s is not under %s, not deleted", relative, media)


def _provided(module: str, name: str) -> Callable[..., Any] | None:
    """A function another storage module provides, or None while that module does not provide it."""
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None
