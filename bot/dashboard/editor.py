"""What the dashboard's content editors share: FAQ entries, stories and quiz questions.

Each kind is edited the same way: a form (empty, or filled from the stored item) beside how citizens
see it; a post checked with the content files' own rules, then shown again (a preview, or the errors
beside the fields) or saved and audit-logged; and a switch to publish or unpublish. An `Editor`
says what differs between the kinds; `add_routes` registers its five routes.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from aiohttp import web
from multidict import MultiDictProxy

from bot import keys
from bot.dashboard.web import MAX_FIELD, form_text, reading, record, redirect, render, roles, translator_of
from content.i18n import N_, Translator
from content.importer import load_bundle
from content.loader import ContentError, ContentInvalid
from content.model import ContentBundle
from storage.models import StaffRole

ID_PATTERN = "[a-z0-9-]{1,100}"
EDITORS = (StaffRole.admin, StaffRole.province)  # commune staff get a 403
LOCALES = ("vi", "en")
RESERVED_IDS = frozenset({"new"})  # …/new is the form of a new item
ErrorMessages = tuple[tuple[re.Pattern[str], str], ...]

# The messages every kind's checks share (English, for content authors), as messages for staff; each
# kind adds its own after them.
CHECK_MESSAGES: ErrorMessages = (
    (re.compile(r"String should have at least (?P<n>\d+) characters?"), N_("At least {n} characters.")),
    (re.compile(r"String should have at most (?P<n>\d+) characters?"), N_("At most {n} characters.")),
    (re.compile(r"Field required"), N_("Required.")),
    (re.compile(r"used by another"), N_("This id is already used.")),
    (re.compile(r"unknown topic"), N_("Choose a topic from the list.")),
)


class Editable(Protocol):
    """A checked item: what the editor reads of it."""

    @property
    def id(self) -> str: ...

    @property
    def published(self) -> bool: ...


Item = TypeVar("Item", bound=Editable)


class Editor(ABC, Generic[Item]):
    """One kind of content edited in the dashboard."""

    path: ClassVar[str]  # the URL of the kind, e.g. "/admin/content/faq"
    route: ClassVar[str]  # the name of an item's page; "-new", "-create", "-save", "-publish" name the others
    id_name: ClassVar[str]  # the item's id in the URL
    template: ClassVar[str]
    object_type: ClassVar[str]  # in the audit log
    audit: ClassVar[str]  # the audit actions' prefix: "<audit>.create", ".edit", ".publish", ".unpublish"
    messages: ClassVar[ErrorMessages]  # the checks' messages (English, for content authors) as messages for staff
    unnamed_field: ClassVar[str]  # where an error that names no field is shown

    @abstractmethod
    async def get(self, session: Any, item_id: str, /) -> Any:
        """The stored row, or None."""

    @abstractmethod
    def item(self, row: Any, /) -> Item:
        """A stored row as an item."""

    @abstractmethod
    def form(self, item: Item, /) -> dict[str, Any]:
        """The form fields of a stored item."""

    @abstractmethod
    def posted(self, post: MultiDictProxy[Any], /) -> dict[str, Any]:
        """The form fields as posted."""

    @abstractmethod
    async def check(
        self, request: web.Request, session: Any, form: dict[str, Any], bundle: ContentBundle, stored: Any
    ) -> Item:
        """The form as an item, checked like a content file (raises ContentInvalid)."""

    @abstractmethod
    async def save(self, request: web.Request, session: Any, item: Item, form: dict[str, Any]) -> dict[str, Any]:
        """Store a checked item; what else the audit entry records."""

    @abstractmethod
    async def set_published(self, session: Any, row: Any, published: bool, request: web.Request) -> None:
        """Publish or withdraw a stored item."""

    @abstractmethod
    async def context(
        self, request: web.Request, form: dict[str, Any], bundle: ContentBundle, preview: Item | None
    ) -> dict[str, Any]:
        """What the kind's page shows besides the form, the errors and the publish switch."""

    @abstractmethod
    async def shown(self, request: web.Request, item: Item) -> list[dict[str, Any]]:
        """The item as citizens see it, in each language."""

    async def blank(self, request: web.Request, session: Any, bundle: ContentBundle) -> dict[str, Any]:
        """The form of a new item."""
        return {"published": True}

    async def saved(self, request: web.Request, session: Any) -> None:
        """After a save or a publish is committed (e.g. rebuild the search index)."""

    def field_name(self, field: str) -> str:
        """The form field an error of the checks belongs to ("vi.answer" → "vi_answer")."""
        return field.replace(".", "_") or self.unnamed_field

    def error_messages(
        self, errors: Iterable[ContentError], translator: Translator
    ) -> tuple[dict[str, list[str]], list[str]]:
        """Errors by form field, in the staff member's language; and all of them as lines."""
        by_field: dict[str, list[str]] = {}
        lines = []
        for error in errors:
            message = translated(error.message, self.messages, translator)
            by_field.setdefault(self.field_name(error.field), []).append(message)
            lines.append(message)
        return by_field, lines

    async def page(
        self,
        request: web.Request,
        form: dict[str, Any],
        bundle: ContentBundle,
        *,
        new: bool,
        preview: Item | None = None,
        errors: list[ContentError] | None = None,
        previewing: bool = False,
        updated_at: Any = None,
        status: int = 200,
    ) -> web.Response:
        """The editor: the form, the errors and the preview."""
        by_field, general = self.error_messages(errors or [], translator_of(request))
        return render(
            request,
            self.template,
            {
                "form": form,
                "new": new,
                "errors": by_field,
                "general_errors": general,
                "previewing": previewing,
                "saved": request.query.get("saved") == "1",
                "preview": await self.shown(request, preview) if preview else None,
                "updated_at": updated_at,
                "published": preview.published if preview and not previewing else None,
                **await self.context(request, form, bundle, preview),
            },
            status=status,
        )


