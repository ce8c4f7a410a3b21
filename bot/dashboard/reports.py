"""Dashboard reports: staff ask for the 6-monthly or annual workbook, it is made in the background
(bot.report_jobs) and downloaded from the job's page when done.

Asking is a form post that queues a job (audit-logged) and waits for it at most WAIT_SECONDS: a
report done by then is downloaded at once, a longer one is followed on its page, which refreshes
itself until the file is ready. Staff see their own jobs, admins everyone's; commune staff ask for
and download their own commune's reports only (another commune is a 404), as for statistics.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from bot import keys
from bot.dashboard import web as dash
from bot.dashboard.stats import BadInput, chosen_area
from bot.report import PRESET_LABELS, PRESETS, STEPS, Period, PeriodError, file_name, preset
from content.i18n import N_
from storage import report_jobs as repo
from storage.models import ReportJob, ReportJobStatus, StaffRole

routes = web.RouteTableDef()
WAIT_SECONDS = 2.0  # how long asking waits for the report before showing its page instead
REFRESH_SECONDS = 2  # how often the page of a report being made reloads itself
JOB = r"{job_id:\d{1,12}}"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FIELDS = ("period", "from", "to", "area")
STATUS_LABELS = {
    ReportJobStatus.queued: N_("Waiting to start"),
    ReportJobStatus.running: N_("Being made"),
    ReportJobStatus.done: N_("Ready"),
    ReportJobStatus.failed: N_("Failed"),
}


@routes.get(f"{dash.PREFIX}/reports", name="admin-reports")
async def reports(request: web.Request) -> web.Response:
    """GET /admin/reports: the form (a period and, for provincial staff, a commune) and the recent reports."""
    return await _page(request, {name: request.query.get(name, "") for name in FIELDS}, "")


async def _page(request: web.Request, chosen: dict[str, str], error: str, *, status: int = 200) -> web.Response:
    today = dash.today_of(request)
    presets = [(name, PRESET_LABELS[name], preset(name, today)) for name in PRESETS]
    areas = dash.scope_areas(request)
    staff = dash.staff_of(request)
    async with dash.reading(request) as session:
        jobs = await repo.recent(session, staff.id or 0, everyone=staff.role == StaffRole.admin)
    return dash.render(
        request,
        "admin/stats/reports.html",
        {
            "presets": presets,
            "error": error,
            "communes": request.app[keys.SERVICES].areas.communes() if areas is None else [],
            "own_area": next(iter(areas), None) if areas else None,
            "chosen": chosen["period"] or "last-half",
            "first": chosen["from"],
            "last": chosen["to"],
            "area": chosen["area"],
            "jobs": jobs,
            "statuses": STATUS_LABELS,
        },
        status=status,
    )


@routes.post(f"{dash.PREFIX}/reports/jobs", name="admin-report-ask")
async def ask(request: web.Request) -> web.StreamResponse:
    """POST /admin/reports/jobs (period=this-half|…|custom[&from=&to=][&area=]): queue the report (audit-logged),
    then the download when it is ready within WAIT_SECONDS, else the job's page."""
    form = await request.post()
    chosen = {name: str(form.get(name, "")).strip() for name in FIELDS}
    try:
        area = chosen_area(request, chosen["area"])
        name = chosen["period"] or "custom"
        period = (
            Period.parse(chosen["from"], chosen["to"]) if name == "custom" else preset(name, dash.today_of(request))
        )
    except (BadInput, PeriodError) as error:
        return await _page(request, chosen, str(error), status=400)
    async with request.app[keys.SESSIONS]() as session:
        job = await repo.create(
            session,
            staff_id=dash.staff_of(request).id or 0,
            preset=name,
            first=period.first,
            last=period.last,
            area_code=area,
            locale=dash.translator_of(request).locale,
            now=dash.now_of(request),
        )
        await dash.record(
            session,
            request,
            "report.request",
            object_type="report_job",
            object_id=str(job.id),
            preset=name,
            first=period.first.isoformat(),
            last=period.last.isoformat(),
            area=area or "",
        )
        await session.commit()
    task = request.app[keys.REPORT_JOBS].start(job.id or 0)
    await asyncio.wait({task}, timeout=WAIT_SECONDS)  # never cancels the job: it goes on when the wait ends
    async with dash.reading(request) as session:
        made = await session.get(ReportJob, job.id)
    target = "admin-report-file" if made is not None and made.status == ReportJobStatus.done else "admin-report"
    raise dash.redirect(request, target, job_id=str(job.id))


async def _job(request: web.Request) -> ReportJob:
    """The job of the URL, or 404 when it is not the staff member's (admins: anyone's) or outside their area."""
    staff = dash.staff_of(request)
    async with dash.reading(request) as session:
        job = await repo.visible(
            session, int(request.match_info["job_id"]), staff.id or 0, everyone=staff.role == StaffRole.admin
        )
    if job is None or (staff.role != StaffRole.admin and not dash.in_area_scope(request, job.area_code)):
        raise web.HTTPNotFound()
    return job


@routes.get(f"{dash.PREFIX}/reports/jobs/{JOB}", name="admin-report")
async def job_page(request: web.Request) -> web.Response:
    """GET /admin/reports/jobs/N: how far the report has got (the page reloads itself), its download when done,
    why it failed and a button to ask again when it did."""
    job = await _job(request)
    missing = job.status == ReportJobStatus.done and not _path(request, job).is_file()
    return dash.render(
        request,
        "admin/stats/report_job.html",
        {
            "job": job,
            "statuses": STATUS_LABELS,
            "steps": STEPS,
            "missing": missing,
            "refresh": REFRESH_SECONDS if job.status in repo.UNFINISHED else None,
            "download_name": file_name(Period(job.period_first, job.period_last), job.area_code),
            "files_days": request.app[keys.SETTINGS].report_files_days,
        },
    )


@routes.get(f"{dash.PREFIX}/reports/jobs/{JOB}/file", name="admin-report-file")
async def download(request: web.Request) -> web.StreamResponse:
    """GET /admin/reports/jobs/N/file: the finished workbook, audit-logged (the job's page until it is ready)."""
    job = await _job(request)
    if job.status != ReportJobStatus.done:
        raise dash.redirect(request, "admin-report", job_id=str(job.id))
    path = _path(request, job)
    if not path.is_file():
        raise web.HTTPNotFound()
    period = Period(job.period_first, job.period_last)
    name = file_name(period, job.area_code)
    async with request.app[keys.SESSIONS]() as session:
        await dash.record(
            session,
            request,
            "report.download",
            object_type="report",
            object_id=name[:64],
            job=job.id,
            first=period.first.isoformat(),
            last=period.last.isoformat(),
            area=job.area_code or "",
        )
        await session.commit()
    return web.FileResponse(
        path,
        headers={
            "Content-Type": XLSX,
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _path(request: web.Request, job: ReportJob) -> Path:
    """The job's file under DATA_DIR (404 for a name that would lead outside it)."""
    root = request.app[keys.SETTINGS].data_dir.resolve()
    path = (root / (job.file_name or repo.relative_path(job.id or 0))).resolve()
    if not path.is_relative_to(root):
        raise web.HTTPNotFound()
    return path
