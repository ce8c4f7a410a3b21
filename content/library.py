"""The content in use by a running bot, with its search index."""

from __future__ import annotations

from datetime import date

from content.model import ContentBundle, FaqEntry, Story, Topic
from content.search import FaqIndex


class Library:
    """Content and index, swapped together when content changes (no restart needed)."""

    def __init__(self, bundle: ContentBundle, version: str | None = None) -> None:
        self.bundle = bundle
        self.index = FaqIndex(bundle.faqs)
        self.version = version

    def replace(self, bundle: ContentBundle, version: str | None = None) -> None:
        """Use new content from now on; `version` names the stored content it was built from."""
        index = FaqIndex(bundle.faqs)
        self.bundle, self.index, self.version = bundle, index, version

    def faq(self, faq_id: str) -> FaqEntry | None:
        """An entry by id."""
        return self.bundle.faq_by_id.get(faq_id)

    def previous(self, entry: FaqEntry) -> FaqEntry | None:
        """The entry this one replaced, if any."""
        return self.bundle.replaced.get(entry.id)

    def served(self, on: date) -> list[FaqEntry]:
        """The entries citizens are given on `on` (published, in force, not waiting for review), in order."""
        return [entry for entry in self.bundle.faqs if entry.is_served_on(on)]

    def topics(self, on: date) -> list[Topic]:
        """Topics that have at least one entry served on `on`."""
        used = {entry.topic for entry in self.served(on)}
        return [topic for topic in self.bundle.topics if topic.id in used]

    def topic(self, topic_id: str) -> Topic | None:
        """A topic by id."""
        return next((topic for topic in self.bundle.topics if topic.id == topic_id), None)

    def in_topic(self, topic_id: str, on: date) -> list[FaqEntry]:
        """Entries of a topic served on `on`, in order."""
        return [entry for entry in self.served(on) if entry.topic == topic_id]

    def stories(self) -> list[Story]:
        """Published stories, real ones first, then the illustrative ones, each in order."""
        published = [item for item in self.bundle.stories if item.published]
        return sorted(published, key=lambda item: item.illustrative)

    def story(self, story_id: str) -> Story | None:
        """A published story by id."""
        return next((item for item in self.stories() if item.id == story_id), None)
