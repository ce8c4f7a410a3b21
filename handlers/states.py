"""Named conversation states. The diagram beside this file (`states.mmd`) shows the flows."""

from enum import StrEnum


class State(StrEnum):
    """Where a citizen is. `idle` means no multi-step flow is in progress."""

    idle = "idle"
    consent = "onboarding.consent"
    language = "onboarding.language"
    area = "onboarding.area"
    household = "onboarding.household"
    confirm_delete = "privacy.confirm_delete"
    feedback_kind = "feedback.kind"
    feedback_topic = "feedback.topic"
    feedback_message = "feedback.message"
    feedback_photos = "feedback.photos"
    feedback_location = "feedback.location"
    feedback_area = "feedback.area"
    feedback_identity = "feedback.identity"
    feedback_name = "feedback.name"
    feedback_confirm = "feedback.confirm"
    ticket_add = "ticket.add"
    officer_reply = "officer.reply"
    officer_note = "officer.note"
    officer_reason = "officer.reason"
    notice_text = "notice.text"
    notice_confirm = "notice.confirm"
    poll_text = "poll.text"
    dialogue_question = "dialogue.question"
    selfcheck_area = "selfcheck.area"
    selfcheck_people = "selfcheck.people"
    selfcheck_basis = "selfcheck.basis"
    selfcheck_income = "selfcheck.income"
    selfcheck_indicator = "selfcheck.indicator"
    selfcheck_result = "selfcheck.result"
    selfcheck_request_area = "selfcheck.request_area"
    selfcheck_confirm = "selfcheck.confirm"
    nominate_who = "nominate.who"
    nominate_area = "nominate.area"
    nominate_story = "nominate.story"
    nominate_photos = "nominate.photos"
    nominate_consent = "nominate.consent"
    nominate_identity = "nominate.identity"
    nominate_name = "nominate.name"
    nominate_confirm = "nominate.confirm"


class Mode(StrEnum):
    """Why a step was started, which decides where it leads afterwards."""

    onboarding = "onboarding"
    settings = "settings"
    subscribe = "subscribe"


def flow_states(flow: str) -> frozenset[State]:
    """Every step of one flow: the states named "<flow>.<step>"."""
    return frozenset(state for state in State if state.startswith(f"{flow}."))
