"""The citizen's profile as shown in settings, and the labels of its values."""

from __future__ import annotations

from content.i18n import N_
from handlers.actions import Menu, PrivacyAsk, Setting
from handlers.turn import Turn
from handlers.types import Button, Reply
from storage.models import HouseholdStatus

LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}
HOUSEHOLD_LABELS = {
    HouseholdStatus.poor: N_("Poor household"),
    HouseholdStatus.near_poor: N_("Near-poor household"),
    HouseholdStatus.escaped: N_("Recently escaped poverty"),
    HouseholdStatus.other: N_("Other"),
    HouseholdStatus.unknown: N_("Prefer not to say"),
}


def area_label(turn: Turn, code: str | None) -> str:
    """The commune's name with its kind, or "not set"."""
    record = turn.services.areas.get(code) if code else None
    return record.label if record else turn._("not set")


def settings_menu(turn: Turn, text: str | None = None) -> Reply:
    """The citizen's settings and the buttons to change each one."""
    _ = turn._
    citizen = turn.citizen
    consent = (
        _("yes, since {date}", date=turn.translator.format_date(citizen.consent_at)) if citizen.consent_at else _("no")
    )
    summary = _(
        "Your settings:\nLanguage: {language}\nCommune: {commune}\nHousehold: {household}\n"
        "Notices: {notices}\nConsent to store your data: {consent}",
        language=LANGUAGE_NAMES.get(turn.translator.locale, turn.translator.locale),
        commune=area_label(turn, citizen.area_code),
        household=_(HOUSEHOLD_LABELS[HouseholdStatus(citizen.household_status)]),
        notices=_("on") if citizen.subscribed else _("off"),
        consent=consent,
    )
    rows: list[tuple[Button, ...]] = [
        (Button(_("Change language"), Setting("language").pack()),),
        (Button(_("Change commune"), Setting("area").pack()),),
        (Button(_("Change household status"), Setting("household").pack()),),
    ]
    if citizen.consent_at is None:
        rows.append((Button(_("Agree to store my data"), Setting("consent").pack()),))
    rows.append(
        (Button(_("🔕 Turn notices off"), Menu("unsubscribe").pack()),)
        if citizen.subscribed
        else (Button(_("🔔 Turn notices on"), Menu("subscribe").pack()),)
    )
    rows.append((Button(_("🗑 Delete my data"), PrivacyAsk().pack()),))
    rows.append((Button(_("‹ Main menu"), Menu("home").pack()),))
    return Reply(f"{text}\n\n{summary}" if text else summary, buttons=tuple(rows))
