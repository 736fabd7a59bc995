"""The page says so when an upload never reached storage and its job expired.

A server with a 2 s upload form and a 1 s grace; the browser's upload POST to storage is
answered by the test (204) without reaching the server, as when a client dies mid-way. The
job stays PENDING on the server until the results API ends it EXPIRED, which the page shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pydicom.data
import pytest
from playwright.sync_api import Page, Route, expect
from served_app import ServedApp, ServerDidNotStartError, serve


@pytest.fixture(scope="module")
def short_forms_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    """``dicomlens serve`` whose upload forms expire after 2 s, jobs 1 s after that."""
    settings = {"DICOMLENS_UPLOAD_EXPIRY_S": "2", "DICOMLENS_UPLOAD_GRACE_S": "1"}
    try:
        with serve(tmp_path_factory.mktemp("short-forms"), settings) as app:
            yield app
    except ServerDidNotStartError as error:
        pytest.fail(str(error))


def test_an_upload_that_never_arrives_ends_expired_on_the_page(
    page: Page, short_forms_app: ServedApp
) -> None:
    # Given the page, and a storage POST that is answered but never reaches the server
    stored: list[str] = []

    def lost_upload(route: Route) -> None:
        stored.append(route.request.url)
        route.fulfill(status=204, body="")

    page.goto(f"{short_forms_app.url}/")
    expect(page.locator("#api-state")).to_have_attribute("data-state", "ready")
    page.route("**/_upload*", lost_upload)

    # When the user picks a DICOM file
    page.set_input_files("#file-input", str(Path(pydicom.data.get_testdata_file("CT_small.dcm"))))

    # Then the card waits, and once the form and its grace have passed it says Expired
    card = page.locator('#job-list li[data-file-name="CT_small.dcm"]')
    expect(card).to_have_attribute("data-status", "EXPIRED", timeout=30_000)
    expect(card).to_contain_text("Expired")
    assert stored, "the page never posted the upload"
    page.unroute("**/_upload*")
    card.click()
    expect(page.locator("#detail-body")).to_contain_text("the upload never arrived")
