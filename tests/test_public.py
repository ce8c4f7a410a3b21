"""The public pages at /: every page in Vietnamese and English, well-formed and script-free; the FAQ search
gives the bot's own answer; no personal data anywhere; figures equal storage.stats; stored text escaped;
dates ahead, ways to reach the bot, caching, and no public pages in a worker process."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

from aiohttp.test_utils import TestClient
from markupsafe import escape
from sqlmodel import select

from bot import public
from bot.app import create_app
from bot.report import Period
from bot.roles import Role
from content.campaigns import Window
from handlers.faq import SUGGEST_TEXT, answer_text
from storage import public as public_repo
from storage import stats
from storage.db import SessionFactory
from storage.models import (
    Citizen, Dialogue, DialogueQuestion, DialogueStatus, FaqRow, FaqUsageRow, Poll, PollAnswer, QuizContest, QuizPlay,
    StoryRow, Ticket, TicketStatus, UnansweredQuestion,
)
from tests.conftest import telegram_settings
from tests.drivers import zalo_bot_settings
from tests.dashboard import COMMUNE, OTHER_COMMUNE, figure
from tests.fakes.telegram import BOT_USERNAME
from tests.fakes.zalo_bot import FakeZaloBot
from tests.test_report import NOW, TZ, seed

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
SECRETS = ("Nguyễn Thị Riêng Tư", "Trần Văn Kín Đáo", "Lò Thị Ẩn Danh", "Nội dung phản ánh bí mật 8841",
           "Câu hỏi đối thoại riêng 5521", "Ý kiến riêng 7731", "Người Chơi Số Một", "tg-user-777123", "PA-PRIV8K")
DIALOGUE_TOPIC = "Đối thoại về vay vốn hộ nghèo"


class Page(HTMLParser):
    """What the tests read from a page: links, images, headings, scripts and inline styles."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.images: list[str] = []
        self.headings: list[int] = []
        self.scripts = 0
        self.styles = 0
        self.lang = ""
        self.landmarks: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "html":
            self.lang = found.get("lang") or ""
        if tag == "a" and found.get("href"):
            self.links.append(found["href"] or "")
        if tag == "img":
            self.images.append(found.get("src") or "")
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        if tag in ("main", "nav", "header", "footer"):
            self.landmarks.add(tag)
        self.scripts += tag == "script"
        self.styles += tag == "style" or "style" in found


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def internal(href: str) -> bool:
    """A link to one of the public pages (not the chat, the dashboard or another site)."""
    return href.startswith("/") and not href.startswith(("/admin", "/chat", "//"))


async def crawl(client: TestClient, starts: Iterable[str], limit: int = 600) -> dict[str, str]:
    """Every public page and file reachable from `starts`: {path: body}. Each must answer 200."""
    seen: dict[str, str] = {}
    queue = list(starts)
    while queue:
        path = queue.pop(0)
        if path in seen:
            continue
        response = await client.get(path, allow_redirects=False)
        assert response.status == 200, (path, response.status)
        body = await response.text()
        seen[path] = body
        assert len(seen) <= limit
        if response.content_type == "text/html":
            page = parse(body)
            queue += [href.split("#")[0] for href in page.links + page.images if internal(href)]
    return seen


def check_page(path: str, html: str, lang: str) -> None:
    """Accessible, script-free, in the right language, every link keeping the language."""
    page = parse(html)
    assert page.lang == lang, path
    assert page.scripts == 0 and page.styles == 0, path
    assert {"main", "nav", "header", "footer"} <= page.landmarks, path
    assert 'class="skip" href="#main"' in html, path
    assert page.headings[0] == 1 and page.headings.count(1) == 1, (path, page.headings)
    assert all(b <= a + 1 for a, b in zip(page.headings, page.headings[1:], strict=False)), (path, page.headings)
    if lang == "en":
        kept = [href for href in page.links if internal(href) and not href.startswith(("/qr/", "/static/"))]
        lost = [href for href in kept if parse_qs(urlsplit(href).query).get("lang") != ["en"]]
        # The one link without ?lang=en is the switch back to Vietnamese.
        assert len(lost) == 1 and 'lang="vi"' in html, (path, lost)


