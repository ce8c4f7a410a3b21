"""Report workbooks made in the background of the process that took the request.

The dashboard queues a job (storage.report_jobs) and returns; `ReportJobs.start` runs it as an
asyncio task. The reads go through the staff report sessions (their own connections, each statement
time-limited), one step of `bot.report.STEPS` at a time, with the job's progress written between
steps in short transactions of the main sessions; the layout and the file are made in a worker
thread, so the event loop keeps answering citizens. One job runs at a time per process (the others
wait, queued): a report takes one of the few staff connections, never all of them.

A job whose process stopped is failed at the next start and by the scheduler's sweep (`sweep`);
staff see why and ask again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot import report as xlsx
from content.areas import AreaDirectory
from content.i18n import N_, Catalogs
from storage import report_jobs as repo
from storage.db import SessionFactory, timed_out
from storage.files import open_private, private_dir
from storage.models import ReportJob

log = logging.getLogger(__name__)

AT_ONCE = 1  # report jobs running at the same time in one process
ABANDONED = N_("The server stopped while this report was being made. Ask for it again.")
TOO_SLOW = N_(
    "The database took too long to read the figures of this report. Ask for it again later, or for a shorter period."
)
BROKEN = N_(
    "The report could not be made because of an error on the server. Ask for it again; if it fails again, "
    "tell the administrator."
)


class _Dropped(Exception):
    """The job is no longer running (failed meanwhile by a sweep): stop making it."""


class ReportJobs:
    """Runs this process's report jobs; `stop` ends them (failed: the server stopped) at shutdown."""

    def __init__(
        self,
        sessions: SessionFactory,
        read_sessions: SessionFactory,
        areas: AreaDirectory,
        catalogs: Catalogs,
        tz: ZoneInfo,
        data_dir: Path,
        clock: Callable[[], datetime],
    ) -> None:
        self.sessions, self.read_sessions = sessions, read_sessions
        self.areas, self.catalogs, self.tz, self.data_dir, self.clock = areas, catalogs, tz, data_dir, clock
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(AT_ONCE)

    def start(self, job_id: int) -> asyncio.Task[None]:
        """Run a queued job in the background; the task is kept until it ends."""
        task = asyncio.create_task(self._run(job_id), name=f"report-job:{job_id}")
        self.tasks[job_id] = task
        task.add_done_callback(lambda _task: self.tasks.pop(job_id, None))
        return task

    async def stop(self) -> None:
        """Stop the jobs still running (each marks itself failed) and wait for them."""
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10)

    async def _run(self, job_id: int) -> None:
        try:
            async with self._slots:
                await self._make(job_id)
        except asyncio.CancelledError:
            await self._fail(job_id, ABANDONED)
            raise
        except _Dropped:
            log.warning("report job %s was failed as abandoned while it ran; stopped", job_id)
        except Exception as exc:
            log.exception("report job %s failed", job_id)
            await self._fail(job_id, TOO_SLOW if timed_out(exc) else BROKEN)

    async def _make(self, job_id: int) -> None:
        async with self.sessions() as session:
            job = await session.get(ReportJob, job_id)
            if job is None or not await repo.begin(session, job_id, self.clock(), steps=len(xlsx.STEPS)):
                return
            await session.commit()
        period = xlsx.Period(job.period_first, job.period_last)
        report = xlsx.ReportInput(
            period, job.area_code, self.tz, self.clock(), self.areas, self.catalogs.get(job.locale)
        )
        done = 0

        async def progress(step: str) -> None:
            nonlocal done
            async with self.sessions() as session:
                running = await repo.advance(session, job_id, step=step, steps_done=done, now=self.clock())
                await session.commit()
            if not running:
                raise _Dropped
            done += 1

        figures = await xlsx.read_figures(self.read_sessions, report, progress)
        await progress("writing")
        name = repo.relative_path(job_id)
        size = await asyncio.to_thread(_write, report, figures, self.data_dir / name)
        async with self.sessions() as session:
            kept = await repo.finish(session, job_id, file_name=name, size=size, now=self.clock())
            await session.commit()
        if not kept:
            (self.data_dir / name).unlink(missing_ok=True)
            raise _Dropped
        log.info("report job %s done: %s bytes", job_id, size)

    async def _fail(self, job_id: int, error: str) -> None:
        try:
            async with self.sessions() as session:
                await repo.fail(session, job_id, error=error, now=self.clock())
                await session.commit()
        except Exception:
            log.exception("report job %s: could not record that it failed", job_id)


def _write(report: xlsx.ReportInput, figures: xlsx.Figures, path: Path) -> int:
    """Write the workbook as a private file (beside it first, then renamed: never half a file); its size."""
    private_dir(path.parent)
    part = path.with_name(path.name + ".part")
    try:
        with open_private(part) as out:
            xlsx.write_workbook(report, figures, out)
        os.replace(part, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
    return path.stat().st_size


async def sweep(sessions: SessionFactory, clock: Callable[[], datetime], *, every: bool = False) -> list[int]:
    """Fail the jobs nobody is making any more (see storage.report_jobs.abandon); their ids."""
    async with sessions() as session:
        ids = await repo.abandon(session, clock(), error=ABANDONED, every=every)
        await session.commit()
    if ids:
        log.warning("report jobs abandoned by a stopped process, now failed: %s", ", ".join(map(str, ids)))
    return ids
