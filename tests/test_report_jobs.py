"""Reports made in the background: a job goes queued → running → done with its progress on its page,
only its owner (and admins) reach it, requests and downloads are audit-logged; a job a stopped process
left is failed with a clear message and asked again; citizens' chat turns are answered while a report
is being written; old report files are pruned."""

from __future__ import annotations

import asyncio
import os
import re
import stat
import threading
import time
from datetime import date, datetime, timedelta
from io import BytesIO
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlmodel import col, select

from bot import report
from bot.app import create_app
from bot.dashboard import reports as reports_page
from storage import report_jobs as repo
from storage.db import SessionFactory, session_factory
from storage.holders import Holder
from storage.models import AuditEntry, ReportJob, ReportJobStatus, Staff, StaffRole
from tests.dashboard import COMMUNE, OTHER_COMMUNE, StaffClient, add_staff, sign_in
from tests.test_report import NOW, seed

PERIOD = {"period": "custom", "from": "2026-02-08", "to": "2026-03-10"}
JOB_PAGE = re.compile(r"/admin/reports/jobs/(\d+)")


class Gate:
    """Holds every report file back in its worker thread until opened (the layout, not the reads)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered, self.opened = threading.Event(), threading.Event()
        original = report.write_workbook

        def held(*args):  # type: ignore[no-untyped-def]
            self.entered.set()
            assert self.opened.wait(30), "the gate was never opened"
            original(*args)

        monkeypatch.setattr(report, "write_workbook", held)

    async def reached(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 10), "no report reached the writing step"


async def start(settings, aiohttp_client, sessions, *accounts: tuple[str, StaffRole, str | None]):  # type: ignore[no-untyped-def]
    """The app with these staff accounts; signed in as the first."""
    for username, role, area in accounts:
        await add_staff(sessions, username, role, area)
    client = await aiohttp_client(create_app(settings, clock=lambda: NOW))
    return client, await sign_in(client, accounts[0][0])


async def switch(staff: StaffClient, username: str) -> StaffClient:
    """The same client signed in as someone else."""
    staff.client.session.cookie_jar.clear()
    return await sign_in(staff.client, username)


async def job_of(sessions: SessionFactory, job_id: int) -> ReportJob:
    async with sessions() as session:
        job = await session.get(ReportJob, job_id)
    assert job is not None
    return job


async def finished(sessions: SessionFactory, *job_ids: int) -> list[ReportJob]:
    """The jobs once none is queued or running (10 s at most)."""
    for _ in range(200):
        jobs = [await job_of(sessions, job_id) for job_id in job_ids]
        if all(job.status not in repo.UNFINISHED for job in jobs):
            return jobs
        await asyncio.sleep(0.05)
    raise AssertionError([job.status for job in jobs])


# Tests that expect a small report back as its file within the wait give it this long: a busy
# machine can take more than the 2 s a person waits.
SLOW_MACHINE_WAIT = 30.0


def job_id(location: str) -> int:
    found = JOB_PAGE.match(location)
    assert found, location
    return int(found[1])


async def test_a_report_job_goes_queued_running_done_with_its_progress_and_is_logged(
        settings, aiohttp_client, sessions, monkeypatch) -> None:
    await seed(sessions)
    gate = Gate(monkeypatch)
    _client, boss = await start(settings, aiohttp_client, sessions, ("boss", StaffRole.province, None))
    began = time.perf_counter()
    asked = await boss.post("/admin/reports/jobs", PERIOD)
    assert asked.status == 303 and time.perf_counter() - began < 4  # not held until the report is made
    first = job_id(asked.headers["Location"])
    await gate.reached()
    page = await boss.page(f"/admin/reports/jobs/{first}")
    assert 'http-equiv="refresh"' in page and "Đang lập" in page
    assert '<progress max="6" value="5"' in page and "Bước 6/6: Ghi tệp" in page
    running = await job_of(sessions, first)
    assert (running.status, running.step, running.steps_done, running.steps) == ("running", "writing", 5, 6)
    assert running.started_at is not None and running.finished_at is None

    second = job_id((await boss.post("/admin/reports/jobs", {"period": "this-half"})).headers["Location"])
    assert "Đang chờ bắt đầu" in await boss.page(f"/admin/reports/jobs/{second}")  # one report at a time
    assert (await job_of(sessions, second)).status == ReportJobStatus.queued
    not_yet = await boss.get(f"/admin/reports/jobs/{first}/file")
    assert not_yet.status == 303 and not_yet.headers["Location"] == f"/admin/reports/jobs/{first}"

    gate.opened.set()
    done, _other = await finished(sessions, first, second)
    assert (done.status, done.steps_done, done.steps, done.step, done.error) == ("done", 6, 6, "", None)
    path = settings.data_dir / (done.file_name or "")
    assert path.is_file() and done.size == path.stat().st_size and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(path.parent.glob("*.part"))
    page = await boss.page(f"/admin/reports/jobs/{first}")
    assert 'http-equiv="refresh"' not in page and 'id="job-download"' in page and "Đã xong" in page
    response = await boss.get(f"/admin/reports/jobs/{first}/file")
    assert response.status == 200 and 'filename="bao-cao_2026-02-08_2026-03-10.xlsx"' in response.headers["Content-Disposition"]
    book = load_workbook(BytesIO(await response.read()))
    assert book.sheetnames[0] == "Tổng hợp" and book["Phản ánh"].max_row == 5
    listing = await boss.page("/admin/reports")
    assert f"/admin/reports/jobs/{first}/file" in listing and f"/admin/reports/jobs/{second}/file" in listing
    async with sessions() as session:
        entries = (await session.exec(select(AuditEntry).where(col(AuditEntry.action).like("report.%"))
                                      .order_by(col(AuditEntry.id)))).all()
    assert [(entry.action, entry.actor) for entry in entries] == [
        ("report.request", "boss"), ("report.request", "boss"), ("report.download", "boss")]
    assert [entries[0].object_id, entries[1].object_id] == [str(first), str(second)]
    assert entries[0].detail["first"] == "2026-02-08" and entries[2].detail["job"] == first


async def test_only_the_owner_and_admins_reach_a_report_job(settings, aiohttp_client, sessions, monkeypatch) -> None:
    monkeypatch.setattr(reports_page, "WAIT_SECONDS", SLOW_MACHINE_WAIT)
    await seed(sessions)
    _client, officer = await start(settings, aiohttp_client, sessions, ("hoaphu", StaffRole.commune, COMMUNE),
                                   ("bmt", StaffRole.commune, OTHER_COMMUNE), ("lan", StaffRole.province, None),
                                   ("root", StaffRole.admin, None))
    asked = await officer.post("/admin/reports/jobs", PERIOD)
    assert asked.status == 303 and asked.headers["Location"].endswith("/file")  # made within the wait: the file
    mine = job_id(asked.headers["Location"])
    assert (await job_of(sessions, mine)).area_code == COMMUNE
    assert (await officer.get(asked.headers["Location"])).status == 200
    assert (await officer.post("/admin/reports/jobs", {"period": "this-year", "area": OTHER_COMMUNE})).status == 404
    for username in ("bmt", "lan"):  # another commune's officer; provincial staff see their own jobs only
        other = await switch(officer, username)
        assert (await other.get(f"/admin/reports/jobs/{mine}")).status == 404, username
        assert (await other.get(f"/admin/reports/jobs/{mine}/file")).status == 404, username
        assert f"/admin/reports/jobs/{mine}" not in await other.page("/admin/reports"), username
    admin = await switch(officer, "root")
    assert "hoaphu" in await admin.page("/admin/reports")
    assert (await admin.get(f"/admin/reports/jobs/{mine}/file")).status == 200
    async with sessions() as session:
        downloads = (await session.exec(select(AuditEntry.actor).where(AuditEntry.action == "report.download"))).all()
    assert sorted(downloads) == ["hoaphu", "root"]


async def test_a_job_a_stopped_process_left_is_failed_and_can_be_asked_again(
    settings, aiohttp_client, sessions, monkeypatch
) -> None:
    monkeypatch.setattr(reports_page, "WAIT_SECONDS", SLOW_MACHINE_WAIT)
    await seed(sessions)
    await add_staff(sessions, "boss", StaffRole.province)
    async with sessions() as session:
        staff = (await session.exec(select(Staff).where(Staff.username == "boss"))).one()
        left = ReportJob(staff_id=staff.id or 0, period_first=date(2026, 2, 8), period_last=date(2026, 3, 10),
                         status=ReportJobStatus.running, steps=6, steps_done=2, step="notices", holder=4242,
                         created_at=NOW - timedelta(minutes=1), updated_at=NOW - timedelta(minutes=1),
                         started_at=NOW - timedelta(minutes=1))
        session.add(left)
        await session.commit()
    client = await aiohttp_client(create_app(settings, clock=lambda: NOW))  # its start finds the job nobody makes
    boss = await sign_in(client, "boss")
    page = await boss.page(f"/admin/reports/jobs/{left.id}")
    assert "Máy chủ đã dừng trong khi đang lập báo cáo này" in page and 'role="alert"' in page
    assert 'http-equiv="refresh"' not in page and "Yêu cầu lập lại báo cáo này" in page
    assert (await job_of(sessions, left.id or 0)).status == ReportJobStatus.failed
    form = dict(re.findall(r'name="(period|from|to|area)" value="([^"]*)"', page))
    assert form == {**PERIOD, "area": ""}
    again = await boss.post("/admin/reports/jobs", form)
    assert again.status == 303 and again.headers["Location"].endswith("/file")
    assert (await boss.get(again.headers["Location"])).status == 200


async def test_a_job_running_when_the_server_stops_is_failed(settings, aiohttp_client, sessions, monkeypatch) -> None:
    gate = Gate(monkeypatch)
    client, boss = await start(settings, aiohttp_client, sessions, ("boss", StaffRole.admin, None))
    try:
        asked = job_id((await boss.post("/admin/reports/jobs", {"period": "last-half"})).headers["Location"])
        await gate.reached()
        await client.close()
    finally:
        gate.opened.set()
    job = await job_of(sessions, asked)
    assert job.status == ReportJobStatus.failed and job.error and "server stopped" in job.error


async def test_a_chat_turn_is_answered_at_once_while_a_report_is_written(settings, aiohttp_client, sessions,
                                                                          monkeypatch) -> None:
    await seed(sessions)
    gate = Gate(monkeypatch)  # the layout of the workbook takes as long as the test likes, in its thread
    client, boss = await start(settings, aiohttp_client, sessions, ("boss", StaffRole.province, None))
    await (await client.get("/chat")).release()
    try:
        asked = job_id((await boss.post("/admin/reports/jobs", {"period": "last-year"})).headers["Location"])
        await gate.reached()
        for text in ("chuẩn nghèo nông thôn là bao nhiêu", "xin chào"):
            began = time.perf_counter()
            response = await client.post("/chat/api/messages", json={"text": text}, headers={"Accept-Language": "vi"})
            took = time.perf_counter() - began
            assert response.status == 200 and (await response.json())["replies"], text
            assert took < 1.0, f"{text}: {took:.2f} s while a report was being written"
        assert (await job_of(sessions, asked)).status == ReportJobStatus.running  # the report was still being made
    finally:
        gate.opened.set()
    assert (await finished(sessions, asked))[0].status == ReportJobStatus.done


async def add_job(sessions: SessionFactory, staff_id: int, status: ReportJobStatus, updated: datetime, *,
                  holder: int | None = None, finished_at: datetime | None = None, file_name: str | None = None) -> int:
    async with sessions() as session:
        job = ReportJob(staff_id=staff_id, period_first=date(2026, 1, 1), period_last=date(2026, 6, 30), status=status,
                        holder=holder, created_at=updated, updated_at=updated, finished_at=finished_at, file_name=file_name)
        session.add(job)
        await session.commit()
        return job.id or 0


async def staff_id(sessions: SessionFactory) -> int:
    await add_staff(sessions, "boss", StaffRole.province)
    async with sessions() as session:
        return (await session.exec(select(Staff.id).where(Staff.username == "boss"))).one() or 0


async def test_the_sweep_fails_only_jobs_nobody_is_making(db_sessions: SessionFactory) -> None:
    engine = db_sessions.kw["bind"]
    holder = Holder(engine)  # this process's number, locked (PostgreSQL)
    await holder.start()
    try:
        sessions = session_factory(engine, holder.info)
        owner = await staff_id(sessions)
        minute = timedelta(minutes=1)
        live = await add_job(sessions, owner, ReportJobStatus.running, NOW - minute, holder=holder.number)
        waiting = await add_job(sessions, owner, ReportJobStatus.queued, NOW - minute, holder=holder.number)
        gone = await add_job(sessions, owner, ReportJobStatus.running, NOW - minute, holder=4242)
        stale = await add_job(sessions, owner, ReportJobStatus.running, NOW - repo.STALE - minute, holder=holder.number)
        old = await add_job(sessions, owner, ReportJobStatus.done, NOW - 2 * repo.STALE, finished_at=NOW - repo.STALE)
        async with sessions() as session:
            failed = await repo.abandon(session, NOW, error="stopped")
            await session.commit()
        postgres = engine.dialect.name == "postgresql"  # SQLite has no holder numbers: only time tells
        assert sorted(failed) == sorted([stale, gone] if postgres else [stale])
        async with sessions() as session:
            again = await repo.abandon(session, NOW, error="stopped", every=True)  # SQLite at start-up
            await session.commit()
        assert sorted(again) == sorted([live, waiting] if postgres else [live, waiting, gone])
        statuses = {job: (await job_of(sessions, job)).status for job in (live, waiting, gone, stale, old)}
        assert statuses == {live: "failed", waiting: "failed", gone: "failed", stale: "failed", old: "done"}
        assert (await job_of(sessions, gone)).error == "stopped"
    finally:
        await holder.stop()


async def test_report_files_are_pruned_after_their_days(db_sessions: SessionFactory, tmp_path: Path) -> None:
    owner = await staff_id(db_sessions)
    folder = tmp_path / repo.REPORTS_DIR
    folder.mkdir()
    day = timedelta(days=1)
    old = await add_job(db_sessions, owner, ReportJobStatus.done, NOW - 31 * day, finished_at=NOW - 31 * day)
    young = await add_job(db_sessions, owner, ReportJobStatus.done, NOW - 29 * day, finished_at=NOW - 29 * day)
    failed = await add_job(db_sessions, owner, ReportJobStatus.failed, NOW - 40 * day, finished_at=NOW - 40 * day)
    running = await add_job(db_sessions, owner, ReportJobStatus.running, NOW - 40 * day)
    async with db_sessions() as session:
        for job_id_, name in ((old, repo.relative_path(old)), (young, repo.relative_path(young))):
            job = await session.get(ReportJob, job_id_)
            assert job is not None
            job.file_name = name
        await session.commit()
    for name, age in ((f"{old}.xlsx", 31), (f"{young}.xlsx", 29), ("999.xlsx", 35), (f"{running}.xlsx.part", 0)):
        path = folder / name
        path.write_bytes(b"x" * 10)
        moment = (NOW - age * day).timestamp() if age else time.time()
        os.utime(path, (moment, moment))
    async with db_sessions() as session:
        would = await repo.prune_report_files(session, tmp_path, NOW, 30, dry_run=True)
        await session.commit()
    assert would == repo.Pruned(jobs=2, files=2, bytes=20)
    assert len(list(folder.iterdir())) == 4
    async with db_sessions() as session:
        pruned = await repo.prune_report_files(session, tmp_path, NOW, 30)
        await session.commit()
    assert pruned == would
    assert sorted(path.name for path in folder.iterdir()) == sorted([f"{young}.xlsx", f"{running}.xlsx.part"])
    async with db_sessions() as session:
        left = (await session.exec(select(ReportJob.id).order_by(col(ReportJob.id)))).all()
    assert list(left) == sorted([young, running]) and failed not in left
    async with db_sessions() as session:
        assert await repo.prune_report_files(session, tmp_path, NOW, 30) == repo.Pruned(0, 0, 0)  # idempotent
