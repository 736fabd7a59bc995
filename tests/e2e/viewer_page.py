"""Reading OHIF's viewport in a Playwright page: its picture, and waiting until it shows one."""

from __future__ import annotations

import io
import time

import numpy as np
from PIL import Image
from playwright.sync_api import Page


def viewport_picture(page: Page) -> np.ndarray:
    """The first viewport canvas as grey levels."""
    canvas = page.locator("canvas").first
    return np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("L"), dtype=np.int16)


def wait_for_image(page: Page, timeout_s: float = 60) -> np.ndarray:
    """The viewport's picture once it shows an image (not one flat colour)."""
    deadline = time.monotonic() + timeout_s
    while True:
        picture = viewport_picture(page)
        if picture.std() > 10:
            return picture
        assert time.monotonic() < deadline, "the viewport stayed blank"
        time.sleep(0.5)


def end_first_visit_tour(page: Page) -> bool:
    """End OHIF's first-visit tour, which lies over the viewport; whether there was one."""
    skip = page.get_by_text("Skip all")
    if not skip.count():
        return False
    skip.first.click()
    page.wait_for_timeout(300)
    return True
