"""The web page against the real ``dicomlens serve``, in Chromium, as a user drives it.

Given the served app and an empty browser, when a user picks files (or a sample), then each
file gets a card with its status, and a finished file shows its preview, labels, metadata
and findings; a file that is not an image shows why it failed.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pydicom.data
import pytest
from PIL import Image, ImageDraw, ImageFont
from playwright.sync_api import FileChooser, Locator, Page, Route, expect
from served_app import ServedApp

pytestmark = pytest.mark.timeout(120)

PREVIEW_LOADED = """(selector) => {
    const img = document.querySelector(selector);
    return img !== null && img.complete && img.naturalWidth > 0;
}"""


@pytest.fixture
def sample_files(tmp_path: Path) -> dict[str, Path]:
    """A DICOM CT from pydicom, a generated PNG, and random bytes named like a DICOM file."""
    ct = Path(pydicom.data.get_testdata_file("CT_small.dcm"))
    picture = Image.new("RGB", (320, 200), (20, 40, 120))
    ImageDraw.Draw(picture).ellipse((100, 40, 220, 160), fill=(250, 160, 30))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    png = tmp_path / "shapes.png"
    png.write_bytes(buffer.getvalue())
    junk = tmp_path / "not-an-image.dcm"
    junk.write_bytes(os.urandom(4096))
    return {"ct": ct, "png": png, "junk": junk}


def open_app(page: Page, app: ServedApp) -> None:
    page.goto(f"{app.url}/")
    expect(page.locator("#api-state")).to_have_attribute("data-state", "ready")


def card(page: Page, file_name: str) -> Locator:
    return page.locator(f'#job-list li[data-file-name="{file_name}"]')


def wait_for_status(page: Page, file_name: str, status: str) -> Locator:
    located = card(page, file_name)
    expect(located).to_have_attribute("data-status", status, timeout=30_000)
    return located


def metadata_value(page: Page, row_label: str) -> Locator:
    return (
        page.locator("#detail-body table.metadata tr")
        .filter(has=page.locator("th", has_text=row_label))
        .locator("td")
    )


def test_dicom_png_and_non_image_show_preview_labels_metadata_and_failure(
    page: Page, served_app: ServedApp, sample_files: dict[str, Path], artifacts: Path
) -> None:
    # Given the page with no remembered jobs
    open_app(page, served_app)
    expect(page.locator("#jobs-empty")).to_be_visible()

    # When a user picks a DICOM CT, a PNG and random bytes named .dcm
    page.set_input_files(
        "#file-input",
        [str(sample_files["ct"]), str(sample_files["png"]), str(sample_files["junk"])],
    )

    # Then every file gets a card and reaches its final status
    expect(page.locator("#job-list li")).to_have_count(3)
    wait_for_status(page, "CT_small.dcm", "COMPLETED")
    wait_for_status(page, "shapes.png", "COMPLETED")
    junk = wait_for_status(page, "not-an-image.dcm", "FAILED")
    expect(junk).to_contain_text("NOT_AN_IMAGE")

    # The CT shows its preview, its tag label and its metadata
    card(page, "CT_small.dcm").locator(".card-main").click()
    expect(page.locator("#detail-body .detail-name")).to_have_text("CT_small.dcm")
    page.wait_for_function(PREVIEW_LOADED, arg="#preview-image")
    expect(page.locator("#detail-body .label-group[data-source='dicom-tags']")).to_contain_text(
        "CT Scan"
    )
    expect(metadata_value(page, "Modality")).to_have_text("CT")
    expect(metadata_value(page, "Matrix")).to_have_text("128 \u00d7 128")
    expect(card(page, "CT_small.dcm").locator("img.thumb")).to_be_visible()
    expect(page.locator("#detail-body a", has_text="Original file")).to_have_attribute(
        "href", re.compile(r"^https?://")
    )
    ct_job_id = page.locator("#detail-body .job-id code").inner_text()
    # No patient data by default
    expect(page.locator("#detail-body .phi")).to_have_count(0)
    page.screenshot(path=str(artifacts / "web-flow-ct.png"), full_page=True)

    # A CT offers window presets; choosing one swaps the preview for that rendering
    presets = page.locator("#detail-body .presets button")
    expect(presets.first).to_have_text("As stored")
    assert presets.count() > 1
    before = page.locator("#preview-image").get_attribute("src")
    presets.nth(1).click()
    expect(presets.nth(1)).to_have_attribute("aria-pressed", "true")
    page.wait_for_function(PREVIEW_LOADED, arg="#preview-image")
    assert page.locator("#preview-image").get_attribute("src") != before

    # The PNG shows its preview and what it is
    card(page, "shapes.png").locator(".card-main").click()
    page.wait_for_function(PREVIEW_LOADED, arg="#preview-image")
    expect(metadata_value(page, "File type")).to_have_text("PNG")
    expect(metadata_value(page, "Matrix")).to_have_text("320 \u00d7 200")

    # The non-image says why it failed
    card(page, "not-an-image.dcm").locator(".card-main").click()
    expect(page.locator("#detail-body .callout-bad")).to_contain_text("NOT_AN_IMAGE")
    page.screenshot(path=str(artifacts / "web-flow-failed.png"), full_page=True)

    # Jobs are remembered by this browser across a reload; a preview link that no longer
    # works (here: the first answer for the CT carries a tampered signature) is renewed by
    # fetching the job again
    ct_reads: list[str] = []

    def stale_link_once(route: Route) -> None:
        ct_reads.append(route.request.url)
        response = route.fetch()
        job = response.json()
        if len(ct_reads) == 1:
            job["urls"]["preview"] = job["urls"]["preview"].replace("sig=", "sig=tampered")
        route.fulfill(response=response, json=job)

    page.route(f"**/jobs/{ct_job_id}", stale_link_once)
    page.reload()
    expect(page.locator("#job-list li")).to_have_count(3)
    wait_for_status(page, "CT_small.dcm", "COMPLETED")
    wait_for_status(page, "not-an-image.dcm", "FAILED")
    card(page, "CT_small.dcm").locator(".card-main").click()
    page.wait_for_function(PREVIEW_LOADED, arg="#preview-image")
    assert "sig=tampered" not in (page.locator("#preview-image").get_attribute("src") or "")
    assert len(ct_reads) >= 2, f"the broken preview link did not refresh the job: {ct_reads}"
    page.unroute(f"**/jobs/{ct_job_id}")


def test_try_a_sample_uploads_a_bundled_example(
    page: Page, served_app: ServedApp, artifacts: Path
) -> None:
    # Given the page, whose example list comes from the server
    open_app(page, served_app)
    button = page.locator("#sample-button")
    expect(button).to_be_enabled()
    name = page.locator("#sample-select").input_value()
    assert name

    # When the user tries the selected sample
    button.click()

    # Then it goes through the same upload flow and shows its result
    sample = wait_for_status(page, name, "COMPLETED")
    expect(sample).to_have_class(re.compile(r"\bis-selected\b"))
    expect(page.locator("#detail-body .detail-name")).to_have_text(name)
    if page.locator("#preview-image").count():
        page.wait_for_function(PREVIEW_LOADED, arg="#preview-image")
    expect(page.locator("#detail-body table.metadata")).to_be_visible()
    page.screenshot(path=str(artifacts / "web-flow-sample.png"), full_page=True)

    # And on a phone-sized screen the same page stacks into one column
    page.set_viewport_size({"width": 400, "height": 860})
    page.screenshot(path=str(artifacts / "web-flow-narrow.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the page scrolls sideways on a narrow screen ({width}px)"


def test_rejected_upload_unknown_job_unreachable_api_and_clear(
    page: Page, served_app: ServedApp, tmp_path: Path
) -> None:
    # Given a remembered job id the server does not know
    open_app(page, served_app)
    page.evaluate("localStorage.setItem('dicomlens.jobs', JSON.stringify(['no-such-job-0000']))")
    page.reload()

    # Then its card says it is not found
    missing = page.locator("#job-list li[data-status='missing']")
    expect(missing).to_have_count(1)
    expect(missing).to_contain_text("NOT_FOUND")

    # When the user picks a file type the API does not accept
    notes = tmp_path / "notes.txt"
    notes.write_text("not a medical image\n")
    page.set_input_files("#file-input", str(notes))

    # Then the upload is refused with the API's reason
    rejected = wait_for_status(page, "notes.txt", "rejected")
    expect(rejected).to_contain_text("VALIDATION_ERROR")

    # When storage refuses the upload itself (here: a form whose signature was tampered with)
    def tampered_form(route: Route) -> None:
        response = route.fetch()
        grant = response.json()
        for name in grant["upload"]["fields"]:
            if "signature" in name.lower():
                grant["upload"]["fields"][name] = "0" * 64
        route.fulfill(response=response, json=grant)

    page.route("**/uploads", tampered_form)
    page.set_input_files("#file-input", str(Path(pydicom.data.get_testdata_file("MR_small.dcm"))))

    # Then the card says the upload failed, with storage's reason, and offers a retry
    refused = wait_for_status(page, "MR_small.dcm", "rejected")
    expect(refused.locator(".card-error code")).not_to_have_text("")
    page.unroute("**/uploads")
    refused.get_by_role("button", name="Retry").click()
    wait_for_status(page, "MR_small.dcm", "COMPLETED")

    # When the API becomes unreachable while a job is being watched
    page.route("**/jobs/**", lambda route: route.abort())
    page.route("**/uploads", lambda route: route.abort())
    page.set_input_files("#file-input", str(Path(pydicom.data.get_testdata_file("CT_small.dcm"))))

    # Then the page says so instead of failing silently
    expect(page.locator("#api-state")).to_have_attribute("data-state", "down")
    expect(page.locator("#banner")).to_be_visible()
    expect(page.locator("#banner")).to_contain_text("could not be reached")
    page.unroute("**/jobs/**")
    page.unroute("**/uploads")

    # When the user clears the list
    page.locator("#clear-jobs").click()

    # Then the empty state returns and nothing is remembered
    expect(page.locator("#job-list li")).to_have_count(0)
    expect(page.locator("#jobs-empty")).to_be_visible()
    assert page.evaluate("localStorage.getItem('dicomlens.jobs')") == "[]"


def test_rendering_never_interprets_file_names_as_html(
    page: Page, served_app: ServedApp, tmp_path: Path
) -> None:
    # Given a file whose name is markup
    open_app(page, served_app)
    name = '<img src=x onerror="window.__xss=1">.png'
    hostile = tmp_path / "hostile.png"
    Image.new("L", (16, 16), 128).save(hostile)

    # When it is uploaded and shown
    page.set_input_files(
        "#file-input",
        files=[{"name": name, "mimeType": "image/png", "buffer": hostile.read_bytes()}],
    )
    located = page.locator("#job-list li").first
    expect(located).to_have_attribute("data-status", "COMPLETED", timeout=30_000)
    located.locator(".card-main").click()

    # Then the name is text, never an element
    expect(page.locator("#detail-body .detail-name")).to_have_text(re.compile(re.escape("<img")))
    assert page.evaluate("window.__xss") is None
    assert page.locator("#job-list img:not(.thumb)").count() == 0


DROP_FILE = """([name, bytes]) => {
    const data = new DataTransfer();
    data.items.add(new File([new Uint8Array(bytes)], name, { type: "image/png" }));
    const zone = document.getElementById("dropzone");
    for (const type of ["dragenter", "dragover", "drop"]) {
        const init = { dataTransfer: data, bubbles: true, cancelable: true };
        zone.dispatchEvent(new DragEvent(type, init));
    }
}"""


def test_folders_dropped_files_and_keyboard_only_picking(
    page: Page, served_app: ServedApp, tmp_path: Path
) -> None:
    # Given a folder of extension-less DICOM files with a nested folder and a system file
    study = tmp_path / "study"
    (study / "series2").mkdir(parents=True)
    (study / "IM0001").write_bytes(
        Path(pydicom.data.get_testdata_file("MR_small.dcm")).read_bytes()
    )
    (study / "series2" / "IM0002").write_bytes(
        Path(pydicom.data.get_testdata_file("CT_small.dcm")).read_bytes()
    )
    (study / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    # Listening early lets Playwright intercept the chooser before the key press opens it.
    choosers: list[FileChooser] = []

    def on_file_chooser(chooser: FileChooser) -> None:
        choosers.append(chooser)

    page.on("filechooser", on_file_chooser)
    open_app(page, served_app)

    # When the user picks the folder
    page.set_input_files("#folder-input", str(study))

    # Then every image in it (recursively) is uploaded, and the system file is skipped
    expect(page.locator("#job-list li")).to_have_count(2)
    wait_for_status(page, "IM0001", "COMPLETED")
    nested = wait_for_status(page, "IM0002", "COMPLETED")
    expect(nested.locator(".card-main")).to_have_attribute("title", "study/series2/IM0002")

    # When a file is dropped on the drop zone
    png = io.BytesIO()
    Image.new("L", (40, 30), 200).save(png, format="PNG")
    page.evaluate(DROP_FILE, ["dropped.png", list(png.getvalue())])

    # Then it goes through the same flow
    wait_for_status(page, "dropped.png", "COMPLETED")

    # When a keyboard user tabs to "Choose files" and presses Enter
    page.locator("body").focus()
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "pick-files":
            break
    assert page.evaluate("document.activeElement.id") == "pick-files"
    page.keyboard.press("Enter")
    for _ in range(100):
        if choosers:
            break
        page.wait_for_timeout(100)
    assert choosers, "Enter on 'Choose files' did not open a file chooser"
    choosers[0].set_files(str(study / "IM0001"))

    # Then the chosen file is uploaded like any other
    expect(page.locator("#job-list li[data-file-name='IM0001']")).to_have_count(2)
    expect(page.locator("#job-list li[data-status='COMPLETED']")).to_have_count(4, timeout=30_000)


def test_burned_in_text_is_boxed_on_the_preview_and_its_words_stay_hidden(
    page: Page, served_app: ServedApp, tmp_path: Path, artifacts: Path
) -> None:
    # Given a picture with a patient's name burned into its corner
    picture = Image.new("L", (512, 512), 0)
    draw = ImageDraw.Draw(picture)
    draw.ellipse((120, 120, 400, 420), fill=90)
    font = ImageFont.load_default(size=26)  # Pillow's bundled font: no system font needed
    draw.text((12, 12), "DOE^JOHN", fill=255, font=font)
    draw.text((12, 44), "ID 12345678  DOB 1961-03-14", fill=255, font=font)
    burned = tmp_path / "burned-in.png"
    picture.save(burned)
    open_app(page, served_app)

    # When it is uploaded
    page.set_input_files("#file-input", str(burned))
    wait_for_status(page, "burned-in.png", "COMPLETED")
    page.wait_for_function(PREVIEW_LOADED, arg="#preview-image")

    # Then the OCR finding is listed and its boxes are drawn over the preview
    ocr_findings = page.locator("#detail-body .finding", has_text="source: ocr")
    expect(ocr_findings.first).to_be_visible()
    expect(page.locator("#detail-body svg.overlay rect").first).to_be_attached()
    box = page.locator("#detail-body svg.overlay rect").first.bounding_box()
    stage = page.locator("#detail-body .stage").bounding_box()
    assert box is not None
    assert stage is not None
    # The name sits in the top-left corner: so must its box
    assert box["x"] < stage["x"] + stage["width"] / 2
    assert box["y"] < stage["y"] + stage["height"] / 2
    page.screenshot(path=str(artifacts / "web-flow-burned-in.png"), full_page=True)

    # And, with PHI off (the default), the words read from the pixels are not shown
    expect(page.locator("#detail-body .phi")).to_have_count(0)
    assert "DOE" not in page.locator("#detail-body").inner_text()


FETCH_BYTES = """async (url) => {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return Array.from(new Uint8Array(await response.arrayBuffer()));
}"""

DEID_LABEL = "Download de-identified DICOM"

# Records every state the de-identification panel goes through (state:aria-busy:focus key).
WATCH_DEID = """() => {
    window.__deidSeen = [];
    const body = document.getElementById("detail-body");
    new MutationObserver(() => {
        const panel = body.querySelector(".deid");
        if (!panel) return;
        const focused = document.activeElement?.dataset?.focusKey || "";
        window.__deidSeen.push(`${panel.dataset.state}:${panel.getAttribute("aria-busy")}:${focused}`);
    }).observe(body, { childList: true, subtree: true });
}"""


def test_a_dicom_result_offers_a_de_identified_copy_and_a_png_does_not(
    page: Page, served_app: ServedApp, sample_files: dict[str, Path], artifacts: Path
) -> None:
    # Given a completed CT (whose patient name is in the original) and a completed PNG
    original = sample_files["ct"].read_bytes()
    assert b"CompressedSamples^CT1" in original
    open_app(page, served_app)
    page.set_input_files("#file-input", [str(sample_files["ct"]), str(sample_files["png"])])
    wait_for_status(page, "CT_small.dcm", "COMPLETED")
    wait_for_status(page, "shapes.png", "COMPLETED")

    # The PNG offers no de-identified copy
    card(page, "shapes.png").locator(".card-main").click()
    expect(metadata_value(page, "File type")).to_have_text("PNG")
    expect(page.locator("#detail-body .deid")).to_have_count(0)
    expect(page.get_by_role("button", name=DEID_LABEL)).to_have_count(0)

    # When the API refuses (here: an answer with markup in its message), the page shows the
    # code and the message as text, and offers to try again with the focus kept on it
    card(page, "CT_small.dcm").locator(".card-main").click()
    expect(page.locator("#detail-body .detail-name")).to_have_text("CT_small.dcm")
    button = page.get_by_role("button", name=DEID_LABEL)
    hostile = '<img src=x onerror="window.__xss=1"> text found, cannot redact'
    page.route(
        "**/jobs/*/deidentify",
        lambda route: route.fulfill(
            status=422,
            json={"error": {"code": "REDACTION_IMPOSSIBLE", "message": hostile}},
        ),
    )
    button.focus()
    page.keyboard.press("Enter")
    failure = page.locator("#detail-body .deid-error")
    expect(failure).to_contain_text("REDACTION_IMPOSSIBLE")
    expect(failure).to_contain_text(hostile)
    assert page.evaluate("window.__xss") is None
    retry = page.get_by_role("button", name="Try again")
    expect(retry).to_be_focused()
    page.locator("#detail-body .deid").screenshot(path=str(artifacts / "web-flow-deid-failed.png"))
    page.unroute("**/jobs/*/deidentify")

    # When the user (keyboard only) tries again against the real server
    page.evaluate(WATCH_DEID)
    page.keyboard.press("Enter")

    # Then the button is busy, then replaced by the download link, which takes the focus
    link = page.get_by_role("link", name=DEID_LABEL)
    expect(link).to_be_visible(timeout=30_000)
    expect(link).to_be_focused()
    expect(page.locator("#detail-body .deid")).to_have_attribute("aria-busy", "false")
    expect(page.locator("#announcer")).to_contain_text("ready to download")
    seen = page.evaluate("window.__deidSeen")
    assert "busy:true:deid" in seen, f"no busy state with the focus kept was shown: {seen}"
    page.screenshot(path=str(artifacts / "web-flow-deidentified.png"), full_page=True)

    # And the linked file is a DICOM without the original's patient name
    href = link.get_attribute("href")
    assert href is not None
    assert re.match(r"^https?://", href)
    data = bytes(page.evaluate(FETCH_BYTES, href))
    assert data[128:132] == b"DICM", "the de-identified copy is not a DICOM Part 10 file"
    assert b"CompressedSamples^CT1" not in data
    assert b"CompressedSamples" not in data

    # And later views show the finished copy's link directly (from GET /jobs/{jobId})
    page.reload()
    wait_for_status(page, "CT_small.dcm", "COMPLETED")
    card(page, "CT_small.dcm").locator(".card-main").click()
    expect(page.get_by_role("link", name=DEID_LABEL)).to_be_visible()
    expect(page.get_by_role("button", name=DEID_LABEL)).to_have_count(0)
