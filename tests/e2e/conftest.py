"""Fixtures for the browser tests: the real ``dicomlens serve`` and Debian's Chromium.

The server runs as a subprocess on a free loopback port with a temporary data directory,
exactly as a user starts it; the browser is Playwright driving ``/usr/bin/chromium``
(``playwright install`` cannot download browsers here, and the tests need none of its own).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright
from served_app import ServedApp, ServerDidNotStartError, serve

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


@pytest.fixture(scope="session")
def served_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    """The real ``dicomlens serve`` on a free port for the whole session."""
    try:
        with serve(tmp_path_factory.mktemp("served")) as app:
            yield app
    except ServerDidNotStartError as error:
        pytest.fail(str(error))


# Playwright's sync API marks an asyncio loop as running in the main thread for as long as
# it lives: module scope ends it with each browser test module, so that the asyncio tests of
# the other tiers (asyncio.run) can run after it in the same session.
@pytest.fixture(scope="module")
def playwright_session() -> Iterator[Playwright]:
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(
    require_tool: Callable[[str], str], playwright_session: Playwright
) -> Iterator[Browser]:
    """Debian's Chromium (a missing one fails under CI=true, see ``require_tool``)."""
    executable = require_tool("chromium")
    browser = playwright_session.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (empty localStorage) with a desktop-sized viewport.

    The test fails if the page threw an uncaught exception or logged a console error.
    """
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    context.set_default_timeout(20_000)
    new_page = context.new_page()
    problems: list[str] = []
    new_page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))

    def on_console(message: ConsoleMessage) -> None:
        # Failed resource loads are expected where a test provokes 404s and 4xx answers.
        if message.type == "error" and "Failed to load resource" not in message.text:
            problems.append(f"console: {message.text}")

    new_page.on("console", on_console)
    yield new_page
    context.close()
    assert not problems, "the page reported errors:\n" + "\n".join(problems)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go (tests/artifacts/, ignored by git)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
