"""Staff change their own password (the current one required); a one-time password an admin set
must be changed before anything else (the guard in bot/dashboard/web.py sends the session here)."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from bot import keys
from bot.dashboard.auth import SLOW_DOWN, refusal
from bot.dashboard.web import PREFIX, SESSION_COOKIE, now_of, record, render, staff_of, translator_of
from content.i18n import N_
from storage import logins
from storage.models import Staff
from storage.staff import MIN_PASSWORD_LENGTH, StaffError, check_password, password_problem, set_password

routes = web.RouteTableDef()

WRONG_CURRENT = N_("Your current password is wrong.")
DIFFERENT = N_("The two new passwords are not the same.")
SAME = N_("The new password must differ from the current one.")
PROBLEMS = {
    "too_short": N_("The password must be at least {n} characters long."),
    "common": N_("This password is one of the most common ones: choose another."),
}
CHANGED = N_("Your password has been changed. Your other sessions have ended.")


def _page(request: web.Request, error: str = "", *, status: int = 200) -> web.Response:
    gettext = translator_of(request).gettext
    return render(
        request,
        "admin/password.html",
        {
            "error": gettext(error).format(n=MIN_PASSWORD_LENGTH) if error else "",
            "changed": gettext(CHANGED) if request.query.get("changed") else "",
            "must_change": staff_of(request).must_change_password,
            "min_length": MIN_PASSWORD_LENGTH,
        },
        status=status,
    )


@routes.get(f"{PREFIX}/password", name="admin-password")
async def password_form(request: web.Request) -> web.Response:
    """GET /admin/password."""
    return _page(request)


@routes.post(f"{PREFIX}/password", name="admin-password-post")
async def change_password(request: web.Request) -> web.StreamResponse:
    """POST /admin/password: current, new, again. A wrong current password counts as a failed sign-in."""
    form = await request.post()
    current, new, again = (str(form.get(name, ""))[:1024] for name in ("current", "new", "again"))
    me, now, settings = staff_of(request), now_of(request), request.app[keys.SETTINGS]
    address = request.remote or "?"
    async with request.app[keys.SESSIONS]() as session:
        failures = await logins.failures_since(
            session, me.username, address, now - timedelta(minutes=settings.login_window_minutes)
        )
        if (reason := refusal(settings, failures)) is not None:
            await record(
                session,
                request,
                "password.refused",
                object_type="staff",
                object_id=me.username,
                address=address,
                reason=reason,
            )
            await session.commit()
            return _page(request, SLOW_DOWN, status=429)
        stored = (await session.get(Staff, me.id)).password_hash  # type: ignore[union-attr]  # the signed-in account exists
    if not await check_password(stored, current):  # in a thread, no database connection held
        async with request.app[keys.SESSIONS]() as session:
            logins.record_failure(session, me.username, address, now)
            await record(
                session, request, "password.change_failed", object_type="staff", object_id=me.username, address=address
            )
            await session.commit()
        return _page(request, WRONG_CURRENT, status=400)
    if new != again:
        return _page(request, DIFFERENT, status=400)
    if new == current:
        return _page(request, SAME, status=400)
    if (problem := password_problem(new)) is not None:
        return _page(request, PROBLEMS[problem], status=400)
    async with request.app[keys.SESSIONS]() as session:
        staff = await session.get(Staff, me.id)
        try:
            await set_password(session, staff, new, keep_token=request.cookies.get(SESSION_COOKIE, ""))  # type: ignore[arg-type]  # the signed-in account exists
        except StaffError:  # password_problem said yes a moment ago; kept for safety
            return _page(request, PROBLEMS["common"], status=400)
        await record(
            session,
            request,
            "password.change",
            object_type="staff",
            object_id=me.username,
            one_time_replaced=me.must_change_password,
        )
        await session.commit()
    raise web.HTTPSeeOther(f"{PREFIX}/password?changed=1")