def app_at(settings, **kwargs):  # type: ignore[no-untyped-def]
    return create_app(settings, clock=lambda: NOW, **kwargs)


async def test_every_page_renders_in_vietnamese_and_english(settings, aiohttp_client) -> None:
    client = await aiohttp_client(app_at(settings))
    vietnamese = await crawl(client, ["/"])
    english = await crawl(client, ["/?lang=en"])
    pages = {path: html for path, html in {**vietnamese, **english}.items() if not path.startswith(("/qr/", "/static/"))}
    kinds = {path.split("?")[0].rsplit("/", 1)[0] or path.split("?")[0] for path in pages}
    assert {"/hoi-dap", "/hoi-dap/cau", "/cau-chuyen"} <= kinds and len(pages) > 150
    for path, html in pages.items():
        check_page(path, html, "en" if "lang=en" in path else "vi")
    assert "Hỏi đáp" in vietnamese["/"] and "Về Chương trình" in vietnamese["/"] and "Lịch sắp tới" in vietnamese["/"]
    assert "Questions and answers" in english["/?lang=en"] and "About the programme" in english["/?lang=en"]
    topic = await client.get("/hoi-dap/credit?lang=en")
    assert "Loans from the Bank for Social Policies" in await topic.text()
    assert topic.headers["Content-Language"] == "en" and "default-src 'self'" in topic.headers["Content-Security-Policy"]


async def test_home_no_longer_sends_visitors_to_the_chat(settings, aiohttp_client) -> None:
    client = await aiohttp_client(app_at(settings))
    home = await client.get("/", allow_redirects=False)
    assert home.status == 200 and 'href="/chat"' in await home.text()
    assert (await client.get("/chat")).status == 200


async def test_search_shows_the_answer_the_bot_gives(settings, aiohttp_client, services) -> None:
    client = await aiohttp_client(app_at(settings))
    today = NOW.astimezone(TZ).date()
    expected = services.library.index.search("chuan ho ngheo", on=today).best.entry  # type: ignore[union-attr]
    html = await (await client.get("/hoi-dap", params={"q": "chuan ho ngheo"})).text()
    result = html.split('data-status="answer"')[1].split("</section>")[0]
    assert f"<h2 id=\"result\">{expected.text('vi').question}</h2>" in result
    for line in answer_text(expected, services.catalogs.get("vi"), today).split("\n"):
        if line.strip():
            assert _escaped(line) in result, line
    assert f"/hoi-dap/cau/{expected.id}" in result
    # The bot itself, asked the same on the web chat, gives this entry's answer.
    bot = await client.post("/chat/api/messages", json={"text": "chuan ho ngheo"})
    replies = (await bot.json())["replies"]
    assert any(expected.text("vi").answer.split("\n")[0] in reply["text"] for reply in replies), replies
    english = await (await client.get("/hoi-dap", params={"q": "chuan ho ngheo", "lang": "en"})).text()
    assert expected.text("en").question in english and "Source:" in english


async def test_a_close_call_offers_the_bots_choices(settings, aiohttp_client, services) -> None:
    client = await aiohttp_client(app_at(settings))
    result = services.library.index.search("tien dien", on=NOW.astimezone(TZ).date())
    assert result.status == "suggest"
    html = await (await client.get("/hoi-dap?q=tien+dien")).text()
    section = html.split('data-status="suggest"')[1].split("</section>")[0]
    assert services.catalogs.get("vi").gettext(SUGGEST_TEXT) in section
    assert [f"/hoi-dap/cau/{match.entry.id}" for match in result.matches] == re.findall(r'href="(/hoi-dap/cau/[^"]+)"', section)


async def test_an_unknown_question_gets_an_honest_no_answer_and_a_way_to_ask(settings, aiohttp_client, sessions) -> None:
    client = await aiohttp_client(app_at(settings))
    html = await (await client.get("/hoi-dap", params={"q": "giá vàng hôm nay bao nhiêu"})).text()
    section = html.split('data-status="none"')[1].split("</section>")[0]
    assert "Chưa có câu trả lời" in section and 'href="/chat"' in section
    assert 'value="giá vàng hôm nay bao nhiêu"' in html
    english = await (await client.get("/hoi-dap", params={"q": "gold price today", "lang": "en"})).text()
    assert "No answer yet" in english and 'href="/chat?lang=en"' in english
    async with sessions() as session:  # a page view is not a question asked: nothing is recorded
        assert (await session.exec(select(UnansweredQuestion))).all() == []
    empty = await (await client.get("/hoi-dap?q=%20%20")).text()
    assert "data-status" not in empty
    long = await client.get("/hoi-dap", params={"q": "hộ nghèo " * 70})
    assert long.status == 200 and 'value="' + ("hộ nghèo " * 60)[:500].strip() + '"' in await long.text()


