"""Accessibility of the public pages and the web chat in real headless Chromium, on a 360 px wide phone.

The text is enlarged the way a reader does it: Chromium's own font-size setting doubled (16 → 32 px,
what "text size 200 %" in the browser's settings does), so everything sized in rem/em grows and
nothing sized in px does. At that size no page may scroll sideways; at 100 % and 200 % every link,
button and field is at least 44 × 44 CSS px (or has no other target within a 44 px square around
it); keyboard focus shows a ring with at least 3:1 contrast against what it is drawn on (WCAG 2.2,
1.4.11), in the chat's light and dark schemes; and the chart on /thong-ke keeps its text at 12 px or
more.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from storage.models import Dialogue
from tests.browser import new_tab, screenshot, serve
from tests.dashboard import COMMUNE
from tests.test_public import seed_private
from tests.test_report import NOW, seed

PHONE = {"width": 360, "height": 740}
DEFAULT_TEXT = 16  # px, Chromium's default font size
TARGET = 44  # px, WCAG 2.5.5 (AAA) and the platforms' guidelines; 2.5.8 (AA) asks 24
RING_CONTRAST = 3.0
SMALLEST_CHART_TEXT = 12  # px as rendered
PUBLIC_PAGES = ("/", "/hoi-dap", "/hoi-dap?q=chuan+ho+ngheo", "/hoi-dap?q=tien+dien", "/hoi-dap?q=gia+vang",
                "/hoi-dap/credit", "/cau-chuyen", "/lich", "/thong-ke", "/hoi-dap/khong-co", "/?lang=en", "/thong-ke?lang=en")
# A FAQ entry and a story are found from the pages above (their first links).
FOLLOWED = (("/hoi-dap/credit", ".qa .meta a"), ("/cau-chuyen", ".cards h2 a"))

DESCRIBE = """
window.describe = el => {
  const text = (el.innerText || el.value || el.getAttribute('aria-label') || '').trim().slice(0, 40);
  return el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (typeof el.className === 'string' && el.className ? '.' + el.className.trim().split(/\\s+/).join('.') : '') +
    (text ? ' "' + text + '"' : '');
};
"""

OVERFLOW = DESCRIBE + """
() => {
  const root = document.documentElement, width = root.clientWidth;
  const wide = [], cut = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect(), style = getComputedStyle(el);
    // A data table may scroll inside its own box (WCAG 1.4.10 exempts two-dimensional tables).
    if (box.width && box.right > width + 0.5 && !el.closest('.scroll')) wide.push(describe(el) + ' right=' + Math.round(box.right));
    // A text field scrolls its own value; anything else cut off at its edge is lost to the reader.
    if (['hidden', 'clip'].includes(style.overflowX) && !el.matches('input, textarea') && el.clientWidth > 1 &&
        el.scrollWidth > el.clientWidth + 1)
      cut.push(describe(el) + ' ' + el.scrollWidth + '>' + el.clientWidth);
  }
  return {scrollWidth: root.scrollWidth, clientWidth: width, rootFont: getComputedStyle(root).fontSize,
          wide: wide.slice(0, 8), cut: cut.slice(0, 8)};
}
"""

# Links inside running text are exempt (WCAG 2.5.8, "Inline": a link in a sentence is as tall as its
# line). A link counts as inline when it is laid out inline and its block holds words outside links;
# a link alone in its paragraph, a list of links, a menu or a button is a target and must be 44 px.
TARGETS = DESCRIBE + """
() => {
  const inSentence = el => {
    if (el.tagName !== 'A' || getComputedStyle(el).display !== 'inline') return false;
    let block = el.parentElement;
    while (getComputedStyle(block).display === 'inline') block = block.parentElement;
    const walker = document.createTreeWalker(block, NodeFilter.SHOW_TEXT);
    let words = '';
    while (walker.nextNode()) if (!walker.currentNode.parentElement.closest('a')) words += walker.currentNode.data;
    return /\\p{L}{2,}/u.test(words);
  };
  const all = [...document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]:not([tabindex="-1"])')]
    .map(el => ({el, box: el.getBoundingClientRect()}))
    .filter(({el, box}) => box.width > 1 && box.height > 1 && box.right > 0 && getComputedStyle(el).visibility !== 'hidden');
  const overlaps = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  const sizes = [], small = [];
  let inline = 0;
  for (const {el, box} of all) {
    if (inSentence(el)) { inline++; continue; }
    sizes.push([Math.round(box.width * 10) / 10, Math.round(box.height * 10) / 10, describe(el)]);
    if (box.width >= %(target)d - 0.01 && box.height >= %(target)d - 0.01) continue;
    const x = box.left + box.width / 2, y = box.top + box.height / 2, half = %(target)d / 2;
    const square = {left: x - half, right: x + half, top: y - half, bottom: y + half};
    const crowded = all.some(other => other.el !== el && !other.el.contains(el) && !el.contains(other.el) && overlaps(square, other.box));
    if (crowded) small.push(describe(el) + ' ' + Math.round(box.width) + '×' + Math.round(box.height));
  }
  return {count: sizes.length, inline, small, sizes};
}
""" % {"target": TARGET}

# The focused element's outline and the colour under the middle of each of its four sides.
RING = DESCRIBE + """
() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  const parse = colour => {
    const found = colour.match(/[\\d.]+/g).map(Number);
    return [found[0], found[1], found[2], found.length > 3 ? found[3] : 1];
  };
  const under = (x, y) => {
    let layers = [];
    for (const below of document.elementsFromPoint(x, y)) {
      if (below === el || el.contains(below)) continue;
      const colour = parse(getComputedStyle(below).backgroundColor);
      if (colour[3] > 0) layers.push(colour);
      if (colour[3] >= 1) break;
    }
    layers.push([255, 255, 255, 1]);  // the canvas
    let [r, g, b] = layers.pop();
    for (const [lr, lg, lb, a] of layers.reverse()) { r = lr * a + r * (1 - a); g = lg * a + g * (1 - a); b = lb * a + b * (1 - a); }
    return [r, g, b];
  };
  const style = getComputedStyle(el), box = el.getBoundingClientRect();
  const width = parseFloat(style.outlineWidth) || 0, reach = (parseFloat(style.outlineOffset) || 0) + width / 2;
  const points = [[box.left - reach, box.top + box.height / 2], [box.right + reach, box.top + box.height / 2],
                  [box.left + box.width / 2, box.top - reach], [box.left + box.width / 2, box.bottom + reach]]
    .filter(([x, y]) => x >= 0 && y >= 0 && x < innerWidth && y < innerHeight);
  return {what: describe(el), visible: el.matches(':focus-visible'), style: style.outlineStyle, width,
          colour: parse(style.outlineColor), behind: points.map(([x, y]) => under(x, y))};
}
"""

CHART_TEXT = """
() => {
  const found = [];
  for (const el of document.querySelectorAll('section[aria-labelledby=by-topic] *')) {
    const own = [...el.childNodes].some(node => node.nodeType === Node.TEXT_NODE && node.data.trim());
    if (!own) continue;
    let size = parseFloat(getComputedStyle(el).fontSize);
    if (el instanceof SVGElement) {
      if (!(el instanceof SVGTextContentElement)) continue;  // <title> and <desc> are not drawn
      size *= el.getScreenCTM().a;  // SVG text shrinks with its drawing
    }
    found.push([Math.round(size * 10) / 10, el.textContent.trim().slice(0, 30)]);
  }
  return found;
}
"""


def luminance(rgb: tuple[float, ...] | list[float]) -> float:
    """WCAG 2 relative luminance of an sRGB colour given as 0–255 channels."""
    def linear(channel: float) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (linear(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(one: tuple[float, ...] | list[float], other: tuple[float, ...] | list[float]) -> float:
    """WCAG 2 contrast ratio, 1 to 21."""
    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_contrast_formula() -> None:
    assert round(contrast((0, 0, 0), (255, 255, 255)), 1) == 21.0
    assert round(contrast((0xd9, 0x8a, 0x00), (0xf4, 0xf7, 0xf5)), 2) == 2.57  # the old ring on the page background


@pytest.fixture
async def server(settings, sessions):  # type: ignore[no-untyped-def]
    await seed(sessions)
    await seed_private(sessions)
    async with sessions() as session:  # one dialogue with a link to join online
        session.add(Dialogue(topics={"vi": "Đối thoại trực tuyến về bảo hiểm y tế", "en": "Online dialogue on health insurance"},
                             place="Trực tuyến", online_url="https://meet.example.org/doi-thoai-bao-hiem-y-te-ho-ngheo-2026",
                             area_code=COMMUNE, held_at=NOW + timedelta(days=6), questions_close_at=NOW + timedelta(days=5),
                             created_at=NOW))
        await session.commit()
    public = settings.model_copy(update={"public_base_url": "http://caunoi.daklak.example"})
    async for live in serve(public, clock=lambda: NOW):
        yield live


async def phone_at(browser, text_size: int, **options: object) -> AsyncIterator[object]:  # type: ignore[no-untyped-def]
    """A 360 px phone page whose browser text size is `text_size` px (16 is the default, 32 is 200 %)."""
    async with new_tab(browser, viewport=PHONE, locale="vi-VN", is_mobile=True, has_touch=True, **options) as tab:
        session = await tab.context.new_cdp_session(tab)
        sizes = {"standard": text_size, "fixed": round(text_size * 13 / 16)}
        await session.send("Page.setFontSizes", {"fontSizes": sizes})
        yield tab


@pytest.fixture
async def big_text(browser) -> AsyncIterator[object]:  # type: ignore[no-untyped-def]
    async for tab in phone_at(browser, 2 * DEFAULT_TEXT):
        yield tab


@pytest.fixture
async def normal_text(browser) -> AsyncIterator[object]:  # type: ignore[no-untyped-def]
    async for tab in phone_at(browser, DEFAULT_TEXT):
        yield tab


async def all_pages(tab, server) -> list[str]:  # type: ignore[no-untyped-def]
    """The public pages to check, with a FAQ entry and a story found by following links."""
    found = list(PUBLIC_PAGES)
    for page, link in FOLLOWED:
        await tab.goto(server.url(page))
        found.append(await tab.locator(link).first.get_attribute("href"))
    return found


async def open_chat(tab, server) -> None:  # type: ignore[no-untyped-def]
    """The web chat with the bot's welcome and its buttons shown."""
    await tab.goto(server.url("/chat"))
    await tab.wait_for_selector("[data-testid=chip]")
    await tab.wait_for_function("window.cauNoiIdle === true")


