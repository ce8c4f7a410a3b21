"""`python -m bot ask`: the bot's answer to questions, from the command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import date

from bot.config import Settings
from content.areas import read_area_records
from content.i18n import Catalogs, Translator
from content.importer import load_bundle
from content.loader import load_content
from content.model import ContentBundle, FaqEntry
from content.search import FaqIndex, SearchResult, Status
from handlers.engine import utc_now
from handlers.faq import NO_ANSWER_TEXT, SUGGEST_TEXT, answer_text
from storage.db import opened, sqlite_path


async def content_for(settings: Settings) -> ContentBundle:
    """The content in the database when it has some, else the files in `content/`."""
    path = sqlite_path(settings.database_url)
    if path is None or path.exists():
        async with opened(settings.database_url) as sessions:
            try:
                async with sessions() as session:
                    bundle = await load_bundle(session)
            except Exception:  # no schema yet: fall back to the files
                bundle = ContentBundle()
        if bundle.faqs:
            return bundle
    return load_content(area_codes=[record.code for record in read_area_records()])


def describe(
    question: str,
    result: SearchResult,
    translator: Translator,
    today: date,
    replaced: dict[str, FaqEntry] | None = None,
) -> dict:
    """The JSON form of one answer, with the exact text the citizen would see (`replaced`: the
    entry each one replaced, `ContentBundle.replaced`)."""
    best = result.best
    if result.status is Status.answer and best is not None:
        shown = answer_text(best.entry, translator, today, (replaced or {}).get(best.entry.id))
    elif result.status is Status.suggest:
        shown = translator.gettext(SUGGEST_TEXT) + "".join(
            f"\n{number}. {m.entry.text(translator.locale).question}" for number, m in enumerate(result.matches, 1)
        )
    else:
        shown = translator.gettext(NO_ANSWER_TEXT)
    return {
        "question": question,
        "status": result.status.value,
        "faq_id": best.entry.id if best and result.status is Status.answer else None,
        "score": best.score if best else 0.0,
        "answer": shown,
        "suggestions": [
            {"faq_id": m.entry.id, "question": m.entry.text(translator.locale).question}
            for m in result.matches
            if result.status is Status.suggest
        ],
    }


async def run_ask(
    settings: Settings, words: list[str], *, locale: str | None, as_json: bool, on: date | None = None
) -> int:
    """Answer the question in `words`, or each line of standard input; print one result each."""
    bundle = await content_for(settings)
    index = FaqIndex(bundle.faqs)
    translator = Catalogs(settings.tz, settings.default_locale).get(locale)
    today = on or utc_now().astimezone(settings.tz).date()
    questions: Iterable[str] = [" ".join(words)] if words else (line.strip() for line in sys.stdin)
    for question in questions:
        if not question:
            continue
        result = describe(question, index.search(question, on=today), translator, today, bundle.replaced)
        if as_json:
            print(json.dumps(result, ensure_ascii=False), flush=True)
        elif words:
            print(result["answer"])
        else:
            print(f"{result['status']}\t{result['faq_id'] or '-'}\t{result['score']:.2f}\t{question}", flush=True)
    return 0
