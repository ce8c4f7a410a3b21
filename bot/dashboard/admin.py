"""The dashboard's home, staff accounts (admins) and the audit log."""

from __future__ import annotations

import secrets
from datetime import timedelta

from aiohttp import web
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import keys
from bot.dashboard import web as dash
from content.i18n import N_
from storage import inbox, logins
from storage.models import AuditEntry, Staff, StaffRole
from storage.staff import StaffError, create_staff, list_staff, set_active, set_password, unlink_chat

routes = web.RouteTableDef()
AUDIT_PAGE = 50
GUESS_WINDOW = timedelta(hours=1)
CREATED = N_(
    "Account {username} created. Give its first password to its owner: it is shown only now, and they must "
    "choose their own at the first sign-in."
)
RESET = N_(
    "New one-time password for {username}: it is shown only now, their open sessions have ended, and they must "
    "choose their own at the next sign-in."
)


@routes.get(dash.PREFIX, name="admin-home")
async def home(request: web.Request) -> web.Response:
    """GET /admin: open and overdue tickets in the staff member's area, and where to go next."""
    areas = dash.scope_areas(request)
    now = dash.now_of(request)
    async with dash.reading(request) as session:
        open_count, overdue = await inbox.open_and_overdue(session, areas, now)
        guessed = await guessed_accounts(request, session)
    return dash.render(request, "admin/home.html", {"open_count": open_count, "overdue": overdue, "guessed": guessed})


async def guessed_accounts(request: web.Request, session: AsyncSession) -> list[logins.Guessed]:
    """For admins: accounts with LOGIN_ALERT_AFTER or more failed sign-ins in the last hour."""
    if dash.staff_of(request).role != StaffRole.admin:
        return []
    since = dash.now_of(request) - GUESS_WINDOW
    return await logins.guessed_accounts(session, since, request.app[keys.SETTINGS].login_alert_after)


@routes.get(f"{dash.PREFIX}/staff", name="admin-staff")
@dash.roles(StaffRole.admin)
async def staff_list(request: web.Request) -> web.Response:
    """GET /admin/staff: every account, and a form to add one."""
    async with dash.reading(request) as session:
        accounts = await list_staff(session)
        guessed = await guessed_accounts(request, session)
    return _staff_page(request, accounts, request.query.get("message", ""), guessed=guessed)


def _staff_page(
    request: web.Request,
    accounts: list[Staff],
    message: str,
    password: str = "",
    guessed: list[logins.Guessed] | None = None,  # nosec B107  # no password by default
) -> web.Response:
    return dash.render(
        request,
        "admin/staff.html",
        {
            "accounts": accounts,
            "roles": list(StaffRole),
            "communes": request.app[keys.SERVICES].areas.communes(),
            "now": dash.now_of(request),
            "message": message,
            "new_password": password,
            "guessed": guessed or [],
        },
    )


@routes.post(f"{dash.PREFIX}/staff", name="admin-staff-add")
@dash.roles(StaffRole.admin)
async def staff_add(request: web.Request) -> web.StreamResponse:
    """POST /admin/staff: create an account; its first password is shown once."""
    form = await request.post()
    username = str(form.get("username", "")).strip().lower()
    role = str(form.get("role", ""))
    area = str(form.get("area", "")).strip() or None
    password = secrets.token_urlsafe(9)
    now = dash.now_of(request)
    async with request.app[keys.SESSIONS]() as session:
        try:
            staff = await create_staff(
                session, username, role, area, password, now, display_name=str(form.get("display_name", ""))[:200]
            )
        except StaffError as error:
            raise dash.redirect(request, "admin-staff", {"message": str(error)}) from None
        staff.must_change_password = True  # the admin knows it: its owner chooses their own at the first sign-in
        await dash.record(
            session,
            request,
            "staff.create",
            object_type="staff",
            object_id=staff.username,
            role=role,
            area=area or "",
            one_time_password=True,
        )
        await session.commit()
        accounts = await list_staff(session)
    return _one_time_password_page(request, accounts, CREATED, username, password)


@routes.post(r"/admin/staff/{username:[a-z0-9_.-]{3,64}}", name="admin-staff-change")
@dash.roles(StaffRole.admin)
async def staff_change(request: web.Request) -> web.StreamResponse:
    """POST /admin/staff/NAME: action=disable|enable|reset|unlink (end the link of a chat account)."""
    username = request.match_info["username"]
    action = str((await request.post()).get("action", ""))
    if action not in ("disable", "enable", "reset", "unlink"):
        raise web.HTTPBadRequest(text="unknown action")
    me = dash.staff_of(request)
    password = ""  # nosec B105  # none until a reset makes one
    async with request.app[keys.SESSIONS]() as session:
        staff = (await session.exec(select(Staff).where(Staff.username == username))).first()
        if staff is None:
            raise web.HTTPNotFound()
        if staff.id == me.id and action == "disable":
            raise dash.redirect(
                request,
                "admin-staff",
                {"message": dash.translator_of(request).gettext(N_("You cannot disable your own account."))},
            )
        detail: dict[str, object] = {}
        if action == "reset":
            password = secrets.token_urlsafe(9)
            await set_password(session, staff, password, one_time=True)
            detail["one_time_password"] = True  # its owner changes it at the next sign-in
        elif action == "unlink":
            detail.update(channel=unlink_chat(staff), reason="staff screen")
        else:
            await set_active(session, staff, action == "enable")
        await dash.record(session, request, f"staff.{action}", object_type="staff", object_id=staff.username, **detail)
        await session.commit()
        accounts = await list_staff(session)
    if not password:
        raise dash.redirect(request, "admin-staff")
    return _one_time_password_page(request, accounts, RESET, username, password)


def _one_time_password_page(
    request: web.Request, accounts: list[Staff], message: str, username: str, password: str
) -> web.Response:
    """The staff list with a one-time password shown once, and what it is for."""
    text = dash.translator_of(request).gettext(message).format(username=username)
    return _staff_page(request, accounts, text, password)


@routes.get(f"{dash.PREFIX}/audit", name="admin-audit")
@dash.roles(StaffRole.admin)
async def audit_log(request: web.Request) -> web.Response:
    """GET /admin/audit[?actor=&action=&before=ID]: newest first, 50 a page."""
    actor = request.query.get("actor", "").strip()[:64]
    action = request.query.get("action", "").strip()[:40]
    before = request.query.get("before", "")
    async with dash.reading(request) as session:
        query = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(AUDIT_PAGE + 1)
        if actor:
            query = query.where(AuditEntry.actor == actor)
        if action:
            query = query.where(col(AuditEntry.action).startswith(action))
        if before.isdigit():
            query = query.where(col(AuditEntry.id) < int(before))
        rows = list((await session.exec(query)).all())
    async with request.app[keys.SESSIONS]() as session:
        await dash.record(
            session, request, "audit.view", object_type="audit", object_id="", actor_filter=actor, action_filter=action
        )
        await session.commit()
    more = len(rows) > AUDIT_PAGE
    rows = rows[:AUDIT_PAGE]
    return dash.render(
        request,
        "admin/audit.html",
        {
            "entries": rows,
            "actor": actor,
            "action": action,
            "next_before": rows[-1].id if more and rows else None,
        },
    )
