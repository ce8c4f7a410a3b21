"""Real headless Chromium for browser tests (Debian's `chromium`, driven by Playwright), and the
whole application served on a loopback port for it.

Without Chromium the browser tests are skipped, unless REQUIRE_BROWSER=1 (set by `.ci/run`), then
they fail. Screenshots go to docs/screenshots/ when SCREENSHOTS=1 (`make screenshots`).
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import AsyncIterator
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


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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


@pytest.fixture
async def page(browser) -> AsyncIterator[object]:  # type: ignore[no-untyped-def]
    """A fresh browser page (own cookies), phone-friendly desktop size, Vietnamese."""
    context = await browser.new_context(viewport={"width": 1280, "height": 860}, locale="vi-VN")
    context.set_default_timeout(15_000)
    tab = await context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.console_errors = errors
    try:
        yield tab
    finally:
        await context.close()
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