def translated(message: str, messages: ErrorMessages, translator: Translator) -> str:
    """A message of the checks in the staff member's language (as it is when no pattern knows it)."""
    for pattern, text in messages:
        found = pattern.search(message)
        if found:
            return translator.gettext(text).format(**found.groupdict())
    return message


def add_routes(routes: web.RouteTableDef, editor: Editor[Any]) -> None:
    """The editor's pages, for admin and province staff: new, create, an item's page, save and publish."""
    item_path = f"{editor.path}/{{{editor.id_name}:{ID_PATTERN}}}"
    table = (
        ("GET", f"{editor.path}/new", "-new", _new),
        ("POST", f"{editor.path}/new", "-create", _create),
        ("GET", item_path, "", _edit),
        ("POST", item_path, "-save", _save),
        ("POST", f"{item_path}/publish", "-publish", _publish),
    )
    for method, path, suffix, make in table:
        routes.route(method, path, name=editor.route + suffix)(roles(*EDITORS)(make(editor)))


def _new(editor: Editor[Any]) -> Any:
    async def new(request: web.Request) -> web.Response:
        """GET …/new: the form of a new item."""
        async with reading(request) as session:
            bundle = await load_bundle(session)
            form = await editor.blank(request, session, bundle)
        return await editor.page(request, form, bundle, new=True)

    return new


def _create(editor: Editor[Any]) -> Any:
    async def create(request: web.Request) -> web.StreamResponse:
        """POST …/new: action=preview shows the item, anything else saves it."""
        return await _submit(request, editor, None)

    return create


def _edit(editor: Editor[Any]) -> Any:
    async def edit(request: web.Request) -> web.Response:
        """GET …/ID: the item's form and how citizens see it now."""
        async with reading(request) as session:
            row = await editor.get(session, request.match_info[editor.id_name])
            if row is None:
                raise web.HTTPNotFound()
            bundle = await load_bundle(session)
        item = editor.item(row)
        return await editor.page(request, editor.form(item), bundle, new=False, preview=item, updated_at=row.updated_at)

    return edit


def _save(editor: Editor[Any]) -> Any:
    async def save(request: web.Request) -> web.StreamResponse:
        """POST …/ID: action=preview shows the changed item, anything else saves it."""
        return await _submit(request, editor, request.match_info[editor.id_name])

    return save


def _publish(editor: Editor[Any]) -> Any:
    async def publish(request: web.Request) -> web.StreamResponse:
        """POST …/ID/publish: action=publish|unpublish."""
        action = form_text(await request.post(), "action", MAX_FIELD)
        if action not in ("publish", "unpublish"):
            raise web.HTTPBadRequest(text="unknown action")
        item_id = request.match_info[editor.id_name]
        async with request.app[keys.SESSIONS]() as session:
            row = await editor.get(session, item_id)
            if row is None:
                raise web.HTTPNotFound()
            await editor.set_published(session, row, action == "publish", request)
            await record(
                session, request, f"{editor.audit}.{action}", object_type=editor.object_type, object_id=item_id
            )
            await session.commit()
            await editor.saved(request, session)
        raise redirect(request, editor.route, {"saved": "1"}, **{editor.id_name: item_id})

    return publish


async def _submit(request: web.Request, editor: Editor[Any], item_id: str | None) -> web.StreamResponse:
    """Check a posted item; show it (preview or errors) or save it and log it."""
    post = await request.post()
    form = editor.posted(post)
    if item_id is not None:
        form["id"] = item_id
    async with request.app[keys.SESSIONS]() as session:
        stored = await editor.get(session, item_id) if item_id else None
        if item_id is not None and stored is None:
            raise web.HTTPNotFound()
        bundle = await load_bundle(session)
        try:
            item = await editor.check(request, session, form, bundle, stored)
        except ContentInvalid as invalid:
            return await editor.page(request, form, bundle, new=stored is None, errors=invalid.errors, status=400)
        if post.get("action") == "preview":
            return await editor.page(request, form, bundle, new=stored is None, preview=item, previewing=True)
        detail = await editor.save(request, session, item, form)
        await record(
            session,
            request,
            f"{editor.audit}.{'create' if stored is None else 'edit'}",
            object_type=editor.object_type,
            object_id=item.id,
            published=item.published,
            **detail,
        )
        await session.commit()
        await editor.saved(request, session)
    raise redirect(request, editor.route, {"saved": "1"}, **{editor.id_name: item.id})