async def test_no_page_scrolls_sideways_with_text_at_200_percent_on_a_360_px_phone(server, big_text) -> None:
    failures = {}
    for path in [*await all_pages(big_text, server), "/chat"]:
        if path == "/chat":
            await open_chat(big_text, server)
        else:
            await big_text.goto(server.url(path))
        found = await big_text.evaluate(OVERFLOW)
        assert found["rootFont"] == f"{2 * DEFAULT_TEXT}px", path  # the text really is at 200 %
        if found["scrollWidth"] > found["clientWidth"] or found["wide"] or found["cut"]:
            failures[path] = found
    assert failures == {}


@pytest.mark.parametrize("text_size", [DEFAULT_TEXT, 2 * DEFAULT_TEXT], ids=["text-100", "text-200"])
async def test_every_target_is_at_least_44_px(server, browser, text_size) -> None:  # type: ignore[no-untyped-def]
    failures, smallest = {}, []
    async for tab in phone_at(browser, text_size):
        for path in [*await all_pages(tab, server), "/chat"]:
            if path == "/chat":
                await open_chat(tab, server)
            else:
                await tab.goto(server.url(path))
                await tab.keyboard.press("Tab")  # shows the skip link, so that it is measured too
                assert "skip" in await tab.evaluate("document.activeElement.className"), path
            found = await tab.evaluate(TARGETS)
            assert found["count"] > 0, path
            smallest += [(min(w, h), w, h, what, path) for w, h, what in found["sizes"]]
            if found["small"]:
                failures[path] = found["small"]
    print("smallest targets:", sorted(smallest)[:5])
    assert failures == {}


