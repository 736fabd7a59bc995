"""Reading OHIF's viewport in a Playwright page (its picture, waiting until it shows one), and
the steps every viewer test shares (the build is installed, a study is stored)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import numpy as np
import requests
from PIL import Image
from playwright.sync_api import Page

from dicomlens.dicomweb.multipart import Part, encode_multipart
from dicomlens.viewer import ohif


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


def require_viewer_build(unavailable: Callable[[str], None]) -> None:
    """Skip (fail under CI=true) when the OHIF build is not installed."""
    if ohif.installed(ohif.default_cache_dir()) is None:
        unavailable("the OHIF build is not installed (make viewer)")


def stow(base_url: str, files: list[bytes], *, token: str | None = None) -> None:
    """Store ``files`` (DICOM Part 10 bytes) with one STOW-RS request; asserts it succeeded."""
    body, content_type = encode_multipart(
        [Part(content_type="application/dicom", data=data) for data in files],
        related_type="application/dicom",
    )
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    stored = requests.post(f"{base_url}/dicomweb/studies", data=body, headers=headers, timeout=120)
    assert stored.status_code == 200, stored.text[:500]
