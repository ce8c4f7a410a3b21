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


class Mode(StrEnum):
    """Why a step was started, which decides where it leads afterwards."""

    onboarding = "onboarding"
    settings = "settings"
    subscribe = "subscribe"
