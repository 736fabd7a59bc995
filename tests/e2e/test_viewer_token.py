"""The viewer on a server that needs its API token, in Chromium: without a session the
viewer asks for the token; with it, the study shows. The token is in no file served."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Response
from served_app import ServedApp, ServerDidNotStartError, serve
from viewer_page import require_viewer_build, stow

from corpus.dicomweb import generated_datasets

TOKEN = "e2e-viewer-token-0123456789abcdef"  # noqa: S105 - a test value


@pytest.fixture(scope="module")
def token_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    try:
        with serve(tmp_path_factory.mktemp("served-token"), {"DICOMLENS_API_TOKEN": TOKEN}) as app:
            yield app
    except ServerDidNotStartError as error:
        pytest.fail(str(error))


def _one_instance() -> tuple[bytes, str]:
    dataset = next(ds for ds in generated_datasets() if ds.Modality == "CT")
    out = io.BytesIO()
    dataset.save_as(out, enforce_file_format=True)
    return out.getvalue(), str(dataset.StudyInstanceUID)


def test_the_viewer_asks_for_the_token_then_shows_the_study(
    token_app: ServedApp,
    browser: Browser,
    artifacts: Path,
    unavailable: Callable[[str], None],
) -> None:
    require_viewer_build(unavailable)
    # Given a study stored with the token
    data, study = _one_instance()
    stow(token_app.url, [data], token=TOKEN)
    # and nothing the viewer loads without authentication holds the token
    for path in ("/viewer/", "/viewer/app-config.js", "/config.json"):
        assert TOKEN not in requests.get(f"{token_app.url}{path}", timeout=30).text
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        # When the viewer opens the study without a session, it asks for the token
        page.goto(f"{token_app.url}/viewer/viewer?StudyInstanceUIDs={study}")
        prompt = page.get_by_label("API token")
        prompt.wait_for(timeout=60_000)
        page.screenshot(path=str(artifacts / "viewer-token-prompt.png"))
        # A wrong token is refused
        prompt.fill("not-the-token-not-the-token")
        page.get_by_role("button", name="Open the viewer").click()
        page.get_by_text("The server refused that token.").wait_for(timeout=10_000)
        # With the right one the page reloads with a session and shows the study
        prompt.fill(TOKEN)
        page.get_by_role("button", name="Open the viewer").click()
        page.wait_for_selector("canvas", timeout=60_000)
        assert page.get_by_label("API token").count() == 0
        cookies = context.cookies()
        (session,) = [c for c in cookies if c["name"] == "dicomlens_viewer"]
        assert session["httpOnly"] is True
        assert session["sameSite"] == "Strict"
        assert session["path"] == "/dicomweb"
        assert TOKEN not in session["value"]
        page.screenshot(path=str(artifacts / "viewer-token-session.png"))
    finally:
        page.screenshot(path=str(artifacts / "viewer-token-last.png"))
        context.close()


def test_the_page_opens_a_viewer_session_once_its_token_worked(
    token_app: ServedApp, browser: Browser, unavailable: Callable[[str], None]
) -> None:
    require_viewer_build(unavailable)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept(TOKEN))  # the page's token prompt
    try:
        # Given the page, where the user enters the token when it first calls the API
        page.goto(token_app.url)
        with page.expect_response(lambda answer: answer.url.endswith("/viewer-session")) as info:
            page.locator("#sample-button").click()
        # Then, once the token worked, the page traded it for a viewer session
        assert info.value.status == 204
        (session,) = [c for c in context.cookies() if c["name"] == "dicomlens_viewer"]
        assert session["httpOnly"] is True

        # and the viewer opens without asking again
        def study_list(answer: Response) -> bool:
            return "/dicomweb/studies?" in answer.url and not answer.url.endswith("limit=1")

        with page.expect_response(study_list, timeout=60_000) as listed:
            page.goto(f"{token_app.url}/viewer/")
        assert listed.value.status == 200
        page.wait_for_timeout(500)
        assert page.get_by_label("API token").count() == 0
    finally:
        context.close()
