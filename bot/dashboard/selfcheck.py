"""Dashboard screen: the household self-check's indicator questions (Content → Self-check), and the
names of self-check results the inbox and statistics show.

Each question ships `needs_review` (its thresholds are not confirmed in our sources) and is not
asked until staff confirm it here, after checking the wording against the decree; staff may edit
the wording first. Every save is audit-logged; `content import` then leaves the question alone.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bot import keys
from bot.dashboard.web import PREFIX, form_text, now_of, reading, record, redirect, render, roles
from content.i18n import N_
from content.selfcheck import question_from
from storage import selfcheck as selfcheck_repo
from storage.models import StaffRole

routes = web.RouteTableDef()
EDITORS = (StaffRole.admin, StaffRole.province)
LOCALES = ("vi", "en")
QUESTION_ID = r"{question_id:[a-z0-9-]{1,100}}"
ACTIONS = {"save": None, "confirm": False, "review": True}  # the `needs_review` each action sets (None: unchanged)
OUTCOME_LABELS = {
    "poor": N_("May be poor"),
    "near_poor": N_("May be near-poor"),
    "under_line": N_("Under the line (indicators not asked)"),
    "average": N_("Average living standard"),
    "above": N_("Above the line"),
}
MESSAGES = {
    "confirm": N_("Confirmed: the bot now asks this question in the self-check."),
    "review": N_("Sent back for review: the bot no longer asks this question."),
    "save": N_("Saved."),
}


@routes.get(f"{PREFIX}/content/selfcheck", name="admin-content-selfcheck")
@roles(*EDITORS)
async def questions(request: web.Request) -> web.Response:
    """GET /admin/content/selfcheck: every indicator question with its state and a form to edit or confirm it."""
    async with reading(request) as session:
        rows = await selfcheck_repo.questions(session)
    done = request.query.get("done", "")
    return render(
        request,
        "admin/content/selfcheck.html",
        {
            "questions": [(row, row.data) for row in rows],
            "locales": LOCALES,
            "message": MESSAGES.get(done, ""),
            "error": request.query.get("error", ""),
            "changed": request.query.get("id", ""),
        },
    )


@routes.post(f"{PREFIX}/content/selfcheck/{QUESTION_ID}", name="admin-content-selfcheck-save")
@roles(*EDITORS)
async def save(request: web.Request) -> web.StreamResponse:
    """POST …/ID: action=save (wording, deficit answer), confirm (ask it from now on) or review (stop asking it)."""
    post = await request.post()
    action = form_text(post, "action", 20)
    if action not in ACTIONS:
        raise web.HTTPBadRequest(text="unknown action")
    question_id = request.match_info["question_id"]
    async with request.app[keys.SESSIONS]() as session:
        row = await selfcheck_repo.get_question(session, question_id)
        if row is None:
            raise web.HTTPNotFound()
        data = _edited(dict(row.data), post)
        if ACTIONS[action] is not None:
            data["needs_review"] = ACTIONS[action]
        try:
            question_from(data)
        except ValidationError:
            raise redirect(request, "admin-content-selfcheck", {"error": "invalid", "id": question_id}) from None
        await selfcheck_repo.save_question(session, row, data, now_of(request))
        await record(
            session,
            request,
            f"selfcheck.{action}",
            object_type="selfcheck_question",
            object_id=question_id,
            needs_review=data["needs_review"],
        )
        await session.commit()
    raise redirect(request, "admin-content-selfcheck", {"done": action, "id": question_id})


def _edited(data: dict[str, Any], post: Any) -> dict[str, Any]:
    """The stored question with the posted wording and deficit answer."""
    for locale in LOCALES:
        text = dict(data.get(locale) or {})
        for name, limit in (("indicator", 100), ("question", 300)):
            value = form_text(post, f"{locale}_{name}", limit + 1)
            if value:
                text[name] = value
        data[locale] = text
    deficit = form_text(post, "deficit_if", 3)
    if deficit in ("yes", "no"):
        data["deficit_if"] = deficit
    return data
