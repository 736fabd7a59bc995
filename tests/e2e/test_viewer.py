"""The OHIF viewer at ``/viewer/`` on our DICOMweb, in Chromium, against the real server.

A generated CT series is stored through STOW; the viewer's study URL must show it (the
viewport is not blank), scrolling must change the slice and a window/level drag the
pixels. Screenshots are kept in tests/artifacts/.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from playwright.sync_api import Browser
from served_app import ServedApp
from viewer_page import (
    end_first_visit_tour,
    require_viewer_build,
    stow,
    viewport_picture,
    wait_for_image,
)

from corpus.dicomweb import generated_datasets


def _ct_series() -> list[bytes]:
    """The 20-slice CT series of the corpus's first study, as files."""
    datasets = [ds for ds in generated_datasets() if ds.Modality == "CT" and ds.Rows == 512]
    first = datasets[0].SeriesInstanceUID
    files = []
    for ds in datasets:
        if ds.SeriesInstanceUID == first:
            out = io.BytesIO()
            ds.save_as(out, enforce_file_format=True)
            files.append(out.getvalue())
    return files


def test_ohif_shows_a_stored_series_scrolls_and_windows_it(
    served_app: ServedApp,
    browser: Browser,
    artifacts: Path,
    unavailable: Callable[[str], None],
) -> None:
    require_viewer_build(unavailable)
    # Given a CT series stored through STOW
    stow(served_app.url, _ct_series())
    study = generated_datasets()[0].StudyInstanceUID
    # When the viewer opens the study (Chromium renders WebGL in software here)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{served_app.url}/viewer/viewer?StudyInstanceUIDs={study}")
        page.wait_for_selector("canvas", timeout=60_000)
        # Then the viewport shows an image
        first = wait_for_image(page)
        page.screenshot(path=str(artifacts / "viewer-first-image.png"))
        # (OHIF's first-visit tour lies over the viewport: end it, so that only the image
        # can change the pictures compared below)
        if end_first_visit_tour(page):
            first = viewport_picture(page)
        # And scrolling over it moves to another slice
        box = page.locator("canvas").first.bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        deadline = time.monotonic() + 30
        changed = first
        while np.abs(changed - first).mean() < 1:
            page.mouse.wheel(0, 120)
            time.sleep(0.5)
            changed = viewport_picture(page)
            assert time.monotonic() < deadline, "scrolling did not change the slice"
        page.screenshot(path=str(artifacts / "viewer-scrolled.png"))
        # And a window/level drag (the default left-button tool) changes the pixels
        before = viewport_picture(page)
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        for step in range(1, 11):
            page.mouse.move(x + 12 * step, y + 8 * step)
        page.mouse.up()
        deadline = time.monotonic() + 15
        while np.abs(viewport_picture(page) - before).mean() < 1:
            assert time.monotonic() < deadline, "the window/level drag changed nothing"
            time.sleep(0.3)
        page.screenshot(path=str(artifacts / "viewer-window-level.png"))
    finally:
        context.close()
    assert errors == [], errors
