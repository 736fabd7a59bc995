"""The study-level page (issue 15), in Chromium, against the real server and the real OHIF build.

1. A dropped folder holding a generated study of three series shows as one study with three
   series (sorted from the files' headers while they are still being analysed), with its
   counts and progress, and every file's card.
2. The study's "Open in viewer" loads OHIF with that study; the viewport is not blank.

Screenshots are kept in tests/artifacts/.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect
from served_app import ServedApp
from viewer_page import end_first_visit_tour, require_viewer_build, wait_for_image

from corpus.dicomweb import three_series_study

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def study_folder(tmp_path: Path) -> tuple[Path, str]:
    """The generated study as a folder as a CD or PACS export lays it out: one subfolder per
    series, extension-less files, a DICOMDIR and a hidden system file (neither is an image)."""
    folder = tmp_path / "THORAX"
    datasets = three_series_study()
    for ds in datasets:
        series = folder / f"SE{int(ds.SeriesNumber):04d}"
        series.mkdir(parents=True, exist_ok=True)
        ds.save_as(series / f"IM{int(ds.InstanceNumber):04d}", enforce_file_format=True)
    (folder / "DICOMDIR").write_bytes(b"\x00" * 128 + b"DICM")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    return folder, str(datasets[0].StudyInstanceUID)


class HeldAnalysis:
    """While ``holding``, job reads answer the job as the server says it but PROCESSING and
    without its result; afterwards they pass through."""

    def __init__(self) -> None:
        self.holding = True

    def __call__(self, route: Route) -> None:
        if not self.holding:
            route.continue_()
            return
        response = route.fetch()
        job = response.json()
        if job.get("status") == "COMPLETED":
            job = {**job, "status": "PROCESSING", "result": None}
        route.fulfill(response=response, body=json.dumps(job))


def test_a_dropped_study_shows_its_series_and_opens_in_the_viewer(
    page: Page,
    served_app: ServedApp,
    study_folder: tuple[Path, str],
    artifacts: Path,
    unavailable: Callable[[str], None],
) -> None:
    require_viewer_build(unavailable)
    folder, study_uid = study_folder
    # Given the page of a server that serves the viewer, with analysis answers held back
    held = HeldAnalysis()
    page.route("**/jobs/*", held)
    page.goto(f"{served_app.url}/")
    expect(page.locator("#api-state")).to_have_attribute("data-state", "ready")

    # When the user picks the study's folder
    page.set_input_files("#folder-input", str(folder))

    # Then, while the files are still being analysed, they are already one study of three
    # series (read from their headers), each file with its own card and status
    studies = page.locator("#job-list section.group-study")
    expect(studies).to_have_count(1)
    study = studies.first
    expect(study).to_have_attribute("data-study-uid", study_uid)
    expect(study.locator("section.series")).to_have_count(3)
    expect(study.locator("li.card")).to_have_count(20)  # DICOMDIR and .DS_Store skipped
    expect(study.locator(".group-counts")).to_contain_text("in progress")
    expect(study.locator(".open-viewer")).to_have_count(0)  # nothing indexed yet
    page.screenshot(path=str(artifacts / "study-page-in-progress.png"), full_page=True)

    # When the analysis answers come through
    held.holding = False

    # Then the study is done: labels without patient data, counts, one list per series
    expect(study.locator("li.card[data-status='COMPLETED']")).to_have_count(20, timeout=90_000)
    expect(page.locator("#job-list section.group")).to_have_count(1)  # no other group
    expect(study.locator(".group-counts")).to_have_text("20 of 20 done")
    expect(study.locator("h3")).to_have_text("CT THORAX FOLLOW-UP")
    facts = study.locator(".group-facts")
    expect(facts).to_contain_text("CT, MR · 3 series · 20 files · Uploaded")
    expect(study).not_to_contain_text("Okafor")
    expect(study).not_to_contain_text("20250610")  # the study date is PHI: hidden by default
    titles = study.locator("section.series h4")
    expect(titles.nth(0)).to_have_text("Series 1 · CT · THORAX 5mm 14 files")
    expect(titles.nth(1)).to_have_text("Series 2 · CT · THORAX BONE 3 files")
    expect(titles.nth(2)).to_have_text("Series 3 · MR · T2 COR 3 files")
    # A series of more than a screenful is one line until opened; small ones are open
    first_series = study.locator("section.series").first.locator("li.card")
    expect(first_series.first).to_be_hidden()
    expect(study.locator("section.series").nth(1).locator("li.card").first).to_be_visible()
    study.locator("section.series").first.locator("summary").click()
    expect(first_series.nth(13)).to_be_visible()
    expect(first_series.first).to_have_attribute("data-file-name", "IM0001")
    expect(first_series.first.locator(".card-main")).to_have_attribute(
        "title", "THORAX/SE0001/IM0001"
    )
    # And each file keeps its detail panel
    study.locator("section.series").nth(2).locator(".card-main").first.click()
    expect(page.locator("#detail-body .detail-name")).to_have_text("IM0001")
    expect(
        page.locator("#detail-body table.metadata tr", has_text="Study Instance UID").locator("td")
    ).to_have_text(study_uid)
    expect(page.locator("#detail-body .label-group[data-source='dicom-tags']")).to_contain_text(
        "MRI"
    )
    page.screenshot(path=str(artifacts / "study-page-done.png"), full_page=True)

    # When the user opens the study in the viewer
    link = study.get_by_role("link", name="Open CT THORAX FOLLOW-UP in the viewer")
    expect(link).to_have_attribute(
        "href", f"{served_app.url}/viewer/viewer?StudyInstanceUIDs={study_uid}"
    )
    with page.context.expect_page() as opened:
        link.click()
    viewer = opened.value
    errors: list[str] = []
    viewer.on("pageerror", lambda error: errors.append(str(error)))

    # Then OHIF loads that study and its viewport shows an image
    viewer.wait_for_selector("canvas", timeout=60_000)
    end_first_visit_tour(viewer)
    wait_for_image(viewer)
    expect(viewer.get_by_text("CT THORAX FOLLOW-UP").first).to_be_visible()
    viewer.screenshot(path=str(artifacts / "study-page-viewer.png"))
    viewer.close()
    assert errors == [], errors
