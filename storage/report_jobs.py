"""Report jobs: the report workbooks staff ask for in the dashboard, made in the background.

A job is `queued` by the request, `running` in the process that took it (`holder`, see
storage.holders), then `done` with its file under DATA_DIR/reports, or `failed` with the reason
staff see. A job whose process is gone is failed by `abandon`; files are deleted after
REPORT_FILES_DAYS by `prune_report_files`. Nothing here commits: the caller does.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import ColumnElement, and_, delete, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import holders
from storage.models import ReportJob, ReportJobStatus, Staff

REPORTS_DIR = "reports"  # under DATA_DIR
STALE = timedelta(minutes=30)  # a job that began no step for this long was abandoned, wherever it ran
UNFINISHED = (ReportJobStatus.queued, ReportJobStatus.running)


def relative_path(job_id: int) -> str:
    """Where a job's workbook is kept, relative to DATA_DIR."""
    return f"{REPORTS_DIR}/{job_id}.xlsx"


async def create(
    session: AsyncSession,
    *,
    staff_id: int,
    preset: str,
    first: date,
    last: date,
    area_code: str | None,
    locale: str,
    now: datetime,
) -> ReportJob:
    """Queue a job for this process to run (its holder number is written on it)."""
    job = ReportJob(
        staff_id=staff_id,
        preset=preset,
        period_first=first,
        period_last=last,
        area_code=area_code,
        locale=locale,
        holder=holders.mine(session),
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    await session.flush()
    return job


async def visible(session: AsyncSession, job_id: int, staff_id: int, *, everyone: bool) -> ReportJob | None:
    """The job, if this staff member may see it: their own, or any when `everyone` (admins)."""
    job = await session.get(ReportJob, job_id)
    if job is None or not (everyone or job.staff_id == staff_id):
        return None
    return job


async def recent(
    session: AsyncSession, staff_id: int, *, everyone: bool, limit: int = 20
) -> list[tuple[ReportJob, str]]:
    """The newest jobs this staff member may see, newest first, each with who asked (user name)."""
    statement = (
        select(ReportJob, Staff.username)
        .join(Staff, col(Staff.id) == ReportJob.staff_id)
        .order_by(col(ReportJob.id).desc())
        .limit(limit)
    )
    if not everyone:
        statement = statement.where(ReportJob.staff_id == staff_id)
    return [(job, username) for job, username in (await session.exec(statement)).all()]


async def begin(session: AsyncSession, job_id: int, now: datetime, *, steps: int) -> bool:
    """queued → running; False when the job is no longer queued (failed meanwhile)."""
    result = await session.exec(
        update(ReportJob)
        .where(col(ReportJob.id) == job_id, col(ReportJob.status) == ReportJobStatus.queued)
        .values(status=ReportJobStatus.running, started_at=now, updated_at=now, steps=steps, steps_done=0)
    )
    return bool(result.rowcount)


async def advance(session: AsyncSession, job_id: int, *, step: str, steps_done: int, now: datetime) -> bool:
    """Record the step a running job begins; False when the job is no longer running."""
    result = await session.exec(
        update(ReportJob)
        .where(col(ReportJob.id) == job_id, col(ReportJob.status) == ReportJobStatus.running)
        .values(step=step, steps_done=steps_done, updated_at=now)
    )
    return bool(result.rowcount)


async def finish(session: AsyncSession, job_id: int, *, file_name: str, size: int, now: datetime) -> bool:
    """running → done with its file; False when the job is no longer running (its file is not wanted)."""
    result = await session.exec(
        update(ReportJob)
        .where(col(ReportJob.id) == job_id, col(ReportJob.status) == ReportJobStatus.running)
        .values(
            status=ReportJobStatus.done,
            file_name=file_name,
            size=size,
            step="",
            steps_done=ReportJob.steps,
            finished_at=now,
            updated_at=now,
        )
    )
    return bool(result.rowcount)


async def fail(session: AsyncSession, job_id: int, *, error: str, now: datetime) -> None:
    """queued or running → failed, with the reason staff see."""
    await session.exec(
        update(ReportJob)
        .where(col(ReportJob.id) == job_id, col(ReportJob.status).in_(UNFINISHED))
        .values(status=ReportJobStatus.failed, error=error[:1000], finished_at=now, updated_at=now)
    )


async def abandon(session: AsyncSession, now: datetime, *, error: str, every: bool = False) -> list[int]:
    """Fail the unfinished jobs nobody is making any more, and return their ids: those whose process
    is gone (PostgreSQL: no process holds their holder number), those that began no step for STALE,
    and with `every` all of them (SQLite at start-up: its one process is this one, just started)."""
    unfinished: ColumnElement[bool] = col(ReportJob.status).in_(UNFINISHED)
    if not every:
        stale = col(ReportJob.updated_at) < now - STALE
        if session.get_bind().dialect.name == "postgresql":
            stale = or_(stale, await holders.gone(session, col(ReportJob.holder)))
        unfinished = and_(unfinished, stale)
    ids = list((await session.exec(select(ReportJob.id).where(unfinished))).all())
    if ids:
        await session.exec(
            update(ReportJob)
            .where(col(ReportJob.id).in_(ids), col(ReportJob.status).in_(UNFINISHED))
            .values(status=ReportJobStatus.failed, error=error[:1000], finished_at=now, updated_at=now)
        )
    return [job_id for job_id in ids if job_id is not None]


class Pruned(NamedTuple):
    """What `prune_report_files` removed (or, in a dry run, would remove)."""

    jobs: int
    files: int
    bytes: int


async def prune_report_files(
    session: AsyncSession, data_dir: Path, now: datetime, days: int, *, dry_run: bool = False
) -> Pruned:
    """Delete the report jobs finished (done or failed) more than `days` ago with their files, and any
    file in DATA_DIR/reports older than that which no job names (a half-written one a stopped process
    left). The caller commits; files are removed at once, even if the commit then fails (the job
    page of such a job says its file is gone)."""
    cutoff = now - timedelta(days=days)
    old = and_(col(ReportJob.status).not_in(UNFINISHED), col(ReportJob.finished_at) < cutoff)
    jobs = list((await session.exec(select(ReportJob.id, ReportJob.file_name).where(old))).all())
    kept = {
        name
        for name in (
            await session.exec(select(ReportJob.file_name).where(col(ReportJob.file_name).is_not(None), ~old))
        ).all()
    }
    if jobs and not dry_run:
        await session.exec(delete(ReportJob).where(col(ReportJob.id).in_([job_id for job_id, _ in jobs])))
    folder = data_dir / REPORTS_DIR
    files = size = 0
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        name = f"{REPORTS_DIR}/{path.name}"
        if not path.is_file() or name in kept:
            continue
        stat = path.stat()
        if stat.st_mtime >= cutoff.timestamp() and name not in {file_name for _, file_name in jobs}:
            continue  # a recent file no job names yet: one being written now
        files, size = files + 1, size + stat.st_size
        if not dry_run:
            os.unlink(path)
    return Pruned(len(jobs), files, size)
