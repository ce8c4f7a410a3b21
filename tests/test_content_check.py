"""The content as on a day (`content.check`): gaps and overlaps between an entry and its successor,
topics and quiz topics left empty, entries to review before their end, and the command
`python -m bot content check --on DAY` on the shipped content."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.__main__ import build_parser
from content.campaigns import load_campaigns
from content.check import check_on, entries_to_review, review_until
from content.model import ContentBundle, Story, StoryText, Topic
from tests.test_content_in_force import entry, question

ROOT = Path(__file__).resolve().parent.parent
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def topic(topic_id: str) -> Topic:
    """A topic titled by its id."""
    return Topic(topic_id, {"vi": topic_id, "en": topic_id})


def found(report, kind: str = "errors") -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(entry, field) of each error, or of each warning."""
    return {(item.entry, item.field) for item in getattr(report, kind)}


def test_a_clean_bundle_has_no_errors_and_lists_what_ends_soon() -> None:
    day = date(2026, 12, 6)
    story = Story("s", {"vi": StoryText("Câu chuyện", "Tóm tắt câu chuyện.", "Nội dung " * 10, "Bài học")})
    bundle = ContentBundle(topics=(topic("t"),), stories=(story,), faqs=(
        entry("old", valid_until=date(2026, 12, 31), replaced_by="new"), entry("new", valid_from=date(2027, 1, 1)),
        entry("later", valid_until=date(2027, 2, 5)), entry("unsure", needs_review=True),
        entry("soon-hidden", valid_until=date(2026, 12, 20), published=False), entry("always"),
    ))
    quiz = [question("q1", "old"), *(question(f"q{number}", "always") for number in range(2, 6))]
    report = check_on(day, bundle, questions=quiz)
    assert report.errors == () and report.warnings == ()
    assert review_until(day) == date(2027, 2, 4) == report.review_until
    assert [item.id for item in report.to_review] == ["old", "unsure"]  # "later" ends on day 61
    assert [item.id for item in entries_to_review(bundle.faqs, day)] == ["old", "unsure"]
    lines = report.lines()
    assert "entries to review before 2027-02-04: 2" in lines
    assert "  old  valid until 2026-12-31  replaced by new" in lines
    assert "  unsure  no end date  no replaced_by  needs review" in lines
    assert "  quiz: 5 of 5 published questions can be drawn" in lines
    after = check_on(date(2027, 1, 2), bundle, questions=quiz)
    assert after.errors == () and "  quiz: 4 of 5 published questions can be drawn; not drawn: q1 (old)" in after.lines()
    assert found(after, "warnings") == {("", "")}  # fewer than a round


def test_gaps_overlaps_and_empty_topics_are_errors_on_the_day() -> None:
    day = date(2027, 1, 2)
    bundle = ContentBundle(topics=(topic("t"), topic("empty")), faqs=(
        entry("gap", valid_until=date(2026, 12, 31), replaced_by="late"), entry("late", valid_from=date(2027, 2, 1)),
        entry("overlap", valid_until=date(2027, 6, 30), replaced_by="early"), entry("early", valid_from=date(2027, 1, 1)),
        entry("handed", valid_until=date(2026, 12, 31), replaced_by="unreviewed"), entry("unreviewed", needs_review=True),
        entry("ahead", valid_until=date(2027, 1, 31), replaced_by="unreviewed-ahead"),
        entry("unreviewed-ahead", valid_from=date(2027, 2, 1), needs_review=True),
        entry("gone", valid_until=date(2026, 12, 31)), entry("loop-a", valid_until=date(2027, 12, 31), replaced_by="loop-b"),
        entry("loop-b", valid_until=date(2028, 12, 31), replaced_by="loop-a"), entry("empty-only", "empty", needs_review=True),
        entry("twin", "t"), dataclasses.replace(entry("twin-copy"), texts=entry("twin").texts),
    ))
    quiz = [question("q-gone", "gone", "old-rules"), question("q-twin", "twin")]
    report = check_on(day, bundle, questions=quiz)
    assert found(report) == {
        ("empty", ""), ("gap", "replaced_by"), ("overlap", "valid_until"), ("handed", "replaced_by"),
        ("loop-a", "replaced_by"), ("loop-b", "replaced_by"), ("old-rules", ""),
    }
    assert found(report, "warnings") >= {("ahead", "replaced_by"), ("gone", "valid_until"), ("twin-copy", ""), ("", "")}
    assert "late is not in force on 2027-01-01" in str(report.errors)
    assert "error: topics.yaml: empty: no entry of this topic is in force on 2027-01-02 (or all wait for review): it leaves the menu" in report.lines()
    assert report.lines()[-1] == f"{len(report.errors)} error(s), {len(report.warnings)} warning(s) on 2027-01-02"


@pytest.mark.parametrize("day", [date(2026, 12, 6), date(2027, 1, 2)])
def test_the_shipped_campaigns_come_round_within_a_year(bundle, day: date) -> None:
    report = check_on(day, bundle, campaigns=load_campaigns(), tz=TZ)
    assert not [warning for warning in report.warnings if warning.file == "campaigns.yaml"]
    assert any(line.startswith("campaigns: ") and "; next: " in line for line in report.summary)


def check_command(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot content check ARGS` on the shipped content, as an operator runs it."""
    return subprocess.run([sys.executable, "-m", "bot", "content", "check", *args], cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)


def test_the_command_takes_a_day_and_says_so_in_its_help() -> None:
    help_text = build_parser().parse_args(["content", "check", "--on", "2027-01-02"])
    assert help_text.on == date(2027, 1, 2)
    refused = check_command("--on", "2027-13-01")
    assert refused.returncode == 2 and "--on" in refused.stderr
    usage = check_command("--help")
    assert "--on YYYY-MM-DD" in usage.stdout and "60 days" in usage.stdout


def test_the_shipped_content_is_ready_for_the_new_year() -> None:
    result = check_command("--on", "2027-01-02")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("content/ is valid: ") and "as on 2027-01-02:" in lines
    assert any(line.startswith("entries to review before 2027-03-03: ") for line in lines)
    assert lines[-1].startswith("0 error(s), ")


def test_before_the_new_year_the_entries_ending_with_2026_are_listed_to_review() -> None:
    result = check_command("--on", "2026-12-06")
    assert result.returncode == 0, result.stdout + result.stderr
    listed = result.stdout.split("entries to review before 2027-02-04: ")[1]
    assert "poverty-line-2022-2026  valid until 2026-12-31  replaced by poverty-line-2027-2030" in listed
    assert "public pages: 3 of 4 paragraphs shown; ending before 2027-02-04: standard-2022-2026 (until 2026-12-31)" in result.stdout


def test_a_public_page_section_left_with_no_paragraph_true_that_day_is_an_error() -> None:
    from content.model import Source
    from content.pages import PageText

    def paragraph(page_id: str, **dates: date) -> PageText:
        return PageText(page_id, "home-about", {"vi": page_id, "en": page_id}, (Source("Nghị định 351/2025/NĐ-CP"),), **dates)

    bundle = ContentBundle(topics=(topic("t"),), faqs=(entry("a"),))
    gap = (paragraph("old", valid_until=date(2026, 12, 31)), paragraph("new", valid_from=date(2027, 1, 2)))
    assert ("home-about", "") in found(check_on(date(2027, 1, 1), bundle, pages=gap))
    assert not check_on(date(2027, 1, 2), bundle, pages=gap).errors
    december = check_on(date(2026, 12, 6), bundle, pages=gap)
    assert not december.errors and "old (until 2026-12-31)" in december.summary[-1]
