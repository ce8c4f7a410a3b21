"""The content as it will be on a given day: what `python -m bot content check --on DAY` reports,
and the list of entries to review that the dashboard's Content screen shows.

The loader checks fields and references once, whatever the day. This module checks what depends on
the date, with `FaqEntry.is_served_on` (published, in force, not waiting for review) as the one rule
of what citizens are given:

- errors (citizens would get no answer on that day): a topic with no entry served; an entry whose
  `replaced_by` successor is missing, or not in force on the day after the entry ends, or still
  waiting for review once the handover has come; an entry served together with its successor; a
  chain of replacements that loops; a topic of the quiz with no question drawable; a section of the
  public pages (`content/pages.yaml`) with no paragraph true on the day;
- warnings (to look at, not failing): an entry past its `valid_until` that names no successor; two
  entries served with the same question; a successor waiting for review before its handover; fewer
  drawable questions than a round asks; no story published; a campaign that never comes round in the
  year ahead;
- entries to review: those waiting for review, and those whose `valid_until` falls within
  `REVIEW_DAYS` after the day.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from content.campaigns import Campaign, trigger
from content.loader import ContentError
from content.model import ContentBundle, FaqEntry
from content.pages import PAGES_FILE, PageText
from content.quiz import QUIZ_FILE, QuizQuestion, drawable_on
from content.text import normalize
from storage.quiz import ROUND

REVIEW_DAYS = 60
CAMPAIGN_HORIZON = timedelta(days=366)


def review_until(day: date) -> date:
    """The last day of the review window that starts on `day`."""
    return day + timedelta(days=REVIEW_DAYS)


def entries_to_review(faqs: Iterable[FaqEntry], day: date) -> list[FaqEntry]:
    """Entries staff should look at before `review_until(day)`: every entry waiting for review, and
    every published one whose `valid_until` falls between `day` and then; the soonest end first."""
    last = review_until(day)
    found = [
        entry
        for entry in faqs
        if entry.needs_review
        or (entry.published and entry.valid_until is not None and day <= entry.valid_until <= last)
    ]
    return sorted(found, key=lambda entry: (entry.valid_until or date.max, entry.id))


@dataclass(frozen=True)
class DayReport:
    """What the content gives citizens on `day`, and what is wrong with it then."""

    day: date
    errors: tuple[ContentError, ...]
    warnings: tuple[ContentError, ...]
    summary: tuple[str, ...]
    to_review: tuple[FaqEntry, ...]

    @property
    def review_until(self) -> date:
        """The end of the review window."""
        return review_until(self.day)

    def lines(self) -> list[str]:
        """The report as the command prints it."""
        lines = [f"as on {self.day.isoformat()}:", *(f"  {line}" for line in self.summary)]
        lines += [f"warning: {warning}" for warning in self.warnings]
        lines += [f"error: {error}" for error in self.errors]
        lines.append(f"entries to review before {self.review_until.isoformat()}: {len(self.to_review) or 'none'}")
        lines += [f"  {_review_line(entry)}" for entry in self.to_review]
        lines.append(f"{len(self.errors)} error(s), {len(self.warnings)} warning(s) on {self.day.isoformat()}")
        return lines


def _review_line(entry: FaqEntry) -> str:
    parts = [entry.id, f"valid until {entry.valid_until.isoformat()}" if entry.valid_until else "no end date"]
    parts.append(f"replaced by {entry.replaced_by}" if entry.replaced_by else "no replaced_by")
    if entry.needs_review:
        parts.append("needs review")
    if not entry.published:
        parts.append("not published")
    return "  ".join(parts)


def check_on(
    day: date,
    bundle: ContentBundle,
    *,
    questions: Sequence[QuizQuestion] = (),
    campaigns: Sequence[Campaign] = (),
    pages: Sequence[PageText] = (),
    tz: ZoneInfo | None = None,
) -> DayReport:
    """Check `bundle` (with the quiz, the campaigns and the public pages' text) as it will be on `day`."""
    errors: list[ContentError] = []
    warnings: list[ContentError] = []
    served = [entry for entry in bundle.faqs if entry.is_served_on(day)]
    summary = [_topics(day, bundle, served, errors)]
    _replacements(day, bundle, errors, warnings)
    _expired(day, bundle, warnings)
    _twins(day, served, warnings)
    if questions:
        summary.append(_quiz(day, bundle, questions, errors, warnings))
    published = sum(1 for item in bundle.stories if item.published)
    summary.append(f"stories: {published} published")
    if bundle.stories and not published:
        warnings.append(ContentError("stories.yaml", "", "published", "no story is published"))
    if campaigns:
        summary.append(_campaigns(day, campaigns, tz or ZoneInfo("Asia/Ho_Chi_Minh"), warnings))
    if pages:
        summary.append(_pages(day, pages, errors))
    return DayReport(day, tuple(errors), tuple(warnings), tuple(summary), tuple(entries_to_review(bundle.faqs, day)))


def _file(entry: FaqEntry) -> str:
    return f"faq/{entry.topic}.yaml"


def _topics(day: date, bundle: ContentBundle, served: list[FaqEntry], errors: list[ContentError]) -> str:
    """Every topic needs an entry served on the day, or it leaves the menu."""
    counts = Counter(entry.topic for entry in served)
    for topic in bundle.topics:
        if not counts[topic.id]:
            errors.append(
                ContentError(
                    "topics.yaml",
                    topic.id,
                    "",
                    f"no entry of this topic is in force on {day} (or all wait for review): it leaves the menu",
                )
            )
    waiting = sum(1 for entry in bundle.faqs if entry.needs_review)
    listed = sum(1 for topic in bundle.topics if counts[topic.id])
    return (
        f"FAQ: {len(served)} of {len(bundle.faqs)} entries in force, in {listed} of {len(bundle.topics)} topics; "
        f"{waiting} waiting for review (not given to citizens)"
    )


def _replacements(day: date, bundle: ContentBundle, errors: list[ContentError], warnings: list[ContentError]) -> None:
    """Each successor exists and takes over the day after its predecessor ends; the two never
    serve together; a chain of successors ends."""
    for entry in bundle.faqs:
        if not entry.replaced_by or not entry.published:
            continue
        successor = bundle.faq_by_id.get(entry.replaced_by)
        if successor is None:
            errors.append(ContentError(_file(entry), entry.id, "replaced_by", f"unknown entry {entry.replaced_by!r}"))
            continue
        if _loops(entry, bundle):
            errors.append(
                ContentError(
                    _file(entry), entry.id, "replaced_by", "the chain of replacements comes back to this entry"
                )
            )
            continue
        if entry.valid_until is None:
            errors.append(ContentError(_file(entry), entry.id, "valid_until", "needed with replaced_by"))
            continue
        handover = entry.valid_until + timedelta(days=1)
        if not successor.is_valid_on(handover):
            errors.append(
                ContentError(
                    _file(entry),
                    entry.id,
                    "replaced_by",
                    f"{successor.id} is not in force on {handover}, the day after this entry ends "
                    f"({_why_not_valid(successor, handover)})",
                )
            )
        elif successor.needs_review and handover <= day:
            errors.append(
                ContentError(
                    _file(entry),
                    entry.id,
                    "replaced_by",
                    f"{successor.id} took over on {handover} but is waiting for review: citizens get neither answer",
                )
            )
        elif successor.needs_review:
            warnings.append(
                ContentError(
                    _file(entry),
                    entry.id,
                    "replaced_by",
                    f"{successor.id} is waiting for review: review it before it takes over on {handover}",
                )
            )
        if entry.is_served_on(day) and successor.is_served_on(day):
            errors.append(
                ContentError(
                    _file(entry),
                    entry.id,
                    "valid_until",
                    f"in force on {day} together with {successor.id}, which replaces it",
                )
            )


def _loops(entry: FaqEntry, bundle: ContentBundle) -> bool:
    seen = {entry.id}
    current = bundle.faq_by_id.get(entry.replaced_by or "")
    while current is not None and current.replaced_by:
        if current.replaced_by in seen:
            return current.replaced_by == entry.id
        seen.add(current.id)
        current = bundle.faq_by_id.get(current.replaced_by)
    return False


def _why_not_valid(entry: FaqEntry, day: date) -> str:
    if not entry.published:
        return "it is not published"
    if entry.valid_from and day < entry.valid_from:
        return f"it starts on {entry.valid_from}"
    return f"it ends on {entry.valid_until}"


def _expired(day: date, bundle: ContentBundle, warnings: list[ContentError]) -> None:
    """A published entry that has ended without naming a successor leaves its question unanswered."""
    for entry in bundle.faqs:
        if entry.published and entry.valid_until and entry.valid_until < day and not entry.replaced_by:
            warnings.append(
                ContentError(
                    _file(entry),
                    entry.id,
                    "valid_until",
                    f"ended on {entry.valid_until} and names no replaced_by: citizens asking this get no answer",
                )
            )


def _twins(day: date, served: list[FaqEntry], warnings: list[ContentError]) -> None:
    """Two entries served on the same day with the same question are likely two versions of one
    rule in force at once (several entries may name one successor: a merge is fine)."""
    by_question: dict[str, list[FaqEntry]] = defaultdict(list)
    for entry in served:
        by_question[normalize(entry.text("vi").question)].append(entry)
    for entries in by_question.values():
        for other in entries[1:]:
            warnings.append(
                ContentError(_file(other), other.id, "", f"in force on {day} with the same question as {entries[0].id}")
            )


def _quiz(
    day: date,
    bundle: ContentBundle,
    questions: Sequence[QuizQuestion],
    errors: list[ContentError],
    warnings: list[ContentError],
) -> str:
    """Each topic of the quiz keeps a drawable question; say how many are drawable and which not."""
    published = [question for question in questions if question.published]
    drawable = drawable_on(published, bundle.faq_by_id, day)
    by_topic = Counter(question.topic for question in drawable)
    for topic in dict.fromkeys(question.topic for question in published):
        if not by_topic[topic]:
            errors.append(
                ContentError(
                    QUIZ_FILE,
                    topic,
                    "",
                    f"no question of this topic can be drawn on {day}: every one cites an FAQ entry not in force then",
                )
            )
    if len(drawable) < ROUND:
        warnings.append(
            ContentError(
                QUIZ_FILE, "", "", f"only {len(drawable)} question(s) can be drawn on {day}: rounds ask {ROUND}"
            )
        )
    kept = {question.id for question in drawable}
    left_out = [f"{question.id} ({question.faq_id})" for question in published if question.id not in kept]
    line = f"quiz: {len(drawable)} of {len(published)} published questions can be drawn"
    return line + (f"; not drawn: {', '.join(left_out)}" if left_out else "")


def _pages(day: date, pages: Sequence[PageText], errors: list[ContentError]) -> str:
    """Each section of the public pages keeps a paragraph true on the day; name those ending soon."""
    shown = [page for page in pages if page.is_valid_on(day)]
    for section in dict.fromkeys(page.section for page in pages):
        if not any(page.section == section for page in shown):
            errors.append(ContentError(PAGES_FILE, section, "", f"no paragraph of this section is true on {day}"))
    last = review_until(day)
    ending = [
        f"{page.id} (until {page.valid_until})"
        for page in pages
        if page.valid_until is not None and day <= page.valid_until <= last
    ]
    line = f"public pages: {len(shown)} of {len(pages)} paragraphs shown"
    return line + (f"; ending before {last}: {', '.join(ending)}" if ending else "")


def _campaigns(day: date, campaigns: Sequence[Campaign], tz: ZoneInfo, warnings: list[ContentError]) -> str:
    """Each campaign still comes round within the year ahead; the next time of each."""
    start = datetime.combine(day, time.min, tzinfo=tz)
    upcoming = []
    for campaign in campaigns:
        moment = trigger(campaign, tz).get_next_fire_time(None, start)
        if moment is None or moment >= start + CAMPAIGN_HORIZON:
            warnings.append(
                ContentError("campaigns.yaml", campaign.id, "", f"does not come round in the year from {day}")
            )
        else:
            upcoming.append(f"{campaign.id} {moment.astimezone(tz).date()}")
    return f"campaigns: {len(campaigns)}" + (f"; next: {', '.join(upcoming)}" if upcoming else "")
