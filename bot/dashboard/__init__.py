"""The staff dashboard under /admin: server-rendered pages, Vietnamese first, no CDN.

Each screen is a module with a `routes` table; `setup` registers them behind the guard in
`bot.dashboard.web` and lists them in the menu.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from aiohttp.web import Application  # not `web`: the screens import this package's own `web` module
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot import keys
from bot.dashboard import (
    admin,
    auth,
    broadcasts,
    content,
    dialogues,
    inbox,
    nominations,
    password,
    polls,
    quiz,
    reports,
    selfcheck,
    stats,
)
from bot.dashboard.web import PREFIX, NavItem, guard
from content.i18n import N_
from storage import audit
from storage.models import Staff, StaffRole
from storage.staff import StaffError, create_staff

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "admin"
SCREENS = (
    auth,
    password,
    admin,
    inbox,
    broadcasts,
    content,
    selfcheck,
    stats,
    reports,
    dialogues,
    polls,
    quiz,
    nominations,
)
STAFF_ONLY = frozenset({StaffRole.admin})
NAV = [
    NavItem("admin-home", N_("Overview")),
    NavItem("admin-inbox", N_("Inbox")),
    NavItem("admin-broadcasts", N_("Notices")),
    NavItem("admin-polls", N_("Polls")),
    NavItem("admin-dialogues", N_("Dialogues")),
    NavItem("admin-quiz", N_("Quiz")),
    NavItem("admin-content", N_("Content")),
    NavItem("admin-nominations", N_("Real stories")),
    NavItem("admin-unanswered", N_("Unanswered")),
    NavItem("admin-stats", N_("Statistics")),
    NavItem("admin-reports", N_("Reports")),
    NavItem("admin-posters", N_("Posters")),
    NavItem("admin-staff", N_("Staff"), STAFF_ONLY),
    NavItem("admin-audit", N_("Audit log"), STAFF_ONLY),
]


def setup(app: Application) -> None:
    """Register the dashboard's routes, guard and menu (before the app starts)."""
    app.middlewares.append(guard)
    for screen in SCREENS:
        app.router.add_routes(screen.routes)
    app.router.add_static(f"{PREFIX}/static", STATIC_DIR, name="admin-static")
    app[keys.DASHBOARD_NAV] = [item for item in NAV if item.route in app.router.named_resources()]


async def ensure_admin(app: Application) -> None:
    """On the first start, create the account "admin" (ADMIN_PASSWORD, or a random one printed once).

    Several processes may start at once on one database: the one that loses the race to create the
    account goes on without it, and a start never fails for want of the first admin.
    """
    settings = app[keys.SETTINGS]
    admins = select(Staff.id).where(Staff.role == StaffRole.admin)
    async with app[keys.SESSIONS]() as session:
        if (await session.exec(admins)).first() is not None:
            return
        password = settings.admin_password.get_secret_value() or secrets.token_urlsafe(12)
        try:
            staff = await create_staff(
                session, "admin", StaffRole.admin, None, password, app[keys.CLOCK](), display_name="Admin"
            )
            await audit.record(
                session,
                None,
                "staff.create",
                now=app[keys.CLOCK](),
                actor="system",
                object_type="staff",
                object_id=staff.username,
            )
            await session.commit()
        except (IntegrityError, StaffError):
            await session.rollback()
            if (await session.exec(admins)).first() is not None:
                log.info("dashboard: an admin account was created by another process starting at the same time")
            else:
                log.warning(
                    "dashboard: there is no admin account and the name 'admin' is taken by another account; "
                    "add one with: python -m bot staff add NAME --role admin"
                )
            return
    if settings.admin_password:
        log.warning("dashboard: created the account 'admin' with the password from ADMIN_PASSWORD")
    else:
        log.warning(
            "dashboard: created the account 'admin' with the password %s — sign in at %s/login and keep it safe; "
            "it is not shown again",
            password,
            PREFIX,
        )