async def test_entries_and_topics_are_browsable_and_unknown_ones_are_404(settings, aiohttp_client, services) -> None:
    client = await aiohttp_client(app_at(settings))
    today = NOW.astimezone(TZ).date()
    entries = services.library.in_topic("credit", today)
    html = await (await client.get("/hoi-dap/credit")).text()
    assert [f'id="{entry.id}"' in html for entry in entries] == [True] * len(entries)
    entry = await (await client.get(f"/hoi-dap/cau/{entries[0].id}")).text()
    assert entries[0].text("vi").question in entry and "Nguồn:" in entry and "Câu hỏi liên quan" in entry
    future = next(e for e in services.library.bundle.faqs if e.valid_from and e.valid_from > today)
    later = await (await client.get(f"/hoi-dap/cau/{future.id}")).text()
    assert f"Quy định này áp dụng từ ngày {future.valid_from:%d/%m/%Y}" in later
    for path in ("/hoi-dap/nothing", "/hoi-dap/cau/nothing", "/cau-chuyen/nothing"):
        response = await client.get(path)
        assert response.status == 404 and "Không tìm thấy trang" in await response.text(), path


async def seed_private(sessions: SessionFactory) -> None:
    """Citizens with names, tickets with names and texts, an anonymous one, a dialogue question, a poll
    answer and a named quiz player: everything the public pages must never show."""
    day = timedelta(days=1)
    async with sessions() as session:
        people = [
            Citizen(channel="telegram", channel_user_id="tg-user-777123", display_name=SECRETS[0], area_code=COMMUNE,
                    subscribed=True, consent_at=NOW - 30 * day, created_at=NOW - 30 * day, last_seen_at=NOW),
            Citizen(channel="webchat", channel_user_id="w1", display_name=SECRETS[1], area_code=OTHER_COMMUNE,
                    consent_at=NOW - 30 * day, created_at=NOW - 30 * day, last_seen_at=NOW),
        ]
        session.add_all(people)
        await session.flush()
        tickets = [
            Ticket(code="PA-PRIV8K", kind="complaint", area_code=COMMUNE, citizen_id=people[0].id, reporter_name=SECRETS[0],
                   body=SECRETS[3], status=TicketStatus.answered, created_at=NOW - 9 * day, due_at=NOW - 2 * day,
                   answered_at=NOW - 3 * day, updated_at=NOW),
            Ticket(code="PA-PRIV9K", kind="feedback", area_code=COMMUNE, citizen_id=people[1].id, reporter_name=SECRETS[2],
                   anonymous=True, body=SECRETS[3] + " (ẩn danh)", created_at=NOW - 2 * day, due_at=NOW + 5 * day, updated_at=NOW),
            Ticket(code="PA-PRIV7K", kind="question", area_code=OTHER_COMMUNE, citizen_id=people[1].id,
                   reporter_name=SECRETS[1], body=SECRETS[4], created_at=NOW - day, due_at=NOW + 3 * day, updated_at=NOW),
        ]
        session.add_all(tickets)
        dialogue = Dialogue(topics={"vi": DIALOGUE_TOPIC, "en": "Dialogue on loans"}, officials="Phó Chủ tịch UBND xã",
                            place="Hội trường UBND xã", area_code=COMMUNE, held_at=NOW + 10 * day,
                            questions_close_at=NOW + 8 * day, created_at=NOW - day, author="boss")
        poll = Poll(texts={"vi": "Bà con thấy thế nào?"}, free_text=True, status="open", opens_at=NOW - day,
                    closes_at=NOW + day, created_at=NOW - day)
        contest = QuizContest(titles={"vi": "Hội thi tìm hiểu chính sách giảm nghèo"}, starts_on=date(2026, 3, 1),
                              ends_on=date(2026, 3, 31), created_at=NOW - 20 * day)
        session.add_all([dialogue, poll, contest])
        await session.flush()
        session.add_all([
            DialogueQuestion(ticket_id=tickets[2].id, dialogue_id=dialogue.id, votes=3),
            PollAnswer(poll_id=poll.id, citizen_id=people[0].id, text=SECRETS[5], area_code=COMMUNE, channel="telegram",
                       answered_at=NOW, updated_at=NOW),
            QuizPlay(citizen_id=people[0].id, area_code=COMMUNE, contest_id=contest.id, question_ids=["q1"], answers=[0],
                     score=1, public_name=SECRETS[6], started_at=NOW - day, finished_at=NOW - day),
        ])
        await session.commit()


