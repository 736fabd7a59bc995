"""Issue 15 check 5: the analysis report of a file with burned-in text opens in OHIF and
shows its region.

A generated US image with a name burned in is stored through STOW and analysed (the
offline OCR finds the text); its report is requested; OHIF opens the study, the SR series
is opened from the study browser, and the SR viewport draws the text's region as an
annotation over the image, without the user touching the view (OHIF 3.13 alone left it
undrawn in one page load in two or three: our app-config.js renders the annotation layer
again, see ``dicomlens.viewer.ohif._SR_REDRAW``). Screenshot: tests/artifacts/viewer-sr.png.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import Browser, Page
from served_app import ServedApp
from viewer_page import require_viewer_build, stow

from corpus.burned_in import burned_in_dataset, burned_in_file

# Where each drawn outline is on screen (cornerstone draws an SR region as a polyline
# beside the annotation's group).
_SHAPES = """elements => elements.map(element => {
  const box = element.getBoundingClientRect();
  return {x: box.x, y: box.y, width: box.width, height: box.height};
})"""


def _finished_job(analysis_url: str, timeout_s: float = 180) -> dict[str, Any]:
    """The job that analyses the stored instance, once it has finished."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = requests.get(analysis_url, timeout=30)
        if answer.status_code == 200 and answer.json().get("status") in ("COMPLETED", "FAILED"):
            job: dict[str, Any] = answer.json()
            return job
        assert time.monotonic() < deadline, f"the analysis did not finish: {answer.text[:300]}"
        time.sleep(1)


def _open_the_report(page: Page, viewer_url: str) -> None:
    """Open the study in OHIF, then its SR series from the study browser, and wait until
    the SR viewport has drawn the report's region, with no other step."""
    page.goto(viewer_url)
    page.wait_for_selector("canvas", timeout=60_000)
    skip = page.get_by_text("Skip all")
    if skip.count():
        skip.first.click()
    thumbnail = page.locator('[data-cy="study-browser-thumbnail"]', has_text="SR")
    if not thumbnail.count():
        thumbnail = page.get_by_text("dicomlens analysis").first
    thumbnail.first.dblclick(timeout=30_000)
    # Then OHIF offers to track the report's measurements (it read the TID 1500 groups)
    prompt = page.get_by_text("continue tracking measurements").first
    prompt.wait_for(timeout=60_000)
    # And the SR viewport draws the region over the image: an annotation (SVG, in
    # cornerstone's layer over the canvas) and its outline around the burned-in line.
    page.locator("svg [data-annotation-uid]").first.wait_for(state="attached", timeout=20_000)


def test_the_report_of_burned_in_text_opens_in_ohif_and_shows_its_region(
    served_app: ServedApp,
    browser: Browser,
    artifacts: Path,
    unavailable: Callable[[str], None],
) -> None:
    require_viewer_build(unavailable)
    source = burned_in_dataset()
    study, series, sop = source.StudyInstanceUID, source.SeriesInstanceUID, source.SOPInstanceUID
    # Given an instance with burned-in text, stored and analysed
    stow(served_app.url, [burned_in_file()])
    instance_url = f"{served_app.url}/dicomweb/studies/{study}/series/{series}/instances/{sop}"
    job = _finished_job(f"{instance_url}/analysis")
    assert job["status"] == "COMPLETED", job
    kinds = {finding["kind"] for finding in job["result"]["findings"]}
    assert "burned-in text" in kinds, kinds
    # When its report is requested
    report = requests.post(f"{served_app.url}/jobs/{job['jobId']}/report", timeout=120)
    assert report.status_code == 201, report.text
    assert report.json()["regions"] >= 1
    # And OHIF opens the study, and the SR series from the study browser
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        viewer_url = f"{served_app.url}/viewer/viewer?StudyInstanceUIDs={study}"
        _open_the_report(page, viewer_url)
        canvas = page.locator("canvas").first.bounding_box()
        assert canvas is not None
        page.locator("svg polyline").first.wait_for(state="attached", timeout=30_000)
        shapes = page.locator("svg polyline").evaluate_all(_SHAPES)
        drawn = max(shapes, key=lambda shape: shape["width"] * shape["height"])
        top = (drawn["y"] - canvas["y"]) / canvas["height"]
        assert top < 0.25, (drawn, canvas)  # the text is in the top rows of the image
        assert drawn["width"] > 0.3 * canvas["width"], (drawn, canvas)  # one long line
        assert drawn["height"] < 0.3 * canvas["height"], (drawn, canvas)
        # (the prompt answered No, so that the screenshot shows the region it lies over)
        no = page.get_by_role("button", name="No")
        if no.count():
            no.first.click()
        page.locator("svg polyline").first.wait_for(state="attached", timeout=10_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(artifacts / "viewer-sr.png"))
    except Exception:
        page.screenshot(path=str(artifacts / "viewer-sr-failed.png"))
        raise
    finally:
        context.close()
    assert errors == [], errors
