"""Real headless Chromium for browser tests (Debian's `chromium`, driven by Playwright), and the
whole application served on a loopback port for it.

Without Chromium the browser tests are skipped, unless REQUIRE_BROWSER=1 (set by `.ci/run`), then
they fail. Screenshots go to docs/screenshots/ when SCREENSHOTS=1 (`make screenshots`).
"""

from __future__ import annotations

import functools
import itertools
import os
import random
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from bot.app import create_app
from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT_DIR = ROOT / "docs" / "screenshots"
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str | None:
    """Debian's Chromium, or another one named by CHROMIUM."""
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


PORTS_FROM = 20_000  # below the kernel's ephemeral ports (32768 and up on Linux)
PORTS_PER_WORKER = 1_000


@functools.cache
def _worker_ports() -> Iterator[int]:
    """This process's block of ports, endlessly, from a random place in it: one block per xdist worker."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    blocks = (32_768 - PORTS_FROM) // PORTS_PER_WORKER
    first = PORTS_FROM + PORTS_PER_WORKER * (int(worker) % blocks if worker.isdigit() else 0)
    block = itertools.cycle(range(first, first + PORTS_PER_WORKER))
    return itertools.islice(block, random.randrange(PORTS_PER_WORKER), None)  # two runs at once: rarely the same port


def free_port() -> int:
    """A TCP port nobody listens on right now, for a server the test starts next.

    Not port 0: the kernel hands that out from its ephemeral range, where it may later give the
    same port to another xdist worker's server or to any client socket, and a test would then talk
    to another test's bot. Each worker takes its ports in turn from its own block below that range.
    """
    for _ in range(PORTS_PER_WORKER):
        port = next(_worker_ports())
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"none of this worker's {PORTS_PER_WORKER} ports is free")


@dataclass
class LiveServer:
    """The application listening on loopback."""

    app: web.Application
    base_url: str

    def url(self, path: str) -> str:
        """An absolute URL of this server."""
        return self.base_url + path


async def serve(settings: Settings, **kwargs: object) -> AsyncIterator[LiveServer]:
    """Run the real application on a free port until the caller is done."""
    port = free_port()
    app = create_app(settings, **kwargs)  # type: ignore[arg-type]
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield LiveServer(app, f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    """A headless Chromium; skipped (or failed under REQUIRE_BROWSER=1) when there is none."""
    executable = chromium_path()
    try:
        from playwright.async_api import async_playwright
    except ImportError:  # pragma: no cover - the dev extra installs it
        async_playwright = None  # type: ignore[assignment]
    if executable is None or async_playwright is None:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail("REQUIRE_BROWSER=1 but Chromium or Playwright is missing (apt-get install chromium)")
        pytest.skip("no Chromium here: install Debian's chromium package to run the browser tests")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            await launched.close()


@asynccontextmanager
async def new_tab(browser, **options: object) -> AsyncIterator[object]:  # type: ignore[no-untyped-def]
    """A page in a browser context of its own (own cookies) made with `options`, waiting at most 15 s
    for anything; the context is closed after."""
    context = await browser.new_context(**options)
    context.set_default_timeout(15_000)
    tab = await context.new_page()
    try:
        yield tab
    finally:
        await context.close()


def javascript_errors(tab) -> list[str]:  # type: ignore[no-untyped-def]
    """The list the page's uncaught JavaScript errors will be added to (also kept as `tab.console_errors`)."""
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.console_errors = errors
    return errors


@pytest.fixture
async def page(browser) -> AsyncIterator[object]:  # type: ignore[no-untyped-def]
    """A fresh browser page (own cookies), phone-friendly desktop size, Vietnamese."""
    async with new_tab(browser, viewport={"width": 1280, "height": 860}, locale="vi-VN") as tab:
        errors = javascript_errors(tab)
        yield tab
    assert errors == [], f"JavaScript errors on the page: {errors}"


async def screenshot(tab, name: str) -> None:  # type: ignore[no-untyped-def]
    """Save a full-page screenshot as docs/screenshots/NAME.png when SCREENSHOTS=1."""
    if os.environ.get("SCREENSHOTS") != "1":
        return
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    await tab.screenshot(path=str(SCREENSHOT_DIR / f"{name}.png"), full_page=True)


async def sign_in_page(tab, server: LiveServer, username: str, password: str) -> None:  # type: ignore[no-untyped-def]
    """Sign in through the login form in the browser."""
    await tab.goto(server.url("/admin/login"))
    await tab.fill("input[name=username]", username)
    await tab.fill("input[name=password]", password)
    await tab.click("button.primary")
    await tab.wait_for_url(server.url("/admin"))


# ----- the web chat page, as a person uses it

IDLE = "#cau-noi[data-idle=true]"  # the page has nothing left to send


async def bot_says(tab, text: str) -> None:  # type: ignore[no-untyped-def]
    """Wait until a bot message contains `text` and the page has nothing left to send."""
    try:
        await tab.wait_for_selector(f"[data-testid=bubble-bot]:has-text({text!r})")
    except Exception:
        raise AssertionError(f"no bot message with {text!r} in: {await tab.text_content('[data-testid=log]')}") from None
    await tab.wait_for_selector(IDLE)


async def offers(tab, label: str) -> None:  # type: ignore[no-untyped-def]
    """Wait until the latest buttons include one whose label contains `label`."""
    await tab.wait_for_selector(f".chips:not(.used) [data-testid=chip]:has-text({label!r})")
    await tab.wait_for_selector(IDLE)


async def press(tab, label: str) -> None:  # type: ignore[no-untyped-def]
    """Press the button of the latest message whose label contains `label`."""
    await tab.locator(".chips:not(.used) [data-testid=chip]", has_text=label).last.click()


async def type_and_send(tab, text: str) -> None:  # type: ignore[no-untyped-def]
    """Type `text` in the message box and press Enter."""
    await tab.fill("[data-testid=input]", text)
    await tab.press("[data-testid=input]", "Enter")