async def test_no_personal_data_on_any_public_page(settings, aiohttp_client, sessions) -> None:
    await seed(sessions)
    await seed_private(sessions)
    client = await aiohttp_client(app_at(settings))
    everything = {**await crawl(client, ["/"]), **await crawl(client, ["/?lang=en"])}
    assert DIALOGUE_TOPIC in everything["/lich"] and "<dd>1</dd>" in everything["/lich"] and "Hội thi tìm hiểu chính sách giảm nghèo" in everything["/lich"]
    assert "Xã Hòa Phú" in everything["/thong-ke"] or "xã Hòa Phú" in everything["/thong-ke"]
    for path, body in everything.items():
        for secret in SECRETS:
            assert secret not in body, (path, secret)
        assert "Lê Thị Bí Mật" not in body and "Phạm Văn C" not in body and "Hỏi về hỗ trợ" not in body, path


async def test_the_figures_equal_storage_stats(settings, aiohttp_client, sessions) -> None:
    await seed(sessions)
    client = await aiohttp_client(app_at(settings))
    html = await (await client.get("/thong-ke")).text()
    scope = Period(date(2025, 3, 11), date(2026, 3, 10)).scope(TZ, None)
    assert "Từ 11/03/2025 đến 10/03/2026" in html
    async with sessions() as session:
        summary = await stats.ticket_summary(session, scope, TZ, NOW)
        usage = await stats.faq_usage(session, scope)
        answers = sum(item.shown for item in usage)
        by_area = await public_repo.answers_by_area(session, scope)
    assert (summary.total.received, summary.total.answered, answers) == (4, 3, 42)  # the old ticket and usage fall outside
    assert figure(html, "total-answers") == str(answers)
    assert figure(html, "total-received") == str(summary.total.received)
    assert figure(html, "total-answered") == str(summary.total.answered)
    assert figure(html, "total-on-time") == f"{round(summary.total.on_time_share * 100)} %"  # type: ignore[operator]
    rows = dict(re.findall(r'<tr data-code="([^"]*)">(.*?)</tr>', html, re.S))
    assert set(rows) == set(summary.by_area) | set(by_area)
    for code, row in rows.items():
        counts = summary.by_area.get(code, stats.TicketCounts())
        cells = re.findall(r'<td class="num">([^<]*)</td>', row)
        share = "–" if counts.on_time_share is None else f"{round(counts.on_time_share * 100)} %"
        assert cells == [str(by_area.get(code, 0)), str(counts.received), str(counts.answered), share], code
    assert "Chưa rõ xã, phường" in rows[""]  # answers read by citizens who gave no commune
    # The chart is the topics table: each row's name and number as text, with a bar to scale.
    topics = re.findall(r'<tr><th scope="row">([^<]*)<svg class="chart-bar".*?<rect width="([\d.]+)"[^>]*/></svg></th>'
                        r'<td class="num">([^<]*)</td>', html.split('id="table-topics"')[1].split("</table>")[0])
    assert sorted(int(count) for _name, _width, count in topics) == sorted(t.shown for t in stats.by_topic(usage) if t.shown)
    largest = max(int(count) for _name, _width, count in topics)
    assert all(float(width) == round(100 * int(count) / largest, 1) for _name, width, count in topics)
    home = await (await client.get("/")).text()
    assert "<strong>42</strong>" in home and "<strong>4</strong>" in home