async def focus_rings(tab, limit: int = 120) -> list[dict]:  # type: ignore[no-untyped-def]
    """Tab through the page (wrapping around once at most) and read each focused element's ring."""
    rings: list[dict] = []
    first = None
    for _ in range(limit):
        await tab.keyboard.press("Tab")
        ring = await tab.evaluate(RING)
        if ring is None:
            continue
        if ring["what"] == first:
            break
        first = first or ring["what"]
        rings.append(ring)
    return rings


def ring_failures(rings: list[dict]) -> list[str]:
    """Rings that are missing, thin, or below 3:1 against a colour they are drawn on."""
    failures = []
    for ring in rings:
        worst = min((contrast(ring["colour"], behind) for behind in ring["behind"]), default=0)
        if not ring["visible"] or ring["style"] == "none" or ring["width"] < 2 or worst < RING_CONTRAST:
            failures.append(f"{ring['what']}: {ring['style']} {ring['width']}px {ring['colour']} {worst:.2f}:1 on {ring['behind']}")
    return failures


async def test_the_focus_ring_has_3_to_1_contrast_on_every_background(server, normal_text, browser) -> None:
    failures, ratios = {}, []
    for path in await all_pages(normal_text, server):
        await normal_text.goto(server.url(path))
        rings = await focus_rings(normal_text)
        assert len(rings) > 3, path
        ratios += [contrast(ring["colour"], behind) for ring in rings for behind in ring["behind"]]
        if ring_failures(rings):
            failures[path] = ring_failures(rings)
    for scheme in ("light", "dark"):
        async for tab in phone_at(browser, DEFAULT_TEXT, color_scheme=scheme):
            await open_chat(tab, server)
            rings = await focus_rings(tab)
            assert any(ring["what"].startswith("textarea") for ring in rings) and any("chip" in ring["what"] for ring in rings)
            ratios += [contrast(ring["colour"], behind) for ring in rings for behind in ring["behind"]]
            if ring_failures(rings):
                failures[f"/chat ({scheme})"] = ring_failures(rings)
    print(f"focus ring contrast: lowest {min(ratios):.2f}:1")
    assert failures == {}


@pytest.mark.parametrize("text_size", [DEFAULT_TEXT, 2 * DEFAULT_TEXT], ids=["text-100", "text-200"])
async def test_the_chart_on_thong_ke_is_legible_on_a_360_px_phone(server, browser, text_size) -> None:  # type: ignore[no-untyped-def]
    async for tab in phone_at(browser, text_size):
        await tab.goto(server.url("/thong-ke"))
        texts = await tab.evaluate(CHART_TEXT)
        assert len(texts) > 4
        small = [(size, text) for size, text in texts if size < SMALLEST_CHART_TEXT]
        assert small == [], small
        assert not [text for _size, text in texts if text.endswith("…")]  # whole names, none cut short
        if text_size == DEFAULT_TEXT:
            await screenshot(tab, "public-stats-phone")