async def test_stored_text_is_escaped(settings, aiohttp_client, sessions) -> None:
    async with sessions() as session:
        row = (await session.exec(select(FaqRow).where(FaqRow.topic == "credit").order_by(FaqRow.position))).first()
        assert row is not None
        texts = {locale: {**text, "question": HOSTILE, "answer": HOSTILE} for locale, text in row.texts.items()}
        row.texts = texts
        story = (await session.exec(select(StoryRow))).first()
        assert story is not None
        story.texts = {locale: {**text, "title": HOSTILE, "body": HOSTILE} for locale, text in story.texts.items()}
        session.add_all([row, story, Dialogue(topics={"vi": HOSTILE}, officials=HOSTILE, place=HOSTILE,
                                              online_url="javascript:alert(1)", held_at=NOW + timedelta(days=3),
                                              questions_close_at=NOW + timedelta(days=2), created_at=NOW)])
        await session.commit()
        faq_id, story_id = row.id, story.id
    client = await aiohttp_client(app_at(settings))
    for path in (f"/hoi-dap/cau/{faq_id}", "/hoi-dap/credit", f"/cau-chuyen/{story_id}", "/cau-chuyen", "/lich", "/"):
        html = await (await client.get(path)).text()
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html, path
        assert "<script" not in html and "<img src=x" not in html and "javascript:" not in html, path


async def test_an_invented_story_opens_with_its_label_before_the_title_on_every_page(settings, aiohttp_client, sessions) -> None:
    async with sessions() as session:
        stories = (await session.exec(select(StoryRow).where(StoryRow.published).order_by(StoryRow.position))).all()
        assert len(stories) >= 2 and all(row.illustrative for row in stories), "the shipped stories are invented"
        real = stories[1]
        real.illustrative = False  # as a real family's story, told with its consent, would be
        session.add(real)
        await session.commit()
        shown = sorted(((row.id, row.illustrative, row.texts) for row in stories), key=lambda item: item[1])  # real ones first
    client = await aiohttp_client(app_at(settings))
    labels = {"vi": ("Ví dụ minh họa: câu chuyện được viết để giới thiệu chính sách, không phải một gia đình có thật.",
                     "Ví dụ minh họa, không phải gia đình có thật"),
              "en": ("Illustrative example: written to show how the support works, not a real family.",
                     "Illustrative example, not a real family")}
    for lang, (label, card_label) in labels.items():
        query = "?lang=en" if lang == "en" else ""
        for story_id, illustrative, texts in shown:
            title = str(escape(texts[lang]["title"]))
            article = (await (await client.get(f"/cau-chuyen/{story_id}{query}")).text()).split("<article>")[1]
            if illustrative:
                assert article.index(label) < article.index(f"<h1>{title}</h1>"), (lang, story_id)
            else:
                assert label not in article, (lang, story_id)
        listing = (await (await client.get(f"/cau-chuyen{query}")).text()).split('<ul class="cards">')[1].split("</ul>")[0]
        home = (await (await client.get(f"/{query}")).text()).split('id="stories"')[1].split("</section>")[0]
        for page, cards in (("/cau-chuyen", listing.split("<li>")[1:]), ("/", home.split("<li>")[1:])):
            assert 2 <= len(cards) <= len(shown), page
            for card, (story_id, illustrative, texts) in zip(cards, shown, strict=False):
                title = str(escape(texts[lang]["title"]))
                assert f"/cau-chuyen/{story_id}" in card and title in card, (page, story_id)
                assert (card_label in card and card.index(card_label) < card.index(title)) == illustrative, (lang, page, story_id)


async def test_dates_ahead_list_announced_dialogues_campaigns_and_contests(settings, aiohttp_client, sessions) -> None:
    day = timedelta(days=1)
    async with sessions() as session:
        session.add_all([
            Dialogue(topics={"vi": "Đối thoại sắp tới", "en": "Coming dialogue"}, place="Nhà văn hóa thôn 3",
                     online_url="https://meet.example.org/abc", area_code=COMMUNE, held_at=NOW + 5 * day,
                     questions_close_at=NOW + 4 * day, created_at=NOW),
            Dialogue(topics={"vi": "Đối thoại đã qua"}, held_at=NOW - day, questions_close_at=NOW - 2 * day, created_at=NOW),
            Dialogue(topics={"vi": "Đối thoại đã tổ chức"}, status=DialogueStatus.held, held_at=NOW + day,
                     questions_close_at=NOW, created_at=NOW),
            QuizContest(titles={"vi": "Hội thi cũ"}, starts_on=date(2025, 10, 17), ends_on=date(2025, 11, 18), created_at=NOW),
        ])
        await session.commit()
    client = await aiohttp_client(app_at(settings))
    html = await (await client.get("/lich")).text()
    assert "Đối thoại sắp tới" in html and "Đối thoại đã qua" not in html and "Đối thoại đã tổ chức" not in html
    assert "Hội thi cũ" not in html
    assert "10:00 15/03/2026" in html and "Nhà văn hóa thôn 3" in html and "xã Hòa Phú" in html
    assert 'href="https://meet.example.org/abc"' in html and "10:00 14/03/2026" in html
    assert "Tháng cao điểm Vì người nghèo" in html and "17/10/2026 – 18/11/2026" in html
    assert "01/09/2026 – 14/12/2026" in html
    assert html.index("Đối thoại sắp tới") < html.index("01/09/2026") < html.index("17/10/2026")
    english = await (await client.get("/lich?lang=en")).text()
    assert "Coming dialogue" in english and "17 Oct 2026 – 18 Nov 2026" in english


def test_campaign_windows_give_the_running_or_the_next_period() -> None:
    peak = Window((10, 17), (11, 18))
    assert public.window_dates(peak, date(2026, 3, 10)) == (date(2026, 10, 17), date(2026, 11, 18))
    assert public.window_dates(peak, date(2026, 11, 1)) == (date(2026, 10, 17), date(2026, 11, 18))
    assert public.window_dates(peak, date(2026, 11, 19)) == (date(2027, 10, 17), date(2027, 11, 18))
    new_year = Window((12, 20), (1, 10))
    assert public.window_dates(new_year, date(2027, 1, 5)) == (date(2026, 12, 20), date(2027, 1, 10))
    assert public.window_dates(new_year, date(2026, 6, 1)) == (date(2026, 12, 20), date(2027, 1, 10))


async def test_ways_to_reach_the_bot_with_qr_codes(settings, aiohttp_client, tg) -> None:
    client = await aiohttp_client(app_at(telegram_settings(settings, tg, public_base_url="https://caunoi.example.vn")))
    html = await (await client.get("/")).text()
    assert f'href="https://t.me/{BOT_USERNAME}"' in html and "https://caunoi.example.vn/chat" in html
    assert 'src="/qr/telegram.svg"' in html and 'src="/qr/web.svg"' in html and "/qr/zalo.svg" not in html
    telegram = await client.get("/qr/telegram.svg")
    assert telegram.status == 200 and telegram.content_type == "image/svg+xml"
    assert f"https://t.me/{BOT_USERNAME}" in await telegram.text() and len(await telegram.read()) < 100_000
    assert "https://caunoi.example.vn/chat" in await (await client.get("/qr/web.svg")).text()
    assert (await client.get("/qr/zalo.svg")).status == 404


async def test_zalo_is_offered_with_its_link_when_a_zalo_channel_is_on(settings, aiohttp_client) -> None:
    link = "https://zalo.me/4318822361881929104"
    without_channel = await aiohttp_client(app_at(settings.model_copy(update={"zalo_link": link})))
    assert link not in await (await without_channel.get("/")).text()
    async with FakeZaloBot(max_poll_wait=0.3) as zalo:
        client = await aiohttp_client(app_at(zalo_bot_settings(settings, zalo, zalo_link=link)))
        html = await (await client.get("/?lang=en")).text()
        assert f'href="{link}"' in html and 'src="/qr/zalo.svg"' in html
        code = await client.get("/qr/zalo.svg")
        assert code.status == 200 and link in await code.text()


async def test_without_telegram_only_the_web_chat_is_offered(settings, aiohttp_client) -> None:
    client = await aiohttp_client(app_at(settings.model_copy(update={"public_base_url": "https://caunoi.example.vn"})))
    html = await (await client.get("/")).text()
    assert "t.me/" not in html and 'src="/qr/web.svg"' in html
    assert (await client.get("/qr/telegram.svg")).status == 404


async def test_without_a_public_address_the_web_chat_is_linked_here_and_has_no_qr_code(settings, aiohttp_client) -> None:
    # A QR code or a printed link must work away from this page; only PUBLIC_BASE_URL says where that is.
    client = await aiohttp_client(app_at(settings))
    html = await (await client.get("/")).text()
    assert 'class="button" href="/chat"' in html and "/qr/web.svg" not in html and 'class="url"' not in html
    assert (await client.get("/qr/web.svg")).status == 404


async def test_the_style_sheet_is_cached_and_pages_briefly(settings, aiohttp_client) -> None:
    client = await aiohttp_client(app_at(settings))
    home = await client.get("/")
    assert home.headers["Cache-Control"] == "public, max-age=60"
    css = re.search(r'href="(/static/public\.css\?v=[0-9a-f]+)"', await home.text())
    assert css
    sheet = await client.get(css[1])
    assert sheet.status == 200 and sheet.content_type == "text/css"
    assert sheet.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert (await client.get("/static/public.css?v=old")).headers["Cache-Control"] == "public, max-age=3600"
    assert (await client.get("/static/missing.css")).status == 404
    assert (await client.get("/static/..%2Froutes.py")).status == 404


async def test_a_worker_process_serves_no_public_pages(settings, aiohttp_client) -> None:
    client = await aiohttp_client(app_at(settings, role=Role.worker))
    assert (await client.get("/")).status == 404 and (await client.get("/hoi-dap")).status == 404
    assert (await client.get("/healthz")).status == 200


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;").replace("'", "&#39;")


async def test_public_queries_on_both_backends(db_sessions) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
    async with db_sessions() as session:
        session.add_all([
            QuizContest(titles={"vi": "now"}, starts_on=date(2026, 3, 1), ends_on=date(2026, 3, 10), created_at=now),
            QuizContest(titles={"vi": "old"}, starts_on=date(2026, 1, 1), ends_on=date(2026, 3, 9), created_at=now),
            FaqUsageRow(hour=now - timedelta(days=1), area_code=COMMUNE, faq_id="x", shown=5),
            FaqUsageRow(hour=now - timedelta(days=2), area_code=COMMUNE, faq_id="y", shown=2),
            FaqUsageRow(hour=now - timedelta(days=1), area_code="", faq_id="x", shown=1),
            FaqUsageRow(hour=now - timedelta(days=90), area_code=OTHER_COMMUNE, faq_id="x", shown=7),
        ])
        await session.commit()
        contests = await public_repo.current_contests(session, date(2026, 3, 10))
        answers = await public_repo.answers_by_area(session, stats.Scope(now - timedelta(days=30), now))
        mine = await public_repo.answers_by_area(session, stats.Scope(now - timedelta(days=30), now, frozenset({COMMUNE})))
    assert [item.titles["vi"] for item in contests] == ["now"]
    assert answers == {COMMUNE: 7, "": 1} and mine == {COMMUNE: 7}


async def test_the_home_page_text_switches_by_itself_on_1_january_2027(settings, aiohttp_client) -> None:
    """The programme paragraphs come from content/pages.yaml and follow the clock: no deploy on 1/1/2027."""
    before = datetime(2026, 12, 31, 16, 59, tzinfo=UTC)  # 23:59 on 31/12/2026 in Vietnam
    after = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)  # 00:00 on 1/1/2027
    pages = {}
    for moment in (before, after):
        client = await aiohttp_client(create_app(settings, clock=lambda moment=moment: moment))
        pages[moment] = {lang: await (await client.get(f"/?lang={lang}")).text() for lang in ("vi", "en")}
    december, january = pages[before], pages[after]
    assert "Đến hết 31/12/2026" in december["vi"] and "1.500.000 đồng" in december["vi"]
    assert "Từ 1/1/2027 áp dụng chuẩn nghèo mới" in december["vi"]
    assert "1.500.000" not in january["vi"] and "2.200.000 đồng ở nông thôn" in january["vi"]
    assert "From 1/1/2027, under the new poverty standard" in january["en"] and "1,500,000" not in january["en"]
    for html in (*december.values(), *january.values()):
        assert "aims to lower" not in html and "nhằm giảm" not in html  # the 2021–2025 programme has ended
    assert "1,3%" in december["vi"] and "1.3 %" in january["en"]
